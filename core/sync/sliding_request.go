package sync

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// MSC4186: the request of simplified sliding sync. The body is accepted in
// the shape matrix-rust-sdk (ruma) sends, required_state as [type,
// state_key] pairs with the "*", "$ME" and "$LAZY" wildcards, ranges as a
// list of [start, end] and the is_invite filter, and in the shape of the
// current MSC text (required_state {include, exclude, lazy_members}, range,
// is_invited). Nothing in a request is sticky: every request carries its
// whole configuration.

// Bounds on a sliding sync request.
const (
	maxSlidingLists         = 100
	maxSlidingSubscriptions = 1000
	maxSlidingTimelineLimit = 100
	maxSlidingStateEntries  = 100
	maxSlidingConnID        = 64
	maxSlidingRanges        = 100
)

// SlidingRequest is one POST .../org.matrix.simplified_msc3575/sync.
type SlidingRequest struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	// ConnID names the connection within the device ("" is a connection too).
	ConnID string
	// Pos is the pos of the previous response; "" starts the connection.
	Pos         string
	Timeout     time.Duration
	SetPresence string
	// TxnID is echoed in the response.
	TxnID         string
	Lists         map[string]*SlidingList
	Subscriptions map[string]*RoomConfig
	Extensions    SlidingExtensions
}

// RoomConfig is what to send of a room matched by a list or subscription.
type RoomConfig struct {
	TimelineLimit int
	RequiredState RequiredState
}

// SlidingList is a list: a filtered view of the user's rooms, newest
// first, of which the rooms at positions within Ranges are sent.
type SlidingList struct {
	RoomConfig
	// Ranges are inclusive [start, end] index pairs; nil means every room.
	Ranges  [][2]int
	Filters SlidingFilters
}

// SlidingFilters narrows a list. Nil pointers and slices mean "no filter".
type SlidingFilters struct {
	IsDM, IsEncrypted, IsInvite *bool
	Spaces                      []string
	// RoomTypes and NotRoomTypes hold create-event types; "" stands for a
	// room without a type (JSON null).
	RoomTypes, NotRoomTypes []string
	HasRoomTypes            bool
	Tags, NotTags           []string
}

// StateMatch matches state events by type and state key; "*" matches
// anything and a state key of "$ME" the requesting user.
type StateMatch struct{ Type, StateKey string }

// RequiredState selects the state events sent with a room.
type RequiredState struct {
	Include, Exclude []StateMatch
	// LazyMembers adds the member events of timeline senders ("$LAZY").
	LazyMembers bool
}

// ExtScope says which rooms an extension serves: the rooms of Lists (nil
// for every list) and of Rooms ("*" for every subscription; nil likewise).
type ExtScope struct {
	Enabled bool
	Lists   []string
	Rooms   []string
	// listsSet and roomsSet record whether Lists and Rooms were given.
	listsSet, roomsSet bool
}

// SlidingExtensions are the extensions a request enables.
type SlidingExtensions struct {
	ToDevice      bool
	ToDeviceSince string
	E2EE          bool
	AccountData   ExtScope
	Receipts      ExtScope
	Typing        ExtScope
}

type wireRoomConfig struct {
	TimelineLimit *int64          `json:"timeline_limit"`
	RequiredState json.RawMessage `json:"required_state"`
}

type wireList struct {
	wireRoomConfig
	Ranges  [][]int64    `json:"ranges"`
	Range   []int64      `json:"range"`
	Filters *wireFilters `json:"filters"`
}

type wireFilters struct {
	IsDM         *bool     `json:"is_dm"`
	IsEncrypted  *bool     `json:"is_encrypted"`
	IsInvite     *bool     `json:"is_invite"`
	IsInvited    *bool     `json:"is_invited"`
	Spaces       []string  `json:"spaces"`
	RoomTypes    []*string `json:"room_types"`
	NotRoomTypes []*string `json:"not_room_types"`
	Tags         []string  `json:"tags"`
	NotTags      []string  `json:"not_tags"`
}

type wireScope struct {
	Enabled *bool     `json:"enabled"`
	Lists   *[]string `json:"lists"`
	Rooms   *[]string `json:"rooms"`
}

type wireBody struct {
	ConnID            *string                   `json:"conn_id"`
	TxnID             *string                   `json:"txn_id"`
	Pos               *string                   `json:"pos"`
	Timeout           *int64                    `json:"timeout"`
	SetPresence       *string                   `json:"set_presence"`
	Lists             map[string]wireList       `json:"lists"`
	RoomSubscriptions map[string]wireRoomConfig `json:"room_subscriptions"`
	Extensions        struct {
		ToDevice *struct {
			Enabled *bool   `json:"enabled"`
			Since   *string `json:"since"`
		} `json:"to_device"`
		E2EE *struct {
			Enabled *bool `json:"enabled"`
		} `json:"e2ee"`
		AccountData *wireScope `json:"account_data"`
		Receipts    *wireScope `json:"receipts"`
		Typing      *wireScope `json:"typing"`
	} `json:"extensions"`
}

// ParseSlidingBody decodes a request body into req; pos, timeout and
// set_presence in the body (the current MSC's places) fill only what the
// query string left empty. Malformed JSON is M_NOT_JSON, a wrong shape
// M_BAD_JSON and out-of-range values M_INVALID_PARAM.
func ParseSlidingBody(body []byte, req *SlidingRequest) error {
	var w wireBody
	if err := httpx.DecodeBytes(body, &w); err != nil {
		return err
	}
	if w.ConnID != nil {
		if len(*w.ConnID) > maxSlidingConnID {
			return httpx.InvalidParam("conn_id is longer than %d bytes", maxSlidingConnID)
		}
		req.ConnID = *w.ConnID
	}
	if w.TxnID != nil {
		req.TxnID = *w.TxnID
	}
	if w.Pos != nil && req.Pos == "" {
		req.Pos = *w.Pos
	}
	if w.Timeout != nil && req.Timeout == 0 {
		req.Timeout = time.Duration(max(*w.Timeout, 0)) * time.Millisecond
	}
	if w.SetPresence != nil && req.SetPresence == "" {
		req.SetPresence = *w.SetPresence
	}
	if len(w.Lists) > maxSlidingLists {
		return httpx.InvalidParam("At most %d lists are allowed", maxSlidingLists)
	}
	if len(w.RoomSubscriptions) > maxSlidingSubscriptions {
		return httpx.InvalidParam("At most %d room subscriptions are allowed", maxSlidingSubscriptions)
	}
	req.Lists = make(map[string]*SlidingList, len(w.Lists))
	for name, wl := range w.Lists {
		l, err := parseList(name, &wl)
		if err != nil {
			return err
		}
		req.Lists[name] = l
	}
	req.Subscriptions = make(map[string]*RoomConfig, len(w.RoomSubscriptions))
	for room, wc := range w.RoomSubscriptions {
		if !strings.HasPrefix(room, "!") {
			return httpx.InvalidParam("room_subscriptions: %q is not a room ID", truncate(room))
		}
		cfg, err := parseRoomConfig("room_subscriptions."+room, &wc)
		if err != nil {
			return err
		}
		req.Subscriptions[room] = cfg
	}
	ext := &w.Extensions
	if ext.ToDevice != nil && ext.ToDevice.Enabled != nil && *ext.ToDevice.Enabled {
		req.Extensions.ToDevice = true
		if ext.ToDevice.Since != nil {
			req.Extensions.ToDeviceSince = *ext.ToDevice.Since
		}
	}
	req.Extensions.E2EE = ext.E2EE != nil && ext.E2EE.Enabled != nil && *ext.E2EE.Enabled
	req.Extensions.AccountData = parseScope(ext.AccountData)
	req.Extensions.Receipts = parseScope(ext.Receipts)
	req.Extensions.Typing = parseScope(ext.Typing)
	return nil
}

func parseScope(w *wireScope) ExtScope {
	var s ExtScope
	if w == nil || w.Enabled == nil || !*w.Enabled {
		return s
	}
	s.Enabled = true
	if w.Lists != nil {
		s.Lists, s.listsSet = *w.Lists, true
	}
	if w.Rooms != nil {
		s.Rooms, s.roomsSet = *w.Rooms, true
	}
	return s
}

func parseList(name string, wl *wireList) (*SlidingList, error) {
	cfg, err := parseRoomConfig("lists."+name, &wl.wireRoomConfig)
	if err != nil {
		return nil, err
	}
	l := &SlidingList{RoomConfig: *cfg}
	raw := wl.Ranges
	if wl.Range != nil {
		raw = append(raw, wl.Range)
	}
	if wl.Ranges != nil || wl.Range != nil {
		l.Ranges = [][2]int{}
	}
	if len(raw) > maxSlidingRanges {
		return nil, httpx.InvalidParam("lists.%s: at most %d ranges are allowed", truncate(name), maxSlidingRanges)
	}
	for _, r := range raw {
		if len(r) != 2 || r[0] < 0 || r[1] < r[0] {
			return nil, httpx.InvalidParam("lists.%s: a range must be [start, end] with 0 <= start <= end", truncate(name))
		}
		l.Ranges = append(l.Ranges, [2]int{int(min(r[0], 1<<31)), int(min(r[1], 1<<31))})
	}
	if f := wl.Filters; f != nil {
		l.Filters = SlidingFilters{IsDM: f.IsDM, IsEncrypted: f.IsEncrypted, IsInvite: f.IsInvite,
			Spaces: f.Spaces, Tags: f.Tags, NotTags: f.NotTags}
		if f.IsInvited != nil {
			l.Filters.IsInvite = f.IsInvited
		}
		if f.RoomTypes != nil {
			l.Filters.HasRoomTypes = true
			l.Filters.RoomTypes = roomTypes(f.RoomTypes)
		}
		l.Filters.NotRoomTypes = roomTypes(f.NotRoomTypes)
	}
	return l, nil
}

func roomTypes(list []*string) []string {
	out := make([]string, 0, len(list))
	for _, t := range list {
		if t == nil {
			out = append(out, "")
		} else {
			out = append(out, *t)
		}
	}
	return out
}

func parseRoomConfig(where string, w *wireRoomConfig) (*RoomConfig, error) {
	cfg := &RoomConfig{}
	if w.TimelineLimit != nil {
		if *w.TimelineLimit < 0 {
			return nil, httpx.InvalidParam("%s.timeline_limit must not be negative", truncate(where))
		}
		cfg.TimelineLimit = int(min(*w.TimelineLimit, maxSlidingTimelineLimit))
	}
	rs, err := parseRequiredState(w.RequiredState)
	if err != nil {
		return nil, httpx.BadJSON("%s.required_state: %s", truncate(where), err.Error())
	}
	cfg.RequiredState = rs
	return cfg, nil
}

type requiredStateError string

func (e requiredStateError) Error() string { return string(e) }

// parseRequiredState accepts [[type, state_key], ...] and {include,
// exclude, lazy_members}.
func parseRequiredState(raw json.RawMessage) (RequiredState, error) {
	var rs RequiredState
	raw = json.RawMessage(strings.TrimSpace(string(raw)))
	if len(raw) == 0 || string(raw) == "null" {
		return rs, nil
	}
	if raw[0] == '[' {
		var pairs [][]string
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return rs, requiredStateError("must be a list of [type, state_key] pairs")
		}
		if len(pairs) > maxSlidingStateEntries {
			return rs, requiredStateError("too many entries")
		}
		for _, p := range pairs {
			if len(p) != 2 {
				return rs, requiredStateError("must be a list of [type, state_key] pairs")
			}
			if p[1] == "$LAZY" {
				rs.LazyMembers = true
				continue
			}
			rs.Include = append(rs.Include, StateMatch{Type: p[0], StateKey: p[1]})
		}
		return rs, nil
	}
	var obj struct {
		Include []struct {
			Type     *string `json:"type"`
			StateKey *string `json:"state_key"`
		} `json:"include"`
		Exclude []struct {
			Type     *string `json:"type"`
			StateKey *string `json:"state_key"`
		} `json:"exclude"`
		LazyMembers bool `json:"lazy_members"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return rs, requiredStateError("must be a list of pairs or an object with include, exclude and lazy_members")
	}
	if len(obj.Include)+len(obj.Exclude) > maxSlidingStateEntries {
		return rs, requiredStateError("too many entries")
	}
	orStar := func(s *string) string {
		if s == nil {
			return "*"
		}
		return *s
	}
	for _, e := range obj.Include {
		rs.Include = append(rs.Include, StateMatch{Type: orStar(e.Type), StateKey: orStar(e.StateKey)})
	}
	for _, e := range obj.Exclude {
		rs.Exclude = append(rs.Exclude, StateMatch{Type: orStar(e.Type), StateKey: orStar(e.StateKey)})
	}
	rs.LazyMembers = obj.LazyMembers
	return rs, nil
}

func (m StateMatch) matches(typ, key, user string) bool {
	if m.Type != "*" && m.Type != typ {
		return false
	}
	switch m.StateKey {
	case "*":
		return true
	case "$ME":
		return key == user
	}
	return m.StateKey == key
}

// matches reports whether rs asks for the state event (typ, key) for user,
// lazy members aside.
func (rs *RequiredState) matches(typ, key, user string) bool {
	in := false
	for _, m := range rs.Include {
		if m.matches(typ, key, user) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, m := range rs.Exclude {
		if m.matches(typ, key, user) {
			return false
		}
	}
	return true
}

// allMembers reports whether rs may ask for any member event, so that
// loading only some members would not do.
func (rs *RequiredState) allMembers() bool {
	for _, m := range rs.Include {
		if (m.Type == "*" || m.Type == "m.room.member") && m.StateKey == "*" {
			return true
		}
	}
	return false
}

// memberKeys adds the member state keys rs names explicitly to set.
func (rs *RequiredState) memberKeys(user string, set map[string]bool) {
	for _, m := range rs.Include {
		if m.Type != "*" && m.Type != "m.room.member" {
			continue
		}
		switch m.StateKey {
		case "*":
		case "$ME":
			set[user] = true
		default:
			set[m.StateKey] = true
		}
	}
}

func (rs *RequiredState) signature() string {
	var b strings.Builder
	enc := func(list []StateMatch) {
		keys := make([]string, len(list))
		for i, m := range list {
			keys[i] = m.Type + "\x00" + m.StateKey
		}
		sort.Strings(keys)
		keys = slices.Compact(keys)
		b.WriteString(strings.Join(keys, "\x01"))
	}
	enc(rs.Include)
	b.WriteByte('\x02')
	enc(rs.Exclude)
	if rs.LazyMembers {
		b.WriteString("\x02lazy")
	}
	return b.String()
}

// roomCfg is the combination of the configs of every rule matching a
// room: the largest timeline limit and the union of the required state.
type roomCfg struct {
	limit  int
	states []*RequiredState
	lists  []string
}

func (c *roomCfg) add(rc *RoomConfig) {
	c.limit = max(c.limit, rc.TimelineLimit)
	for _, s := range c.states {
		if s.signature() == rc.RequiredState.signature() {
			return
		}
	}
	c.states = append(c.states, &rc.RequiredState)
}

func (c *roomCfg) matches(typ, key, user string) bool {
	for _, s := range c.states {
		if s.matches(typ, key, user) {
			return true
		}
	}
	return false
}

func (c *roomCfg) lazy() bool {
	for _, s := range c.states {
		if s.LazyMembers {
			return true
		}
	}
	return false
}

func (c *roomCfg) allMembers() bool {
	for _, s := range c.states {
		if s.allMembers() {
			return true
		}
	}
	return false
}

// signatures returns the signature of each required_state config.
func (c *roomCfg) signatures() []string {
	sigs := make([]string, len(c.states))
	for i, s := range c.states {
		sigs[i] = s.signature()
	}
	sort.Strings(sigs)
	return sigs
}

// expands reports whether c asks for state that a room sent with the
// configs of sigs may lack: a config it was not sent with. Narrowing the
// config needs nothing new.
func (c *roomCfg) expands(sigs []string) bool {
	for _, s := range c.states {
		if !slices.Contains(sigs, s.signature()) {
			return true
		}
	}
	return false
}

package sync

import (
	"context"
	"encoding/json"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accountdata"
)

// The MSC4186 extensions: to_device (MSC3885), e2ee (MSC3884),
// account_data (MSC3959), receipts (MSC3960) and typing (MSC3961).

// slidingExt holds the extension sections of a response; nil sections
// were not enabled.
type slidingExt struct {
	toDevice     []json.RawMessage
	toDeviceNext string
	e2ee         *e2eeSection
	accountData  *accountDataSection
	receipts     map[string]json.RawMessage // room -> m.receipt content
	typing       map[string][]id.UserID
	news         bool
}

type e2eeSection struct {
	changed, left []id.UserID
	otk           map[string]int
	fallback      []string
}

type accountDataSection struct {
	global []json.RawMessage
	rooms  map[string][]json.RawMessage
}

// extensions computes the enabled extensions. since is the start of the
// window: 0 for a new connection.
func (sl *Sliding) extensions(ctx context.Context, req *SlidingRequest, res *slidingResult, scope *extScope,
	byRoom map[string]*candidate, since, upto int64) error {
	x := &res.ext
	ex := &req.Extensions
	if ex.ToDevice {
		if err := sl.toDevice(ctx, req, x, upto); err != nil {
			return err
		}
	}
	if ex.E2EE {
		if err := sl.e2eeKeys(ctx, req, x, since, upto); err != nil {
			return err
		}
	}
	initial := map[string]*slidingRoom{}
	for _, r := range res.rooms {
		if r.initial && r.cand.m.value != "invite" {
			initial[r.id] = r
		}
	}
	if ex.AccountData.Enabled {
		rooms := scope.rooms(ex.AccountData, byRoom, false)
		if err := sl.accountData(ctx, req.UserID, x, rooms, initial, since); err != nil {
			return err
		}
	}
	if ex.Receipts.Enabled {
		rooms := scope.rooms(ex.Receipts, byRoom, true)
		if err := sl.receipts(ctx, req.UserID, x, rooms, initial, since); err != nil {
			return err
		}
	}
	if ex.Typing.Enabled {
		rooms := scope.rooms(ex.Typing, byRoom, true)
		x.typing = map[string][]id.UserID{}
		if src := sl.s.src.Typing; src != nil {
			fresh, old := splitInitial(rooms, initial, since)
			for _, part := range []struct {
				rooms []id.RoomID
				since int64
			}{{fresh, 0}, {old, since}} {
				for room, users := range src.Since(part.rooms, part.since) {
					x.typing[room.String()] = users
				}
			}
		}
		x.news = x.news || len(x.typing) > 0
	}
	return nil
}

// rooms returns the rooms an extension serves: those of the lists it
// names (every list by default) and of the subscriptions it names ("*" or
// by default, every subscription). joinedOnly keeps joined rooms.
func (sc *extScope) rooms(ext ExtScope, byRoom map[string]*candidate, joinedOnly bool) []id.RoomID {
	set := map[string]bool{}
	if ext.listsSet {
		for _, name := range ext.Lists {
			for _, r := range sc.listRooms[name] {
				set[r] = true
			}
		}
	} else {
		for _, rooms := range sc.listRooms {
			for _, r := range rooms {
				set[r] = true
			}
		}
	}
	addSubs := !ext.roomsSet
	for _, r := range ext.Rooms {
		if r == "*" {
			addSubs = true
		} else if byRoom[r] != nil {
			set[r] = true
		}
	}
	if addSubs {
		for _, r := range sc.subscribed {
			set[r] = true
		}
	}
	out := make([]id.RoomID, 0, len(set))
	for r := range set {
		if cd := byRoom[r]; cd != nil && (!joinedOnly || cd.m.value == "join") {
			out = append(out, id.RoomID(r))
		}
	}
	return out
}

// splitInitial separates rooms sent whole in this response (which get the
// extension's full data) from the others (which get what changed after
// since). On a new connection everything is whole.
func splitInitial(rooms []id.RoomID, initial map[string]*slidingRoom, since int64) (fresh, old []id.RoomID) {
	for _, r := range rooms {
		if since == 0 || initial[r.String()] != nil {
			fresh = append(fresh, r)
		} else {
			old = append(old, r)
		}
	}
	return fresh, old
}

// toDevice delivers the device's queued messages; the extension's since
// token (the previous next_batch) acknowledges what was delivered.
func (sl *Sliding) toDevice(ctx context.Context, req *SlidingRequest, x *slidingExt, upto int64) error {
	x.toDeviceNext = FormatToken(upto)
	x.toDevice = []json.RawMessage{}
	if sl.e2ee == nil || req.DeviceID == "" {
		return nil
	}
	var since int64
	if req.Extensions.ToDeviceSince != "" {
		pos, err := ParseToken(req.Extensions.ToDeviceSince)
		if err != nil {
			return err
		}
		since = min(pos, upto)
	}
	evs, err := sl.e2ee.ToDevice(ctx, req.UserID, req.DeviceID, since, upto)
	if err != nil {
		return err
	}
	if len(evs) > 0 {
		x.toDevice = evs
		x.news = true
	}
	return nil
}

// e2eeKeys fills device list changes in (since, upto] and key counts.
func (sl *Sliding) e2eeKeys(ctx context.Context, req *SlidingRequest, x *slidingExt, since, upto int64) error {
	x.e2ee = &e2eeSection{otk: map[string]int{}}
	if sl.e2ee == nil {
		return nil
	}
	changed, left, err := sl.e2ee.DeviceLists(ctx, req.UserID, since, upto)
	if err != nil {
		return err
	}
	x.e2ee.changed, x.e2ee.left = changed, left
	x.news = x.news || len(changed) > 0 || len(left) > 0
	if req.DeviceID == "" {
		return nil
	}
	otk, fallback, err := sl.e2ee.KeyCounts(ctx, req.UserID, req.DeviceID)
	if err != nil {
		return err
	}
	if otk != nil {
		x.e2ee.otk = otk
	}
	x.e2ee.fallback = fallback
	return nil
}

// accountData fills global account data (with m.push_rules) changed after
// since and room account data: all of it for rooms sent whole, changes
// for the other rooms in scope.
func (sl *Sliding) accountData(ctx context.Context, user id.UserID, x *slidingExt, rooms []id.RoomID,
	initial map[string]*slidingRoom, since int64) error {
	sec := &accountDataSection{global: []json.RawMessage{}, rooms: map[string][]json.RawMessage{}}
	x.accountData = sec
	src := sl.s.src.AccountData
	if src == nil {
		return nil
	}
	global, changed, err := src.Since(ctx, user, since)
	if err != nil {
		return err
	}
	for _, it := range global {
		sec.global = append(sec.global, accountEvent(it))
	}
	if p := sl.s.src.Push; p != nil {
		rules, err := p.AccountDataSince(ctx, user, since)
		if err != nil {
			return err
		}
		if rules != nil {
			sec.global = append(sec.global, accountEvent(accountdata.Item{Type: "m.push_rules", Content: rules}))
		}
	}
	fresh, old := splitInitial(rooms, initial, since)
	all := changed
	if len(fresh) > 0 && since > 0 {
		if _, all, err = src.Since(ctx, user, 0); err != nil {
			return err
		}
	}
	for _, part := range []struct {
		rooms []id.RoomID
		items map[id.RoomID][]accountdata.Item
	}{{fresh, all}, {old, changed}} {
		for _, r := range part.rooms {
			for _, it := range part.items[r] {
				sec.rooms[r.String()] = append(sec.rooms[r.String()], accountEvent(it))
			}
		}
	}
	x.news = x.news || len(sec.global) > 0 || len(sec.rooms) > 0
	return nil
}

// receipts fills m.receipt events: for rooms sent whole, the receipts on
// their timeline's events and the user's own; for others, what changed
// after since.
func (sl *Sliding) receipts(ctx context.Context, user id.UserID, x *slidingExt, rooms []id.RoomID,
	initial map[string]*slidingRoom, since int64) error {
	x.receipts = map[string]json.RawMessage{}
	src := sl.s.src.Receipts
	if src == nil {
		return nil
	}
	fresh, old := splitInitial(rooms, initial, since)
	if len(old) > 0 {
		got, err := src.Since(ctx, old, since, user)
		if err != nil {
			return err
		}
		for room, content := range got {
			x.receipts[room.String()] = content
		}
	}
	if len(fresh) > 0 {
		got, err := src.Since(ctx, fresh, 0, user)
		if err != nil {
			return err
		}
		for room, content := range got {
			if kept := keepReceipts(content, initial[room.String()], user.String()); kept != nil {
				x.receipts[room.String()] = kept
			}
		}
	}
	x.news = x.news || len(x.receipts) > 0
	return nil
}

// keepReceipts trims an m.receipt content to the receipts on r's timeline
// events and the user's own (nil when nothing is left). r is nil for a
// room not sent in this response: only the user's own receipts are kept.
func keepReceipts(content json.RawMessage, r *slidingRoom, user string) json.RawMessage {
	var all map[string]map[string]map[string]json.RawMessage
	if json.Unmarshal(content, &all) != nil {
		return nil
	}
	inTimeline := map[string]bool{}
	if r != nil {
		for _, ev := range r.timeline {
			inTimeline[ev.id] = true
		}
	}
	for eventID, types := range all {
		if inTimeline[eventID] {
			continue
		}
		for typ, users := range types {
			for u := range users {
				if u != user {
					delete(users, u)
				}
			}
			if len(users) == 0 {
				delete(types, typ)
			}
		}
		if len(types) == 0 {
			delete(all, eventID)
		}
	}
	if len(all) == 0 {
		return nil
	}
	out, err := json.Marshal(all)
	if err != nil {
		return nil
	}
	return out
}

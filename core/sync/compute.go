package sync

import (
	"context"
	"encoding/json"
	"sort"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/push"
)

// Sections of the rooms object.
const (
	sectionJoin = iota
	sectionInvite
	sectionLeave
)

// roomResult is everything one room contributes to a response.
type roomResult struct {
	id      string
	section int
	member  membership
	// full rooms get their whole state at the start of the timeline
	// (initial sync, newly joined, full_state, left rooms).
	full        bool
	lo, hi      int64
	timeline    []*evRow
	limited     bool
	prevBatch   int64
	state       []*evRow
	ephemeral   []json.RawMessage
	accountData []json.RawMessage
	counts      push.Counts
	summary     *summary
	inviteState []json.RawMessage
	// vis is the user's visibility of the room, when the timeline needed it.
	vis *visibility
}

func (r *roomResult) empty() bool {
	return len(r.timeline) == 0 && len(r.state) == 0 && len(r.ephemeral) == 0 && len(r.accountData) == 0
}

// result is a computed /sync response before encoding.
type result struct {
	next        int64
	rooms       []*roomResult
	accountData []json.RawMessage
	presence    []json.RawMessage
	ext         map[string]json.RawMessage
	extNews     bool
	joined      []id.RoomID
	dec         *decorator
}

func (res *result) hasNews() bool {
	return len(res.rooms) > 0 || len(res.accountData) > 0 || len(res.presence) > 0 || res.extNews
}

// compute builds the response covering (since, upto].
func (s *Service) compute(ctx context.Context, req *Request, since, upto int64) (*result, error) {
	user := req.UserID.String()
	f := req.Filter
	res := &result{next: upto}
	ms, err := s.membershipsAt(ctx, user, upto)
	if err != nil {
		return nil, err
	}
	c := &computation{s: s, req: req, f: f, user: user, since: since, upto: upto, res: res}
	if err := c.classify(ctx, ms); err != nil {
		return nil, err
	}
	if err := c.timelines(ctx); err != nil {
		return nil, err
	}
	if err := c.roomState(ctx); err != nil {
		return nil, err
	}
	if err := c.ephemeralAndAccountData(ctx); err != nil {
		return nil, err
	}
	if err := c.invites(ctx); err != nil {
		return nil, err
	}
	c.keepNonEmpty()
	if err := c.unreadCounts(ctx); err != nil {
		return nil, err
	}
	if err := c.global(ctx); err != nil {
		return nil, err
	}
	if err := c.extensions(ctx); err != nil {
		return nil, err
	}
	return res, c.decorate(ctx)
}

// computation carries one compute call's intermediate state.
type computation struct {
	s            *Service
	req          *Request
	f            *Filter
	user         string
	since, upto  int64
	res          *result
	newlyJoined  []id.RoomID
	newlyLeft    []id.RoomID
	roomAccount  map[id.RoomID][]json.RawMessage
	globalValues []json.RawMessage
}

func (c *computation) timelineLimit() int {
	return c.f.Room.Timeline.TimelineLimit(DefaultTimelineLimit)
}

// classify sorts the user's rooms into sections and sets each room's
// timeline window.
func (c *computation) classify(ctx context.Context, ms []membership) error {
	var changed []string
	for _, m := range ms {
		if c.since > 0 && m.pos > c.since {
			changed = append(changed, m.room)
		}
	}
	var atSince map[string]membership
	if len(changed) > 0 {
		var err error
		if atSince, err = c.s.membershipsBefore(ctx, c.user, changed, c.since+1); err != nil {
			return err
		}
	}
	var active map[string]bool
	var forgotten map[string]bool
	for _, m := range ms {
		if !c.f.Room.AllowsRoom(m.room) {
			continue
		}
		wasJoined := c.since > 0 && (m.pos <= c.since && m.value == "join" || atSince[m.room].value == "join")
		switch m.value {
		case "join":
			c.res.joined = append(c.res.joined, id.RoomID(m.room))
			r := &roomResult{id: m.room, section: sectionJoin, member: m, hi: c.upto}
			switch {
			case c.since == 0 || !wasJoined:
				r.full = true
				if c.since > 0 {
					c.newlyJoined = append(c.newlyJoined, id.RoomID(m.room))
				}
			case c.req.FullState:
				r.full, r.lo = true, c.since
			default:
				if active == nil {
					var err error
					if active, err = c.s.activeRooms(ctx, c.since, c.upto); err != nil {
						return err
					}
				}
				r.lo = c.since
				if active != nil && !active[m.room] {
					r.lo = c.upto // nothing new: empty window
				}
			}
			c.res.rooms = append(c.res.rooms, r)
		case "invite":
			if c.since == 0 || m.pos > c.since {
				c.res.rooms = append(c.res.rooms, &roomResult{id: m.room, section: sectionInvite, member: m})
			}
		case "leave", "ban":
			if wasJoined {
				c.newlyLeft = append(c.newlyLeft, id.RoomID(m.room))
			}
			if c.since == 0 && !c.f.Room.IncludeLeave || c.since > 0 && m.pos <= c.since {
				continue
			}
			if forgotten == nil {
				var err error
				if forgotten, err = c.s.forgotten(ctx, c.user); err != nil {
					return err
				}
			}
			if forgotten[m.room] {
				continue
			}
			c.res.rooms = append(c.res.rooms, &roomResult{id: m.room, section: sectionLeave, member: m,
				full: true, lo: c.since, hi: m.pos})
		}
	}
	sort.Slice(c.res.rooms, func(i, j int) bool { return c.res.rooms[i].id < c.res.rooms[j].id })
	return nil
}

// timelines fetches every room's timeline window in batched queries and
// applies the timeline filter and history visibility.
func (c *computation) timelines(ctx context.Context) error {
	limit := c.timelineLimit()
	tf := &c.f.Room.Timeline
	var ws []window
	for _, r := range c.res.rooms {
		if r.section == sectionInvite || r.lo >= r.hi || !tf.AllowsRoom(r.id) {
			r.prevBatch = r.hi
			continue
		}
		ws = append(ws, window{room: r.id, lo: r.lo, hi: r.hi, limit: limit + 1})
	}
	if len(ws) == 0 {
		return nil
	}
	got, err := c.s.latestInWindows(ctx, ws, tf)
	if err != nil {
		return err
	}
	var needVis []string
	for _, r := range c.res.rooms {
		evs := got[r.id]
		if len(evs) > limit {
			r.limited = true
			evs = evs[:limit]
		}
		// evs is newest first; the timeline is oldest first.
		for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
			evs[i], evs[j] = evs[j], evs[i]
		}
		r.prevBatch = r.hi
		if len(evs) > 0 {
			r.prevBatch = evs[0].pos - 1
		}
		kept := evs[:0]
		for _, ev := range evs {
			if tf.matches(ev) {
				kept = append(kept, ev)
			}
		}
		r.timeline = kept
		// Events the user was joined for are always visible; only older
		// ones (or a room they left) need the history visibility rules.
		if len(kept) > 0 && (r.section == sectionLeave || kept[0].pos < r.member.pos) {
			needVis = append(needVis, r.id)
		}
	}
	if len(needVis) == 0 {
		return nil
	}
	vis, err := c.s.loadVisibility(ctx, c.user, needVis)
	if err != nil {
		return err
	}
	for _, r := range c.res.rooms {
		if v := vis[r.id]; v != nil {
			r.timeline = v.filterVisible(r.timeline)
			r.vis = v
		}
	}
	return nil
}

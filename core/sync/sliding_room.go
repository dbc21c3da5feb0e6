package sync

import (
	"context"
	"encoding/json"

	"github.com/tidwall/gjson"
)

// loadRooms fills what the response carries of each room to send, with a
// constant number of batched queries: invite state, timelines (with
// history visibility), summaries, state and state deltas, and the unsigned
// data and bundled aggregations of every event.
func (sl *Sliding) loadRooms(ctx context.Context, req *SlidingRequest, base *connState, send []*slidingRoom) (*decorator, error) {
	user := req.UserID.String()
	if err := sl.inviteStates(ctx, user, send); err != nil {
		return nil, err
	}
	var rooms []*slidingRoom
	for _, r := range send {
		if r.cand.m.value != "invite" {
			rooms = append(rooms, r)
		}
	}
	if len(rooms) == 0 {
		return &decorator{now: sl.s.now().UnixMilli()}, nil
	}
	if err := sl.timelines(ctx, user, rooms); err != nil {
		return nil, err
	}
	if req.Pos != "" {
		for _, r := range rooms {
			for _, ev := range r.timeline {
				if ev.pos > base.upto {
					r.numLive++
				}
			}
		}
	}
	if err := sl.roomStates(ctx, user, rooms); err != nil {
		return nil, err
	}
	return sl.decorate(ctx, req, rooms)
}

// decorate loads the unsigned data of every event to send and the bundled
// aggregations of timelines that may hold unseen relations (sent whole,
// expanded or limited), as /sync does.
func (sl *Sliding) decorate(ctx context.Context, req *SlidingRequest, rooms []*slidingRoom) (*decorator, error) {
	var all, states, bundled []*evRow
	scopes := map[string]relScope{}
	for _, r := range rooms {
		all = append(all, r.timeline...)
		all = append(all, r.state...)
		for _, ev := range r.timeline {
			if ev.isState() {
				states = append(states, ev)
			}
		}
		if len(r.timeline) > 0 && (r.initial || r.expanded || r.limited) {
			bundled = append(bundled, r.timeline...)
			scopes[r.id] = relScope{upto: r.hi, vis: r.vis, joined: r.cand.m.pos}
		}
	}
	user := req.UserID.String()
	d, err := sl.s.decorate(ctx, user, req.DeviceID.String(), all, states)
	if err != nil {
		return nil, err
	}
	if err := sl.s.bundleRelations(ctx, d, user, bundled, scopes); err != nil {
		return nil, err
	}
	return d, nil
}

// inviteStates fills invite_state with the /sync code for invites.
func (sl *Sliding) inviteStates(ctx context.Context, user string, send []*slidingRoom) error {
	c := &computation{s: sl.s, user: user, res: &result{}}
	byRoom := map[string]*roomResult{}
	for _, r := range send {
		if r.cand.m.value == "invite" {
			rr := &roomResult{id: r.id, section: sectionInvite, member: r.cand.m}
			c.res.rooms = append(c.res.rooms, rr)
			byRoom[r.id] = rr
		}
	}
	if len(c.res.rooms) == 0 {
		return nil
	}
	if err := c.invites(ctx); err != nil {
		return err
	}
	for _, r := range send {
		if rr := byRoom[r.id]; rr != nil {
			r.inviteState = rr.inviteState
		}
	}
	return nil
}

// timelines fetches each room's window (lo, hi], newest timeline_limit
// events, and applies history visibility where the user's membership does
// not settle it. Rooms the user is not joined to always get their
// visibility loaded: it also says whether they ever joined.
func (sl *Sliding) timelines(ctx context.Context, user string, rooms []*slidingRoom) error {
	var ws []window
	for _, r := range rooms {
		if r.lo < r.hi {
			ws = append(ws, window{room: r.id, lo: r.lo, hi: r.hi, limit: r.cfg.limit + 1})
		}
	}
	got, err := sl.s.latestInWindows(ctx, ws, nil)
	if err != nil {
		return err
	}
	var needVis []string
	for _, r := range rooms {
		evs := got[r.id]
		if len(evs) > r.cfg.limit {
			r.limited = true
			evs = evs[:r.cfg.limit]
		}
		for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
			evs[i], evs[j] = evs[j], evs[i]
		}
		r.timeline = evs
		if r.cand.m.value != "join" || len(evs) > 0 && evs[0].pos < r.cand.m.pos {
			needVis = append(needVis, r.id)
		}
	}
	if len(needVis) == 0 {
		return nil
	}
	vis, err := sl.s.loadVisibility(ctx, user, needVis)
	if err != nil {
		return err
	}
	for _, r := range rooms {
		if v := vis[r.id]; v != nil {
			r.timeline = v.filterVisible(r.timeline)
			r.vis = v
		}
	}
	return nil
}

// stranger reports whether the user never joined r (an invite rejected
// or withdrawn): they may only see their own membership.
func (r *slidingRoom) stranger() bool {
	return r.cand.m.value != "join" && (r.vis == nil || !r.vis.everJoined)
}

// roomStates fills summaries, names, avatars, heroes and required_state.
func (sl *Sliding) roomStates(ctx context.Context, user string, rooms []*slidingRoom) error {
	s := sl.s
	// Summaries read the current membership, which is none of the
	// business of a user who left.
	var sumRooms []string
	for _, r := range rooms {
		if r.cand.m.value == "join" {
			sumRooms = append(sumRooms, r.id)
		}
	}
	sums, err := s.summaries(ctx, user, sumRooms)
	if err != nil {
		return err
	}
	// The state at hi of every room: all non-member state, and the member
	// events someone may need (all of them when required_state asks so).
	reqs := make([]stateReq, 0, len(rooms))
	lazy := map[string]map[string]bool{}
	for _, r := range rooms {
		r.sum = sums[r.id]
		req := stateReq{room: r.id, before: r.hi + 1}
		if r.stranger() || !r.cfg.allMembers() {
			req.members = map[string]bool{user: true}
			if !r.stranger() {
				for _, st := range r.cfg.states {
					st.memberKeys(user, req.members)
				}
				if r.sum != nil {
					for _, h := range r.sum.heroes {
						req.members[h] = true
					}
				}
			}
		}
		if r.cfg.lazy() {
			lz := lazyMembers(r.timeline)
			lazy[r.id] = lz
			if req.members != nil && !r.stranger() {
				for u := range lz {
					req.members[u] = true
				}
			}
		}
		reqs = append(reqs, req)
	}
	current, err := s.stateBefore(ctx, reqs, false)
	if err != nil {
		return err
	}
	deltas, err := sl.deltas(ctx, rooms)
	if err != nil {
		return err
	}
	for _, r := range rooms {
		cur := current[r.id]
		if r.stranger() {
			r.state = ownMember(cur, user)
			continue
		}
		r.names(cur)
		r.heroesFrom(cur)
		r.requiredState(user, cur, deltas[r.id], lazy[r.id])
	}
	return nil
}

// deltas returns the state changes in each incremental room's window
// (lo, hi], grouped by lo so each group is one stateDeltas call.
func (sl *Sliding) deltas(ctx context.Context, rooms []*slidingRoom) (map[string][]*evRow, error) {
	byLo := map[int64]map[string]int64{}
	for _, r := range rooms {
		if r.initial || r.stranger() || r.lo >= r.hi {
			continue
		}
		if byLo[r.lo] == nil {
			byLo[r.lo] = map[string]int64{}
		}
		byLo[r.lo][r.id] = r.hi + 1
	}
	out := map[string][]*evRow{}
	for lo, before := range byLo {
		got, err := sl.s.stateDeltas(ctx, lo, before)
		if err != nil {
			return nil, err
		}
		for room, evs := range got {
			out[room] = evs
		}
	}
	return out, nil
}

// lazyMembers are the users whose member events a lazy-loading client
// needs for a timeline: the senders and the targets of member events.
func lazyMembers(timeline []*evRow) map[string]bool {
	out := senders(timeline)
	for _, ev := range timeline {
		if ev.typ == "m.room.member" && ev.stateKey != nil {
			out[*ev.stateKey] = true
		}
	}
	return out
}

func ownMember(state []*evRow, user string) []*evRow {
	for _, ev := range state {
		if ev.typ == "m.room.member" && *ev.stateKey == user {
			return []*evRow{ev}
		}
	}
	return nil
}

// names sets name and avatar from the room's state.
func (r *slidingRoom) names(state []*evRow) {
	for _, ev := range state {
		if *ev.stateKey != "" {
			continue
		}
		var v gjson.Result
		switch ev.typ {
		case "m.room.name":
			v = gjson.GetBytes(ev.client, "content.name")
		case "m.room.avatar":
			v = gjson.GetBytes(ev.client, "content.url")
		default:
			continue
		}
		val := ""
		if v.Type == gjson.String {
			val = v.Str
		}
		if val == "" && r.initial {
			continue // initial: absent means unset
		}
		if ev.typ == "m.room.name" {
			r.name = &val
		} else {
			r.avatar = &val
		}
	}
}

// heroesFrom renders the heroes of a room without a name, with the
// display names and avatars of their member events.
func (r *slidingRoom) heroesFrom(state []*evRow) {
	if r.name != nil && *r.name != "" || r.sum == nil || len(r.sum.heroes) == 0 {
		return
	}
	members := map[string]*evRow{}
	for _, ev := range state {
		if ev.typ == "m.room.member" {
			members[*ev.stateKey] = ev
		}
	}
	for _, h := range r.sum.heroes {
		hero := map[string]string{"user_id": h}
		if ev := members[h]; ev != nil {
			if v := gjson.GetBytes(ev.client, "content.displayname"); v.Type == gjson.String && v.Str != "" {
				hero["displayname"] = v.Str
			}
			if v := gjson.GetBytes(ev.client, "content.avatar_url"); v.Type == gjson.String && v.Str != "" {
				hero["avatar_url"] = v.Str
			}
		}
		raw, _ := json.Marshal(hero)
		r.heroes = append(r.heroes, raw)
	}
}

// requiredState picks the state events to send. A room sent whole (or
// whose required_state changed) gets the current state matching its
// config; otherwise the matching changes in its window. Lazy loading adds
// the current member events of the timeline's senders and targets and,
// when the timeline has no gap, every membership change in the window.
func (r *slidingRoom) requiredState(user string, current, delta []*evRow, lazy map[string]bool) {
	seen := map[stateKey]bool{}
	add := func(ev *evRow) {
		k := stateKey{ev.typ, *ev.stateKey}
		if !seen[k] {
			seen[k] = true
			r.state = append(r.state, ev)
		}
	}
	if r.fullState {
		for _, ev := range current {
			if r.cfg.matches(ev.typ, *ev.stateKey, user) {
				add(ev)
			}
		}
	} else {
		for _, ev := range delta {
			member := ev.typ == "m.room.member"
			if r.cfg.matches(ev.typ, *ev.stateKey, user) || lazy != nil && member && (!r.limited || lazy[*ev.stateKey]) {
				add(ev)
			}
		}
	}
	if lazy != nil {
		for _, ev := range current {
			if ev.typ == "m.room.member" && lazy[*ev.stateKey] {
				add(ev)
			}
		}
	}
}

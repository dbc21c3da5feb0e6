package sync

import (
	"context"
)

// roomState fills summaries and state sections. Full rooms get the state
// at the start of their timeline; incremental rooms whose timeline was
// limited get the state changes in the gap. With lazy loading, member
// events are limited to timeline senders, the user and the heroes (full
// rooms), or to timeline senders (incremental rooms).
func (c *computation) roomState(ctx context.Context) error {
	sf := &c.f.Room.State
	lazy := sf.LazyLoadMembers
	var sumRooms []string
	for _, r := range c.res.rooms {
		if r.section == sectionJoin && (r.full || hasMemberEvent(r.timeline)) {
			sumRooms = append(sumRooms, r.id)
		}
	}
	if len(sumRooms) > 0 {
		sums, err := c.s.summaries(ctx, c.user, sumRooms)
		if err != nil {
			return err
		}
		for _, r := range c.res.rooms {
			r.summary = sums[r.id]
		}
	}
	var fullReqs, lazyReqs []stateReq
	limited := map[string]int64{}
	for _, r := range c.res.rooms {
		if r.section == sectionInvite || !sf.AllowsRoom(r.id) {
			continue
		}
		before := r.prevBatch + 1
		switch {
		case r.full:
			req := stateReq{room: r.id, before: before}
			if lazy {
				req.members = senders(r.timeline)
				req.members[c.user] = true
				if r.summary != nil {
					for _, h := range r.summary.heroes {
						req.members[h] = true
					}
				}
			}
			fullReqs = append(fullReqs, req)
		default:
			if r.limited {
				limited[r.id] = before
			}
			if lazy && len(r.timeline) > 0 {
				lazyReqs = append(lazyReqs, stateReq{room: r.id, before: before, members: senders(r.timeline)})
			}
		}
	}
	states := map[string][]*evRow{}
	if len(fullReqs) > 0 {
		got, err := c.s.stateBefore(ctx, fullReqs, false)
		if err != nil {
			return err
		}
		states = got
	}
	if len(limited) > 0 {
		deltas, err := c.s.stateDeltas(ctx, c.since, limited)
		if err != nil {
			return err
		}
		for room, evs := range deltas {
			states[room] = evs
		}
	}
	if len(lazyReqs) > 0 {
		if err := c.addLazyMembers(ctx, lazyReqs, states); err != nil {
			return err
		}
	}
	for _, r := range c.res.rooms {
		for _, ev := range states[r.id] {
			if sf.AllowsType(ev.typ) && sf.AllowsSender(ev.sender) {
				r.state = append(r.state, ev)
			}
		}
	}
	return nil
}

// addLazyMembers adds the member events of timeline senders that are not
// already in the room's timeline or state section.
func (c *computation) addLazyMembers(ctx context.Context, reqs []stateReq, states map[string][]*evRow) error {
	timelines := map[string][]*evRow{}
	for _, r := range c.res.rooms {
		timelines[r.id] = r.timeline
	}
	kept := reqs[:0]
	for _, req := range reqs {
		for _, ev := range append(timelines[req.room], states[req.room]...) {
			if ev.typ == "m.room.member" && ev.stateKey != nil {
				delete(req.members, *ev.stateKey)
			}
		}
		if len(req.members) > 0 {
			kept = append(kept, req)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	got, err := c.s.stateBefore(ctx, kept, true)
	if err != nil {
		return err
	}
	for room, evs := range got {
		states[room] = append(states[room], evs...)
	}
	return nil
}

func senders(evs []*evRow) map[string]bool {
	out := make(map[string]bool, len(evs))
	for _, ev := range evs {
		out[ev.sender] = true
	}
	return out
}

func hasMemberEvent(evs []*evRow) bool {
	for _, ev := range evs {
		if ev.typ == "m.room.member" {
			return true
		}
	}
	return false
}

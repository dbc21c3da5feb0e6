package sync

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// stateReq asks for a room's state just before position before (the
// state after every event with a smaller position).
type stateReq struct {
	room   string
	before int64
	// members, when non-nil, limits m.room.member events to these users
	// (lazy loading).
	members map[string]bool
}

type stateKey struct{ typ, key string }

// stateBefore returns the requested rooms' state, oldest event first.
// It starts from current_state, which is exact for every key that has not
// changed since, and looks up the older event of the few keys that have.
// With membersOnly only m.room.member events are returned.
func (s *Service) stateBefore(ctx context.Context, reqs []stateReq, membersOnly bool) (map[string][]*evRow, error) {
	byRoom := make(map[string]*stateReq, len(reqs))
	rooms := make([]string, 0, len(reqs))
	users := map[string]bool{}
	lazy := len(reqs) > 0
	for i := range reqs {
		byRoom[reqs[i].room] = &reqs[i]
		rooms = append(rooms, reqs[i].room)
		if reqs[i].members == nil {
			lazy = false
		}
		for u := range reqs[i].members {
			users[u] = true
		}
	}
	state := make(map[string]map[stateKey]*evRow, len(reqs))
	var stale []*evRow
	for _, chunk := range chunks(rooms, maxIn) {
		in, args := inArgs(1, chunk)
		q := `SELECT ` + evCols + ` FROM current_state cs JOIN events e ON e.event_id = cs.event_id WHERE cs.room_id IN (` + in + `)`
		if membersOnly {
			q += ` AND cs.type = 'm.room.member'`
		}
		if lazy && len(users) <= maxIn {
			list := make([]string, 0, len(users))
			for u := range users {
				list = append(list, u)
			}
			uin, uargs := inArgs(len(args)+1, list)
			q += ` AND (cs.type <> 'm.room.member' OR cs.state_key IN (` + uin + `))`
			args = append(args, uargs...)
		}
		evs, err := s.queryEvents(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			req := byRoom[ev.room]
			if req.members != nil && ev.typ == "m.room.member" && !req.members[*ev.stateKey] {
				continue
			}
			if ev.pos >= req.before {
				stale = append(stale, ev)
				continue
			}
			m := state[ev.room]
			if m == nil {
				m = map[stateKey]*evRow{}
				state[ev.room] = m
			}
			m[stateKey{ev.typ, *ev.stateKey}] = ev
		}
	}
	if err := s.fillOlderState(ctx, stale, byRoom, state); err != nil {
		return nil, err
	}
	out := make(map[string][]*evRow, len(state))
	for room, m := range state {
		list := make([]*evRow, 0, len(m))
		for _, ev := range m {
			list = append(list, ev)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].pos < list[j].pos })
		out[room] = list
	}
	return out, nil
}

// fillOlderState replaces each stale current-state event with the newest
// event of its key before the requested position, if there was one.
func (s *Service) fillOlderState(ctx context.Context, stale []*evRow, byRoom map[string]*stateReq, state map[string]map[stateKey]*evRow) error {
	for _, chunk := range chunks(stale, maxUnion) {
		var q strings.Builder
		var args []any
		for i, ev := range chunk {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			n := len(args)
			args = append(args, ev.room, ev.typ, *ev.stateKey, byRoom[ev.room].before)
			fmt.Fprintf(&q, `SELECT * FROM (SELECT %s FROM events e WHERE e.room_id = $%d AND e.type = $%d AND e.state_key = $%d AND e.stream_pos < $%d ORDER BY e.stream_pos DESC LIMIT 1) AS t%d`,
				evCols, n+1, n+2, n+3, n+4, i)
		}
		evs, err := s.queryEvents(ctx, q.String(), args...)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			m := state[ev.room]
			if m == nil {
				m = map[stateKey]*evRow{}
				state[ev.room] = m
			}
			m[stateKey{ev.typ, *ev.stateKey}] = ev
		}
	}
	return nil
}

// stateDeltas returns, per room, the state events in (since, before[room]),
// only the newest of each key, oldest first: the state section of an
// incremental sync whose timeline was limited.
func (s *Service) stateDeltas(ctx context.Context, since int64, before map[string]int64) (map[string][]*evRow, error) {
	rooms := make([]string, 0, len(before))
	var maxBefore int64
	for r, b := range before {
		rooms = append(rooms, r)
		maxBefore = max(maxBefore, b)
	}
	out := map[string][]*evRow{}
	for _, chunk := range chunks(rooms, maxIn) {
		in, args := inArgs(3, chunk)
		evs, err := s.queryEvents(ctx, `SELECT `+evCols+` FROM events e WHERE e.room_id IN (`+in+`)
			AND e.state_key IS NOT NULL AND e.stream_pos > $1 AND e.stream_pos < $2 ORDER BY e.stream_pos`,
			append([]any{since, maxBefore}, args...)...)
		if err != nil {
			return nil, err
		}
		latest := map[string]map[stateKey]int{}
		for _, ev := range evs {
			if ev.pos >= before[ev.room] {
				continue
			}
			k := stateKey{ev.typ, *ev.stateKey}
			idx := latest[ev.room]
			if idx == nil {
				idx = map[stateKey]int{}
				latest[ev.room] = idx
			}
			if i, ok := idx[k]; ok {
				out[ev.room][i] = nil
			}
			idx[k] = len(out[ev.room])
			out[ev.room] = append(out[ev.room], ev)
		}
	}
	for r, list := range out {
		kept := list[:0]
		for _, ev := range list {
			if ev != nil {
				kept = append(kept, ev)
			}
		}
		out[r] = kept
	}
	return out, nil
}

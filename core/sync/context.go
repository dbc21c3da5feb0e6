package sync

import (
	"context"

	"maunium.net/go/mautrix/id"
)

// ContextRequest is GET /rooms/{roomId}/context/{eventId}.
type ContextRequest struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	RoomID   id.RoomID
	EventID  id.EventID
	Limit    int
	Filter   *RoomEventFilter
}

// Context returns an event with up to Limit events around it (half before,
// as Synapse does) and the room state at the last event returned.
func (s *Service) Context(ctx context.Context, req *ContextRequest) ([]byte, error) {
	a, err := s.roomAccess(ctx, req.UserID, req.RoomID)
	if err != nil {
		return nil, err
	}
	ev, err := s.visibleEvent(ctx, a, req.EventID)
	if err != nil {
		return nil, err
	}
	f := req.Filter
	if f == nil {
		f = &RoomEventFilter{}
	}
	limit := min(max(req.Limit, 0), MaxMessagesLimit)
	nBefore := limit / 2
	nAfter := limit - nBefore
	fetch := func(cond, order string, n int, bound int64) ([]*evRow, error) {
		if n == 0 {
			return nil, nil
		}
		clause, extra := f.sqlClause(4)
		evs, err := s.queryEvents(ctx, `SELECT `+evCols+` FROM events e WHERE e.room_id = $1 AND `+cond+clause+
			` ORDER BY e.stream_pos `+order+` LIMIT `+itoa(int64(n)), append([]any{req.RoomID, ev.pos, bound}, extra...)...)
		if err != nil {
			return nil, err
		}
		kept := evs[:0]
		for _, e := range evs {
			if f.matches(e) && a.vis.visible(e) {
				kept = append(kept, e)
			}
		}
		return kept, nil
	}
	before, err := fetch(`e.stream_pos < $2 AND e.stream_pos > $3`, "DESC", nBefore, 0)
	if err != nil {
		return nil, err
	}
	after, err := fetch(`e.stream_pos > $2 AND e.stream_pos <= $3`, "ASC", nAfter, a.upto)
	if err != nil {
		return nil, err
	}
	start, end := ev.pos-1, ev.pos
	if len(before) > 0 {
		start = before[len(before)-1].pos - 1
	}
	if len(after) > 0 {
		end = after[len(after)-1].pos
	}
	all := append(append(append([]*evRow{}, before...), ev), after...)
	sreq := stateReq{room: a.room, before: end + 1}
	if f.LazyLoadMembers {
		sreq.members = senders(all)
	}
	states, err := s.stateBefore(ctx, []stateReq{sreq}, false)
	if err != nil {
		return nil, err
	}
	state := states[a.room]
	d, err := s.decorate(ctx, req.UserID.String(), req.DeviceID.String(), append(append([]*evRow{}, all...), state...), nil)
	if err != nil {
		return nil, err
	}
	if err := s.bundleRoom(ctx, d, req.UserID.String(), a, all); err != nil {
		return nil, err
	}
	list := func(b []byte, evs []*evRow) []byte {
		b = append(b, '[')
		for i, e := range evs {
			if i > 0 {
				b = append(b, ',')
			}
			b = d.appendEvent(b, e)
		}
		return append(b, ']')
	}
	b := append([]byte(`{"event":`), d.appendEvent(nil, ev)...)
	b = append(b, `,"events_before":`...)
	b = list(b, before)
	b = append(b, `,"events_after":`...)
	b = list(b, after)
	b = append(b, `,"state":`...)
	b = list(b, state)
	b = append(b, `,"start":`...)
	b = appendString(b, FormatToken(start))
	b = append(b, `,"end":`...)
	b = appendString(b, FormatToken(end))
	return append(b, '}'), nil
}

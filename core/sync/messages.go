package sync

import (
	"context"

	"maunium.net/go/mautrix/id"
)

// MessagesRequest is GET /rooms/{roomId}/messages.
type MessagesRequest struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	RoomID   id.RoomID
	// From and To are positions; nil means "the end in the direction of travel".
	From, To  *int64
	Backwards bool
	Limit     int
	Filter    *RoomEventFilter
}

// MaxMessagesLimit caps /messages and /context limits.
const MaxMessagesLimit = 1000

// Messages pages through a room's timeline. Going backwards from P yields
// events at or before P, newest first; forwards from P, events after P.
// end is omitted when the page was the last one.
func (s *Service) Messages(ctx context.Context, req *MessagesRequest) ([]byte, error) {
	a, err := s.roomAccess(ctx, req.UserID, req.RoomID)
	if err != nil {
		return nil, err
	}
	f := req.Filter
	if f == nil {
		f = &RoomEventFilter{}
	}
	limit := min(req.Limit, MaxMessagesLimit)
	var lo, hi, start int64
	if req.Backwards {
		hi = a.upto
		if req.From != nil {
			hi = min(*req.From, a.upto)
		}
		start = hi
		if req.From != nil {
			start = *req.From
		}
		if req.To != nil {
			lo = *req.To
		}
	} else {
		hi = a.upto
		if req.To != nil {
			hi = min(*req.To, a.upto)
		}
		if req.From != nil {
			lo = *req.From
		}
		start = lo
	}
	var evs []*evRow
	if limit > 0 && lo < hi {
		order := "DESC"
		if !req.Backwards {
			order = "ASC"
		}
		clause, extra := f.sqlClause(4)
		evs, err = s.queryEvents(ctx, `SELECT `+evCols+` FROM events e WHERE e.room_id = $1 AND e.stream_pos > $2 AND e.stream_pos <= $3`+
			clause+` ORDER BY e.stream_pos `+order+` LIMIT `+itoa(int64(limit)), append([]any{req.RoomID, lo, hi}, extra...)...)
		if err != nil {
			return nil, err
		}
	}
	var end *int64
	if len(evs) == limit && limit > 0 {
		last := evs[len(evs)-1].pos
		if req.Backwards {
			last--
		}
		end = &last
	}
	chunk := evs[:0]
	for _, ev := range evs {
		if f.matches(ev) && a.vis.visible(ev) {
			chunk = append(chunk, ev)
		}
	}
	var state []*evRow
	if f.LazyLoadMembers && len(chunk) > 0 {
		if state, err = s.lazyMembers(ctx, a, chunk, f); err != nil {
			return nil, err
		}
	}
	d, err := s.decorate(ctx, req.UserID.String(), req.DeviceID.String(), append(append([]*evRow{}, chunk...), state...), nil)
	if err != nil {
		return nil, err
	}
	if err := s.bundleRoom(ctx, d, req.UserID.String(), a, chunk); err != nil {
		return nil, err
	}
	b := append([]byte(`{"chunk":`), '[')
	for i, ev := range chunk {
		if i > 0 {
			b = append(b, ',')
		}
		b = d.appendEvent(b, ev)
	}
	b = append(b, `],"start":`...)
	b = appendString(b, FormatToken(start))
	if end != nil {
		b = append(b, `,"end":`...)
		b = appendString(b, FormatToken(*end))
	}
	if len(state) > 0 {
		b = append(b, `,"state":[`...)
		for i, ev := range state {
			if i > 0 {
				b = append(b, ',')
			}
			b = d.appendEvent(b, ev)
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

// lazyMembers returns the member events of the senders of evs, as of the
// newest position the user may read, leaving out those already in evs
// unless include_redundant_members is set.
func (s *Service) lazyMembers(ctx context.Context, a *access, evs []*evRow, f *RoomEventFilter) ([]*evRow, error) {
	members := senders(evs)
	if !f.IncludeRedundantMembers {
		for _, ev := range evs {
			if ev.typ == "m.room.member" && ev.stateKey != nil {
				delete(members, *ev.stateKey)
			}
		}
	}
	if len(members) == 0 {
		return nil, nil
	}
	got, err := s.stateBefore(ctx, []stateReq{{room: a.room, before: a.upto + 1, members: members}}, true)
	if err != nil {
		return nil, err
	}
	return got[a.room], nil
}

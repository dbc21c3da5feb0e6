package sync

import (
	"context"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// access is what a user may read of a room: nothing after upto (their
// leave, for a user who left), and of the rest what vis admits.
type access struct {
	room   string
	member membership
	upto   int64
	vis    *visibility
}

var errNotMember = httpx.Forbidden("You aren't a member of this room")

// roomAccess decides whether user may read room at all. Members read up
// to now, users who left up to their leave; anyone may read a
// world_readable room.
func (s *Service) roomAccess(ctx context.Context, user id.UserID, room id.RoomID) (*access, error) {
	now := s.notifier.Pos()
	m, err := s.membershipAt(ctx, user.String(), room.String(), now)
	if err != nil {
		return nil, err
	}
	vis, err := s.loadVisibility(ctx, user.String(), []string{room.String()})
	if err != nil {
		return nil, err
	}
	a := &access{room: room.String(), member: m, upto: now, vis: vis[room.String()]}
	switch {
	case m.value == "join":
		return a, nil
	case (m.value == "leave" || m.value == "ban") && a.vis.everJoined:
		a.upto = m.pos
		return a, nil
	case a.vis.currentHV() == hvWorldReadable && len(a.vis.hv) > 0:
		return a, nil
	}
	return nil, errNotMember
}

// eventIn loads one event of room, or M_NOT_FOUND.
func (s *Service) eventIn(ctx context.Context, room id.RoomID, eventID id.EventID) (*evRow, error) {
	evs, err := s.queryEvents(ctx, `SELECT `+evCols+` FROM events e WHERE e.event_id = $1`, eventID)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].room != room.String() {
		return nil, httpx.NotFound("Event not found")
	}
	return evs[0], nil
}

// visibleEvent loads an event the user may see, or M_NOT_FOUND.
func (s *Service) visibleEvent(ctx context.Context, a *access, eventID id.EventID) (*evRow, error) {
	ev, err := s.eventIn(ctx, id.RoomID(a.room), eventID)
	if err != nil {
		return nil, err
	}
	if ev.pos > a.upto || !a.vis.visible(ev) {
		return nil, httpx.NotFound("Event not found")
	}
	return ev, nil
}

// Event is GET /rooms/{roomId}/event/{eventId}: one event as JSON.
func (s *Service) Event(ctx context.Context, user id.UserID, device id.DeviceID, room id.RoomID, eventID id.EventID) ([]byte, error) {
	a, err := s.roomAccess(ctx, user, room)
	if err != nil {
		return nil, err
	}
	ev, err := s.visibleEvent(ctx, a, eventID)
	if err != nil {
		return nil, err
	}
	d, err := s.decorate(ctx, user.String(), device.String(), []*evRow{ev}, nil)
	if err != nil {
		return nil, err
	}
	if err := s.bundleRoom(ctx, d, user.String(), a, []*evRow{ev}); err != nil {
		return nil, err
	}
	return d.appendEvent(nil, ev), nil
}

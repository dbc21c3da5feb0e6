package sync

import (
	"context"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// stateFor returns the room state the user may see: the current state for
// members and world_readable rooms, the state at their leave otherwise
// (including the leave). at, when non-nil, asks for an older position.
func (s *Service) stateFor(ctx context.Context, a *access, at *int64, membersOnly bool) ([]*evRow, error) {
	upto := a.upto
	if at != nil {
		upto = min(upto, *at)
	}
	got, err := s.stateBefore(ctx, []stateReq{{room: a.room, before: upto + 1}}, membersOnly)
	if err != nil {
		return nil, err
	}
	return got[a.room], nil
}

func (s *Service) renderEvents(ctx context.Context, user id.UserID, evs []*evRow) ([]byte, error) {
	d, err := s.decorate(ctx, user.String(), "", evs, nil)
	if err != nil {
		return nil, err
	}
	b := []byte{'['}
	for i, ev := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = d.appendEvent(b, ev)
	}
	return append(b, ']'), nil
}

// State is GET /rooms/{roomId}/state: a JSON array of state events.
func (s *Service) State(ctx context.Context, user id.UserID, room id.RoomID) ([]byte, error) {
	a, err := s.roomAccess(ctx, user, room)
	if err != nil {
		return nil, err
	}
	evs, err := s.stateFor(ctx, a, nil, false)
	if err != nil {
		return nil, err
	}
	return s.renderEvents(ctx, user, evs)
}

// StateEvent is GET /rooms/{roomId}/state/{eventType}/{stateKey}: the
// content of one state event, or the whole event when asEvent is set
// (?format=event).
func (s *Service) StateEvent(ctx context.Context, user id.UserID, room id.RoomID, evType, stateKey string, asEvent bool) ([]byte, error) {
	a, err := s.roomAccess(ctx, user, room)
	if err != nil {
		return nil, err
	}
	evs, err := s.queryEvents(ctx, `SELECT `+evCols+` FROM events e WHERE e.room_id = $1 AND e.type = $2 AND e.state_key = $3
		AND e.stream_pos <= $4 ORDER BY e.stream_pos DESC LIMIT 1`, room, evType, stateKey, a.upto)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, httpx.NotFound("Event not found")
	}
	if asEvent {
		body, err := s.renderEvents(ctx, user, evs)
		if err != nil {
			return nil, err
		}
		return body[1 : len(body)-1], nil
	}
	content := gjson.GetBytes(evs[0].client, "content")
	if !content.Exists() {
		return []byte("{}"), nil
	}
	return []byte(content.Raw), nil
}

// MembersRequest is GET /rooms/{roomId}/members.
type MembersRequest struct {
	UserID        id.UserID
	RoomID        id.RoomID
	At            *int64
	Membership    string
	NotMembership string
}

// Members returns {"chunk": [member events]}.
func (s *Service) Members(ctx context.Context, req *MembersRequest) ([]byte, error) {
	a, err := s.roomAccess(ctx, req.UserID, req.RoomID)
	if err != nil {
		return nil, err
	}
	evs, err := s.stateFor(ctx, a, req.At, true)
	if err != nil {
		return nil, err
	}
	kept := evs[:0]
	for _, ev := range evs {
		if (req.Membership == "" || ev.membership == req.Membership) &&
			(req.NotMembership == "" || ev.membership != req.NotMembership) {
			kept = append(kept, ev)
		}
	}
	list, err := s.renderEvents(ctx, req.UserID, kept)
	if err != nil {
		return nil, err
	}
	return append(append([]byte(`{"chunk":`), list...), '}'), nil
}

// JoinedMembers is GET /rooms/{roomId}/joined_members.
func (s *Service) JoinedMembers(ctx context.Context, user id.UserID, room id.RoomID) (any, error) {
	a, err := s.roomAccess(ctx, user, room)
	if err != nil {
		return nil, err
	}
	if a.member.value != "join" && a.vis.currentHV() != hvWorldReadable {
		return nil, errNotMember
	}
	evs, err := s.stateFor(ctx, a, nil, true)
	if err != nil {
		return nil, err
	}
	type profile struct {
		DisplayName *string `json:"display_name,omitempty"`
		AvatarURL   *string `json:"avatar_url,omitempty"`
	}
	joined := map[string]profile{}
	for _, ev := range evs {
		if ev.membership != "join" {
			continue
		}
		var p profile
		if v := gjson.GetBytes(ev.client, "content.displayname"); v.Type == gjson.String {
			p.DisplayName = &v.Str
		}
		if v := gjson.GetBytes(ev.client, "content.avatar_url"); v.Type == gjson.String {
			p.AvatarURL = &v.Str
		}
		joined[*ev.stateKey] = p
	}
	return map[string]any{"joined": joined}, nil
}

// JoinedRooms is GET /joined_rooms.
func (s *Service) JoinedRooms(ctx context.Context, user id.UserID) (any, error) {
	ms, err := s.membershipsAt(ctx, user.String(), s.notifier.Pos())
	if err != nil {
		return nil, err
	}
	rooms := []string{}
	for _, m := range ms {
		if m.value == "join" {
			rooms = append(rooms, m.room)
		}
	}
	return map[string]any{"joined_rooms": rooms}, nil
}

package client

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// syncOptToken parses an optional token query parameter.
func syncOptToken(r *http.Request, name string) (*int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	pos, err := gsync.ParseToken(v)
	if err != nil {
		return nil, err
	}
	return &pos, nil
}

// syncLimit parses a limit query parameter: def when absent, clamped to max.
func syncLimit(r *http.Request, def int64) (int, error) {
	n, err := httpx.QueryInt(r, "limit", def)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, httpx.InvalidParam("limit must not be negative")
	}
	return int(min(n, gsync.MaxMessagesLimit)), nil
}

func syncEventFilter(r *http.Request) (*gsync.RoomEventFilter, error) {
	v := r.URL.Query().Get("filter")
	if v == "" {
		return nil, nil
	}
	return gsync.ParseRoomEventFilter([]byte(v))
}

// GET /_matrix/client/v3/rooms/{roomId}/messages pages through a room's history.
func (h *syncAPI) messages(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	req := &gsync.MessagesRequest{UserID: c.UserID, DeviceID: c.DeviceID, RoomID: room}
	switch dir := r.URL.Query().Get("dir"); dir {
	case "b", "":
		req.Backwards = true
	case "f":
	default:
		return nil, httpx.InvalidParam("dir must be b or f")
	}
	if req.From, err = syncOptToken(r, "from"); err != nil {
		return nil, err
	}
	if req.To, err = syncOptToken(r, "to"); err != nil {
		return nil, err
	}
	if req.Limit, err = syncLimit(r, 10); err != nil {
		return nil, err
	}
	if req.Filter, err = syncEventFilter(r); err != nil {
		return nil, err
	}
	return syncRaw(h.s.Messages(r.Context(), req))
}

// GET /_matrix/client/v3/rooms/{roomId}/context/{eventId} returns an event and its surroundings.
func (h *syncAPI) context(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	req := &gsync.ContextRequest{UserID: c.UserID, DeviceID: c.DeviceID, RoomID: room, EventID: id.EventID(r.PathValue("eventId"))}
	if req.Limit, err = syncLimit(r, 10); err != nil {
		return nil, err
	}
	if req.Filter, err = syncEventFilter(r); err != nil {
		return nil, err
	}
	return syncRaw(h.s.Context(r.Context(), req))
}

// GET /_matrix/client/v3/rooms/{roomId}/event/{eventId} returns one event.
func (h *syncAPI) event(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	return syncRaw(h.s.Event(r.Context(), c.UserID, c.DeviceID, room, id.EventID(r.PathValue("eventId"))))
}

// GET /_matrix/client/v3/rooms/{roomId}/members lists member events.
func (h *syncAPI) members(r *http.Request) (any, error) {
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	req := &gsync.MembersRequest{UserID: httpx.CallerFrom(r).UserID, RoomID: room,
		Membership: q.Get("membership"), NotMembership: q.Get("not_membership")}
	for _, m := range []string{req.Membership, req.NotMembership} {
		switch m {
		case "", "join", "invite", "knock", "leave", "ban":
		default:
			return nil, httpx.InvalidParam("Unknown membership %q", m)
		}
	}
	if req.At, err = syncOptToken(r, "at"); err != nil {
		return nil, err
	}
	return syncRaw(h.s.Members(r.Context(), req))
}

// GET /_matrix/client/v3/rooms/{roomId}/joined_members maps joined users to their profiles.
func (h *syncAPI) joinedMembers(r *http.Request) (any, error) {
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	return h.s.JoinedMembers(r.Context(), httpx.CallerFrom(r).UserID, room)
}

// GET /_matrix/client/v3/rooms/{roomId}/state returns the room's state events.
func (h *syncAPI) state(r *http.Request) (any, error) {
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	return syncRaw(h.s.State(r.Context(), httpx.CallerFrom(r).UserID, room))
}

// GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey} returns one state event's content.
func (h *syncAPI) stateEvent(r *http.Request) (any, error) {
	room, err := syncRoomID(r)
	if err != nil {
		return nil, err
	}
	asEvent := r.URL.Query().Get("format") == "event"
	return syncRaw(h.s.StateEvent(r.Context(), httpx.CallerFrom(r).UserID, room,
		r.PathValue("eventType"), r.PathValue("stateKey"), asEvent))
}

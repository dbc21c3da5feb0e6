package client

import (
	"net/http"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// createRoom: POST /_matrix/client/v3/createRoom creates a room.
func (h *RoomHandlers) createRoom(r *http.Request) (any, error) {
	var req rooms.CreateRequest
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	roomID, alias, err := h.Rooms.CreateRoom(r.Context(), httpx.CallerFrom(r).UserID, &req)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{"room_id": roomID}
	if alias != "" {
		resp["room_alias"] = alias
	}
	return resp, nil
}

type membershipBody struct {
	UserID id.UserID `json:"user_id"`
	Reason string    `json:"reason"`
}

// decodeMembership reads an optional {user_id, reason} body.
func decodeMembership(r *http.Request) (*membershipBody, error) {
	var body membershipBody
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	return &body, nil
}

// roomIDParam validates the {roomId} path segment.
func roomIDParam(r *http.Request) (id.RoomID, error) {
	raw := r.PathValue("roomId")
	if !strings.HasPrefix(raw, "!") || !strings.Contains(raw, ":") || len(raw) > 255 {
		return "", httpx.InvalidParam("Invalid room ID %q", raw)
	}
	return id.RoomID(raw), nil
}

// joinByIDOrAlias: POST /_matrix/client/v3/join/{roomIdOrAlias} joins a room.
func (h *RoomHandlers) joinByIDOrAlias(r *http.Request) (any, error) {
	target := r.PathValue("roomIdOrAlias")
	if !strings.Contains(target, ":") || (!strings.HasPrefix(target, "!") && !strings.HasPrefix(target, "#")) {
		return nil, httpx.InvalidParam("Invalid room ID or alias %q", target)
	}
	return h.doJoin(r, target)
}

// join: POST /_matrix/client/v3/rooms/{roomId}/join joins a room.
func (h *RoomHandlers) join(r *http.Request) (any, error) {
	roomID, err := roomIDParam(r)
	if err != nil {
		return nil, err
	}
	return h.doJoin(r, string(roomID))
}

func (h *RoomHandlers) doJoin(r *http.Request, target string) (any, error) {
	body, err := decodeMembership(r)
	if err != nil {
		return nil, err
	}
	roomID, err := h.Rooms.Join(r.Context(), httpx.CallerFrom(r).UserID, target, body.Reason, nil)
	if err != nil {
		return nil, err
	}
	return map[string]any{"room_id": roomID}, nil
}

// knock: POST /_matrix/client/v3/knock/{roomIdOrAlias} asks to join a room.
func (h *RoomHandlers) knock(r *http.Request) (any, error) {
	body, err := decodeMembership(r)
	if err != nil {
		return nil, err
	}
	target := r.PathValue("roomIdOrAlias")
	roomID := id.RoomID(target)
	if strings.HasPrefix(target, "#") {
		resolved, err := h.Rooms.ResolveAlias(r.Context(), id.RoomAlias(target))
		if err != nil {
			return nil, err
		}
		if resolved == "" {
			return nil, httpx.NotFound("Room alias %s not found", target)
		}
		roomID = resolved
	} else if !strings.HasPrefix(target, "!") {
		return nil, httpx.InvalidParam("Invalid room ID or alias %q", target)
	}
	user := httpx.CallerFrom(r).UserID
	if _, err := h.Rooms.SetMembership(r.Context(), rooms.MembershipRequest{RoomID: roomID, Sender: user, Target: user,
		Membership: event.MembershipKnock, Reason: body.Reason}); err != nil {
		return nil, err
	}
	return map[string]any{"room_id": roomID}, nil
}

// invite: POST /_matrix/client/v3/rooms/{roomId}/invite invites a user.
func (h *RoomHandlers) invite(r *http.Request) (any, error) {
	return h.changeOther(r, event.MembershipInvite)
}

// kick: POST /_matrix/client/v3/rooms/{roomId}/kick kicks a user.
func (h *RoomHandlers) kick(r *http.Request) (any, error) {
	return h.changeOther(r, event.MembershipLeave)
}

// ban: POST /_matrix/client/v3/rooms/{roomId}/ban bans a user.
func (h *RoomHandlers) ban(r *http.Request) (any, error) {
	return h.changeOther(r, event.MembershipBan)
}

// unban: POST /_matrix/client/v3/rooms/{roomId}/unban lifts a ban.
func (h *RoomHandlers) unban(r *http.Request) (any, error) {
	roomID, err := roomIDParam(r)
	if err != nil {
		return nil, err
	}
	body, err := decodeMembership(r)
	if err != nil {
		return nil, err
	}
	if m, err := h.Rooms.MembershipOf(r.Context(), roomID, body.UserID); err != nil {
		return nil, err
	} else if m != event.MembershipBan {
		return nil, httpx.Forbidden("%s is not banned", body.UserID)
	}
	return h.setMembership(r, roomID, body, event.MembershipLeave)
}

func (h *RoomHandlers) changeOther(r *http.Request, m event.Membership) (any, error) {
	roomID, err := roomIDParam(r)
	if err != nil {
		return nil, err
	}
	body, err := decodeMembership(r)
	if err != nil {
		return nil, err
	}
	if m == event.MembershipLeave {
		// A kick of someone who is not in the room is refused, as in Synapse.
		cur, err := h.Rooms.MembershipOf(r.Context(), roomID, body.UserID)
		if err != nil {
			return nil, err
		}
		if cur != event.MembershipJoin && cur != event.MembershipInvite && cur != event.MembershipKnock {
			return nil, httpx.Forbidden("%s is not in the room", body.UserID)
		}
	}
	return h.setMembership(r, roomID, body, m)
}

func (h *RoomHandlers) setMembership(r *http.Request, roomID id.RoomID, body *membershipBody, m event.Membership) (any, error) {
	if body.UserID == "" {
		return nil, httpx.MissingParam("Missing user_id")
	}
	if _, _, err := body.UserID.ParseAndValidateRelaxed(); err != nil {
		return nil, httpx.InvalidParam("Invalid user_id %q", body.UserID)
	}
	_, err := h.Rooms.SetMembership(r.Context(), rooms.MembershipRequest{RoomID: roomID, Sender: httpx.CallerFrom(r).UserID,
		Target: body.UserID, Membership: m, Reason: body.Reason, TS: massagedTS(r)})
	if err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// leave: POST /_matrix/client/v3/rooms/{roomId}/leave leaves a room (or rejects an invite).
func (h *RoomHandlers) leave(r *http.Request) (any, error) {
	roomID, err := roomIDParam(r)
	if err != nil {
		return nil, err
	}
	body, err := decodeMembership(r)
	if err != nil {
		return nil, err
	}
	body.UserID = httpx.CallerFrom(r).UserID
	return h.setMembership(r, roomID, body, event.MembershipLeave)
}

// forget: POST /_matrix/client/v3/rooms/{roomId}/forget forgets a left room.
func (h *RoomHandlers) forget(r *http.Request) (any, error) {
	roomID, err := roomIDParam(r)
	if err != nil {
		return nil, err
	}
	if err := h.Rooms.Forget(r.Context(), httpx.CallerFrom(r).UserID, roomID); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

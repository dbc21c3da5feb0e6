package admin

import (
	"encoding/json"
	"net/http"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// roomParam returns the path's {roomId}, or 400 M_INVALID_PARAM.
func roomParam(r *http.Request) (id.RoomID, error) {
	roomID := r.PathValue("roomId")
	if len(roomID) < 2 || roomID[0] != '!' {
		return "", httpx.InvalidParam("%q is not a room ID", roomID)
	}
	return id.RoomID(roomID), nil
}

// GET /_synapse/admin/v1/rooms lists the rooms this server knows
// (order_by, dir, from, limit, search_term as in Synapse).
func (h *adminAPI) listRooms(r *http.Request) (any, error) {
	from, err := httpx.QueryInt(r, "from", 0)
	if err != nil {
		return nil, err
	}
	limit, err := httpx.QueryInt(r, "limit", 100)
	if err != nil {
		return nil, err
	}
	if from < 0 || limit < 0 || limit > 1000 {
		return nil, httpx.InvalidParam("from must be >= 0 and limit between 0 and 1000")
	}
	q := r.URL.Query()
	dir := q.Get("dir")
	if dir != "" && dir != "f" && dir != "b" {
		return nil, httpx.InvalidParam("dir must be f or b")
	}
	list, total, err := h.rooms.ListRooms(r.Context(), rooms.RoomListParams{OrderBy: q.Get("order_by"), Backwards: dir == "b",
		From: int(from), Limit: int(limit), SearchTerm: q.Get("search_term")})
	if err != nil {
		return nil, err
	}
	out := map[string]any{"rooms": list, "offset": from, "total_rooms": total}
	if next := int(from) + len(list); next < total && len(list) > 0 {
		out["next_batch"] = next
	}
	if from > 0 {
		out["prev_batch"] = max(from-limit, 0)
	}
	return out, nil
}

// GET /_synapse/admin/v1/rooms/{roomId} returns a room's summary.
func (h *adminAPI) getRoom(r *http.Request) (any, error) {
	roomID, err := roomParam(r)
	if err != nil {
		return nil, err
	}
	return h.rooms.RoomDetails(r.Context(), roomID)
}

// GET /_synapse/admin/v1/rooms/{roomId}/members lists the joined members.
func (h *adminAPI) roomMembers(r *http.Request) (any, error) {
	roomID, err := roomParam(r)
	if err != nil {
		return nil, err
	}
	members, err := h.rooms.Members(r.Context(), roomID, event.MembershipJoin)
	if err != nil {
		return nil, err
	}
	if members == nil {
		members = []id.UserID{}
	}
	return map[string]any{"members": members, "total": len(members)}, nil
}

// GET /_synapse/admin/v1/rooms/{roomId}/state returns the current state
// events in client format, only those of one type with ?type=.
func (h *adminAPI) roomState(r *http.Request) (any, error) {
	roomID, err := roomParam(r)
	if err != nil {
		return nil, err
	}
	state, err := h.rooms.CurrentState(r.Context(), roomID)
	if err != nil {
		return nil, err
	}
	only := r.URL.Query().Get("type")
	out := make([]json.RawMessage, 0, len(state))
	for _, ev := range state {
		if only == "" || ev.Type() == only {
			out = append(out, ev.Client)
		}
	}
	return map[string]any{"state": out}, nil
}

// DELETE /_synapse/admin/v1/rooms/{roomId} shuts a room down: every local
// member leaves, optionally into a new room (new_room_user_id, room_name,
// message), and with "block" nobody local may join again.
// NOTSPEC: "purge" is accepted but history is kept; Gatehouse does not
// delete events yet.
func (h *adminAPI) deleteRoom(r *http.Request) (any, error) {
	roomID, err := roomParam(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		NewRoomUserID id.UserID `json:"new_room_user_id"`
		RoomName      string    `json:"room_name"`
		Message       string    `json:"message"`
		Block         bool      `json:"block"`
		Purge         *bool     `json:"purge"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.NewRoomUserID != "" {
		if !h.acc.IsLocal(req.NewRoomUserID) {
			return nil, httpx.BadRequest("User must be our own: %s", req.NewRoomUserID)
		}
		if ok, err := h.acc.UserExists(r.Context(), req.NewRoomUserID); err != nil {
			return nil, err
		} else if !ok {
			return nil, httpx.NotFound("User %s does not exist", req.NewRoomUserID)
		}
	}
	res, err := h.rooms.Shutdown(r.Context(), rooms.ShutdownRequest{RoomID: roomID, Admin: httpx.CallerFrom(r).UserID,
		NewRoomUserID: req.NewRoomUserID, RoomName: req.RoomName, Message: req.Message, Block: req.Block})
	if err != nil {
		return nil, err
	}
	out := map[string]any{"kicked_users": res.KickedUsers, "failed_to_kick_users": res.FailedToKickUsers,
		"local_aliases": res.LocalAliases, "new_room_id": nil}
	if res.NewRoomID != "" {
		out["new_room_id"] = res.NewRoomID
	}
	return out, nil
}

// GET /_synapse/admin/v1/rooms/{roomId}/block says whether a room is
// blocked and by whom.
func (h *adminAPI) getBlock(r *http.Request) (any, error) {
	roomID, err := roomParam(r)
	if err != nil {
		return nil, err
	}
	blocked, by, err := h.rooms.Blocked(r.Context(), roomID)
	if err != nil {
		return nil, err
	}
	if !blocked {
		return map[string]any{"block": false}, nil
	}
	return map[string]any{"block": true, "user_id": by}, nil
}

// PUT /_synapse/admin/v1/rooms/{roomId}/block blocks or unblocks a room.
func (h *adminAPI) putBlock(r *http.Request) (any, error) {
	roomID, err := roomParam(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Block *bool `json:"block"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.Block == nil {
		return nil, httpx.MissingParam("Missing block")
	}
	if err := h.rooms.SetBlocked(r.Context(), roomID, httpx.CallerFrom(r).UserID, *req.Block); err != nil {
		return nil, err
	}
	return map[string]bool{"block": *req.Block}, nil
}

// POST /_synapse/admin/v1/join/{roomIdOrAlias} joins a local user
// ("user_id") to a room. When the room is not public the calling admin
// invites the user first, so the admin must be in the room with the power
// to invite, as in Synapse.
func (h *adminAPI) forceJoin(r *http.Request) (any, error) {
	var req struct {
		UserID *string `json:"user_id"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.UserID == nil {
		return nil, httpx.MissingParam("Missing user_id")
	}
	userID := id.UserID(*req.UserID)
	if localpart, _, err := userID.ParseAndValidateRelaxed(); err != nil || localpart == "" {
		return nil, httpx.InvalidParam("Invalid user ID %q", userID)
	}
	if !h.acc.IsLocal(userID) {
		return nil, httpx.BadRequest("This endpoint can only be used with local users")
	}
	if ok, err := h.acc.UserExists(r.Context(), userID); err != nil {
		return nil, err
	} else if !ok {
		return nil, httpx.NotFound("User not found")
	}
	roomID, err := h.rooms.AdminJoin(r.Context(), httpx.CallerFrom(r).UserID, userID, r.PathValue("roomIdOrAlias"))
	if err != nil {
		return nil, err
	}
	return map[string]id.RoomID{"room_id": roomID}, nil
}

package client

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// upgrade: POST /_matrix/client/v3/rooms/{roomId}/upgrade replaces a room
// with a new one of another version (Element's "upgrade room" and
// /upgraderoom).
func (h *RoomHandlers) upgrade(r *http.Request) (any, error) {
	roomID, err := roomIDParam(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		NewVersion *string `json:"new_version"`
	}
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	if body.NewVersion == nil || *body.NewVersion == "" {
		return nil, httpx.BadJSON("new_version is required")
	}
	newID, err := h.Rooms.Upgrade(r.Context(), httpx.CallerFrom(r).UserID, roomID, id.RoomVersion(*body.NewVersion))
	if err != nil {
		return nil, err
	}
	return map[string]any{"replacement_room": newID}, nil
}

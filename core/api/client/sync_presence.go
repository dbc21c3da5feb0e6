package client

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/presence"
)

// GET /_matrix/client/v3/presence/{userId}/status returns a user's presence
// to themselves and to users who share a room with them.
func (h *syncAPI) getPresence(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	user := id.UserID(r.PathValue("userId"))
	if _, _, err := user.ParseAndValidateRelaxed(); err != nil {
		return nil, httpx.InvalidParam("Invalid user ID %q", user)
	}
	ok, err := h.src.Presence.CanSee(r.Context(), c.UserID, user)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, httpx.Forbidden("You are not allowed to see the presence of %s", user)
	}
	st, err := h.src.Presence.Get(r.Context(), user)
	if err != nil {
		return nil, err
	}
	return h.src.Presence.Content(st), nil
}

// PUT /_matrix/client/v3/presence/{userId}/status sets the caller's presence.
func (h *syncAPI) putPresence(r *http.Request) (any, error) {
	c, err := syncSelf(r, "set presence")
	if err != nil {
		return nil, err
	}
	var req struct {
		Presence  string  `json:"presence"`
		StatusMsg *string `json:"status_msg"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.Presence == "" {
		return nil, httpx.BadJSON("presence is required")
	}
	if !presence.ValidState(req.Presence) {
		return nil, httpx.InvalidParam("Unknown presence state %q", req.Presence)
	}
	if err := h.src.Presence.Set(r.Context(), c.UserID, req.Presence, req.StatusMsg); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

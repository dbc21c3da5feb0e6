package client

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// defaultDirectoryLimit is the spec's default result count.
const defaultDirectoryLimit = 10

// POST /_matrix/client/v3/user_directory/search finds local users by user
// ID or display name.
func (h *accountsAPI) searchUserDirectory(r *http.Request) (any, error) {
	var req struct {
		SearchTerm *string `json:"search_term"`
		Limit      *int    `json:"limit"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.SearchTerm == nil {
		return nil, httpx.MissingParam("Missing search_term")
	}
	limit := defaultDirectoryLimit
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 0 {
		return nil, httpx.InvalidParam("limit must not be negative")
	}
	type result struct {
		UserID      id.UserID `json:"user_id"`
		DisplayName string    `json:"display_name,omitempty"`
		AvatarURL   string    `json:"avatar_url,omitempty"`
	}
	out := []result{}
	limited := false
	if limit > 0 {
		entries, lim, err := h.acc.SearchUsers(r.Context(), *req.SearchTerm, limit)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			out = append(out, result{e.UserID, e.DisplayName, e.AvatarURL})
		}
		limited = lim
	}
	return map[string]any{"results": out, "limited": limited}, nil
}

package client

import (
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/search"
)

// searchAPI serves the server side search module.
type searchAPI struct {
	s *search.Service
}

// RegisterSearch adds POST /search.
func RegisterSearch(rt *httpx.Router, s *search.Service) {
	h := &searchAPI{s: s}
	rt.Authed("POST /_matrix/client/v3/search", h.search)
}

// POST /_matrix/client/v3/search searches the events of the caller's rooms
// (room_events; see core/search for what is searched and who sees what).
// Guests may not search, as in Synapse.
func (h *searchAPI) search(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	if c.IsGuest {
		return nil, httpx.NewError(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN", "Guests cannot search")
	}
	var body search.Body
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	return h.s.Search(r.Context(), &search.Request{UserID: c.UserID, DeviceID: c.DeviceID, Body: &body,
		NextBatch: r.URL.Query().Get("next_batch")})
}

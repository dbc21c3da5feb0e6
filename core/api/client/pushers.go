package client

import (
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/pushers"
)

// pushersAPI serves the pusher endpoints of the push notifications module.
type pushersAPI struct {
	p *pushers.Pushers
}

// RegisterPushers adds GET /pushers and POST /pushers/set.
func RegisterPushers(rt *httpx.Router, p *pushers.Pushers) {
	h := &pushersAPI{p: p}
	rt.Authed("GET /_matrix/client/v3/pushers", h.list)
	rt.Authed("POST /_matrix/client/v3/pushers/set", h.set)
}

// pushersNoGuests refuses guest callers: pushers are not among the endpoints
// the spec opens to guests.
func pushersNoGuests(c *httpx.Caller) error {
	if c.IsGuest {
		return httpx.NewError(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN", "Guests cannot use pushers")
	}
	return nil
}

// GET /_matrix/client/v3/pushers lists the caller's pushers.
func (h *pushersAPI) list(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	if err := pushersNoGuests(c); err != nil {
		return nil, err
	}
	ps, err := h.p.List(r.Context(), c.UserID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"pushers": ps}, nil
}

// POST /_matrix/client/v3/pushers/set creates, updates or (kind null)
// deletes one of the caller's pushers. The pusher belongs to the caller's
// device: logging that device out deletes it.
func (h *pushersAPI) set(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	if err := pushersNoGuests(c); err != nil {
		return nil, err
	}
	var req pushers.SetRequest
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if err := h.p.Set(r.Context(), c.UserID, c.DeviceID, &req); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

package client

import (
	"net/http"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/presence"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// GET /_matrix/client/v3/sync returns an initial snapshot or, with since,
// what changed, long-polling up to timeout milliseconds for news.
func (h *syncAPI) sync(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	q := r.URL.Query()
	req := &gsync.Request{UserID: c.UserID, DeviceID: c.DeviceID}
	if since := q.Get("since"); since != "" {
		pos, err := gsync.ParseToken(since)
		if err != nil {
			return nil, err
		}
		req.Since = pos
	}
	timeout, err := httpx.QueryInt(r, "timeout", 0)
	if err != nil {
		return nil, err
	}
	req.Timeout = time.Duration(max(timeout, 0)) * time.Millisecond
	switch fs := q.Get("full_state"); fs {
	case "", "false":
	case "true":
		req.FullState = true
	default:
		return nil, httpx.InvalidParam("full_state must be true or false")
	}
	req.SetPresence = q.Get("set_presence")
	if req.SetPresence != "" && !presence.ValidState(req.SetPresence) {
		return nil, httpx.InvalidParam("set_presence must be online, unavailable or offline")
	}
	if req.Filter, err = h.s.ResolveFilter(r.Context(), c.UserID, q.Get("filter")); err != nil {
		return nil, err
	}
	return syncRaw(h.s.Sync(r.Context(), req))
}

// POST /_matrix/client/v3/user/{userId}/filter stores a filter.
func (h *syncAPI) postFilter(r *http.Request) (any, error) {
	c, err := syncSelf(r, "create filters")
	if err != nil {
		return nil, err
	}
	body, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	var shape map[string]any
	if err := httpx.DecodeBytes(body, &shape); err != nil {
		return nil, err
	}
	filterID, err := h.s.CreateFilter(r.Context(), c.UserID, body)
	if err != nil {
		return nil, err
	}
	return map[string]string{"filter_id": filterID}, nil
}

// GET /_matrix/client/v3/user/{userId}/filter/{filterId} returns a stored filter.
func (h *syncAPI) getFilter(r *http.Request) (any, error) {
	c, err := syncSelf(r, "read filters")
	if err != nil {
		return nil, err
	}
	return syncRaw(h.s.GetFilter(r.Context(), c.UserID, r.PathValue("filterId")))
}

// GET /_matrix/client/v3/joined_rooms lists the caller's joined rooms.
func (h *syncAPI) joinedRooms(r *http.Request) (any, error) {
	return h.s.JoinedRooms(r.Context(), httpx.CallerFrom(r).UserID)
}

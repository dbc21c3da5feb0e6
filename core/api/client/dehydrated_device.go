package client

import (
	"errors"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

// dehydratedPrefix is MSC3814's unstable prefix.
const dehydratedPrefix = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"

// DehydratedFeature is the unstable_features flag advertising MSC3814.
const DehydratedFeature = "org.matrix.msc3814"

type dehydratedAPI struct {
	keys *keys.Service
	td   *todevice.Service
}

// RegisterDehydrated adds the MSC3814 dehydrated device endpoints. k must
// have been built with a keys.Devices (the accounts service).
func RegisterDehydrated(rt *httpx.Router, k *keys.Service, td *todevice.Service) {
	h := &dehydratedAPI{keys: k, td: td}
	rt.Authed("PUT "+dehydratedPrefix, h.put)
	rt.Authed("GET "+dehydratedPrefix, h.get)
	rt.Authed("DELETE "+dehydratedPrefix, h.delete)
	rt.Authed("POST "+dehydratedPrefix+"/{deviceId}/events", h.events)
}

// PUT /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device
// replaces the caller's dehydrated device and publishes its keys.
// MSC3814: unstable endpoint.
func (h *dehydratedAPI) put(r *http.Request) (any, error) {
	var req keys.DehydratedRequest
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	c := httpx.CallerFrom(r)
	dev, err := h.keys.PutDehydrated(r.Context(), c.UserID, c.DeviceID, req)
	if err != nil {
		return nil, err
	}
	return map[string]id.DeviceID{"device_id": dev}, nil
}

// GET /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device
// returns the caller's dehydrated device ID and device_data.
func (h *dehydratedAPI) get(r *http.Request) (any, error) {
	dev, data, err := h.keys.GetDehydrated(r.Context(), httpx.CallerFrom(r).UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, httpx.NotFound("No dehydrated device")
	} else if err != nil {
		return nil, err
	}
	return map[string]any{"device_id": dev, "device_data": data}, nil
}

// DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device
// deletes the caller's dehydrated device.
func (h *dehydratedAPI) delete(r *http.Request) (any, error) {
	dev, err := h.keys.DeleteDehydrated(r.Context(), httpx.CallerFrom(r).UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, httpx.NotFound("No dehydrated device")
	} else if err != nil {
		return nil, err
	}
	return map[string]id.DeviceID{"device_id": dev}, nil
}

// POST /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events
// pages through the to-device messages queued for the dehydrated device
// without acknowledging them.
func (h *dehydratedAPI) events(r *http.Request) (any, error) {
	var req struct {
		NextBatch string `json:"next_batch"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	user := httpx.CallerFrom(r).UserID
	dev, _, err := h.keys.GetDehydrated(r.Context(), user)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && string(dev) != r.PathValue("deviceId")) {
		return nil, httpx.Forbidden("%s is not your dehydrated device", r.PathValue("deviceId"))
	} else if err != nil {
		return nil, err
	}
	cur, err := todevice.ParseCursor(req.NextBatch)
	if err != nil {
		return nil, err
	}
	events, next, err := h.td.Peek(r.Context(), user, dev, cur)
	if err != nil {
		return nil, err
	}
	return map[string]any{"events": events, "next_batch": next.String()}, nil
}

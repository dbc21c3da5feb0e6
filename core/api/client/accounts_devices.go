package client

import (
	"encoding/json"
	"errors"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// accountDeviceJSON is the spec's Device object.
type accountDeviceJSON struct {
	DeviceID    id.DeviceID `json:"device_id"`
	DisplayName string      `json:"display_name,omitempty"`
	LastSeenIP  string      `json:"last_seen_ip,omitempty"`
	LastSeenTS  int64       `json:"last_seen_ts,omitempty"`
}

func toAccountDeviceJSON(d accounts.Device) accountDeviceJSON {
	return accountDeviceJSON{DeviceID: d.DeviceID, DisplayName: d.DisplayName, LastSeenIP: d.LastSeenIP, LastSeenTS: d.LastSeenTS}
}

func accountDeviceNotFound() *httpx.Error { return httpx.NotFound("Device not found") }

// GET /_matrix/client/v3/devices lists the caller's devices.
func (h *accountsAPI) listDevices(r *http.Request) (any, error) {
	devs, err := h.acc.Devices(r.Context(), httpx.CallerFrom(r).UserID)
	if err != nil {
		return nil, err
	}
	out := make([]accountDeviceJSON, len(devs))
	for i, d := range devs {
		out[i] = toAccountDeviceJSON(d)
	}
	return map[string]any{"devices": out}, nil
}

// GET /_matrix/client/v3/devices/{deviceId} returns one of the caller's devices.
func (h *accountsAPI) getDevice(r *http.Request) (any, error) {
	d, err := h.acc.Device(r.Context(), httpx.CallerFrom(r).UserID, id.DeviceID(r.PathValue("deviceId")))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, accountDeviceNotFound()
	} else if err != nil {
		return nil, err
	}
	return toAccountDeviceJSON(*d), nil
}

// PUT /_matrix/client/v3/devices/{deviceId} renames a device. An appservice
// may also create its users' devices this way (MSC4190), which lets
// appservice-side encryption work without /login.
func (h *accountsAPI) putDevice(r *http.Request) (any, error) {
	var req struct {
		DisplayName *string `json:"display_name"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	c := httpx.CallerFrom(r)
	deviceID := id.DeviceID(r.PathValue("deviceId"))
	name := ""
	if req.DisplayName != nil {
		name = *req.DisplayName
	}
	if c.AppServiceID != "" {
		if err := h.acc.EnsureDevice(r.Context(), c.UserID, deviceID, name); err != nil {
			return nil, err
		}
		return httpx.Empty, nil
	}
	if req.DisplayName == nil {
		// Nothing to change, but the device must exist.
		_, err := h.acc.Device(r.Context(), c.UserID, deviceID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, accountDeviceNotFound()
		}
		return httpx.Empty, err
	}
	err := h.acc.RenameDevice(r.Context(), c.UserID, deviceID, name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, accountDeviceNotFound()
	} else if err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// DELETE /_matrix/client/v3/devices/{deviceId} deletes a device and logs it
// out, after re-entering the password (appservices skip this, per MSC4190).
func (h *accountsAPI) deleteDevice(r *http.Request) (any, error) {
	var req struct {
		Auth json.RawMessage `json:"auth"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	return h.deleteWithUIA(r, req.Auth, []id.DeviceID{id.DeviceID(r.PathValue("deviceId"))})
}

// POST /_matrix/client/v3/delete_devices deletes several devices at once.
func (h *accountsAPI) deleteDevices(r *http.Request) (any, error) {
	var req struct {
		Devices []id.DeviceID   `json:"devices"`
		Auth    json.RawMessage `json:"auth"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.Devices == nil {
		return nil, httpx.MissingParam("Missing devices")
	}
	return h.deleteWithUIA(r, req.Auth, req.Devices)
}

func (h *accountsAPI) deleteWithUIA(r *http.Request, auth json.RawMessage, devices []id.DeviceID) (any, error) {
	c := httpx.CallerFrom(r)
	if c.AppServiceID == "" {
		sess, challenge, err := h.uia.Check(r, auth, uiaPasswordSpec)
		if err != nil {
			return nil, err
		}
		if challenge != nil {
			return *challenge, nil
		}
		defer h.uia.Done(sess)
	}
	if err := h.acc.DeleteDevices(r.Context(), c.UserID, devices); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

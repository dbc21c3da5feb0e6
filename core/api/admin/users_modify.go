package admin

import (
	"errors"
	"net/http"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// PUT /_synapse/admin/v2/users/{userId} creates an account (201) or
// modifies one (200): password, logout_devices (default true), displayname,
// avatar_url, admin, deactivated. It answers with the account as GET does.
func (h *adminAPI) putUser(r *http.Request) (any, error) {
	userID, err := h.localUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Password      *string `json:"password"`
		LogoutDevices *bool   `json:"logout_devices"`
		DisplayName   *string `json:"displayname"`
		AvatarURL     *string `json:"avatar_url"`
		Admin         *bool   `json:"admin"`
		Deactivated   *bool   `json:"deactivated"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.Admin != nil && !*req.Admin && userID == httpx.CallerFrom(r).UserID {
		return nil, httpx.BadRequest("You may not demote yourself")
	}
	if req.Password != nil && len(*req.Password) > accounts.MaxPasswordLength {
		return nil, httpx.InvalidParam("Invalid password")
	}
	created, profileChanged, err := h.acc.AdminSetUser(r.Context(), userID, accounts.UserUpdate{
		Password: req.Password, LogoutDevices: req.LogoutDevices == nil || *req.LogoutDevices,
		DisplayName: req.DisplayName, AvatarURL: req.AvatarURL, Admin: req.Admin, Deactivated: req.Deactivated,
	})
	if err != nil {
		return nil, err
	}
	if profileChanged && h.rooms != nil {
		if err := h.rooms.ProfileChanged(r.Context(), userID); err != nil {
			zerolog.Ctx(r.Context()).Warn().Err(err).Stringer("user_id", userID).Msg("Failed to update memberships after admin profile change")
		}
	}
	u, err := h.acc.GetUser(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	if created {
		return httpx.Response{Status: http.StatusCreated, Body: toUserJSON(u)}, nil
	}
	return toUserJSON(u), nil
}

// POST /_synapse/admin/v1/reset_password/{userId} sets a new password and,
// unless logout_devices is false, logs the user out everywhere.
func (h *adminAPI) resetPassword(r *http.Request) (any, error) {
	u, err := h.existingUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		NewPassword   string `json:"new_password"`
		LogoutDevices *bool  `json:"logout_devices"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	if err := h.acc.ChangePassword(r.Context(), u.UserID, req.NewPassword, logout, ""); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// POST /_synapse/admin/v1/deactivate/{userId} deactivates an account (with
// "erase": true its profile is cleared too); it leaves all its rooms.
func (h *adminAPI) deactivate(r *http.Request) (any, error) {
	u, err := h.existingUser(r)
	if err != nil {
		return nil, err
	}
	var req struct {
		Erase bool `json:"erase"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if err := h.acc.Deactivate(r.Context(), u.UserID, req.Erase); err != nil {
		return nil, err
	}
	// No identity servers are bound, so there is nothing to unbind.
	return map[string]string{"id_server_unbind_result": "success"}, nil
}

// deviceJSON is Synapse's admin view of a device.
type deviceJSON struct {
	DeviceID    id.DeviceID `json:"device_id"`
	DisplayName *string     `json:"display_name"`
	LastSeenIP  *string     `json:"last_seen_ip"`
	LastSeenTS  *int64      `json:"last_seen_ts"`
	UserAgent   *string     `json:"last_seen_user_agent"`
	UserID      id.UserID   `json:"user_id"`
}

// GET /_synapse/admin/v2/users/{userId}/devices lists a user's devices.
func (h *adminAPI) listDevices(r *http.Request) (any, error) {
	u, err := h.existingUser(r)
	if err != nil {
		return nil, err
	}
	devices, err := h.acc.Devices(r.Context(), u.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]deviceJSON, len(devices))
	for i := range devices {
		out[i] = toDeviceJSON(&devices[i])
	}
	return map[string]any{"devices": out, "total": len(out)}, nil
}

func toDeviceJSON(d *accounts.Device) deviceJSON {
	out := deviceJSON{DeviceID: d.DeviceID, DisplayName: optional(d.DisplayName), LastSeenIP: optional(d.LastSeenIP),
		UserAgent: optional(d.UserAgent), UserID: d.UserID}
	if d.LastSeenTS != 0 {
		out.LastSeenTS = &d.LastSeenTS
	}
	return out
}

// GET /_synapse/admin/v2/users/{userId}/devices/{deviceId} shows one device.
func (h *adminAPI) getDevice(r *http.Request) (any, error) {
	u, err := h.existingUser(r)
	if err != nil {
		return nil, err
	}
	d, err := h.acc.Device(r.Context(), u.UserID, id.DeviceID(r.PathValue("deviceId")))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, httpx.NotFound("Device not found")
	} else if err != nil {
		return nil, err
	}
	return toDeviceJSON(d), nil
}

// DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId} logs a device
// out. As in Synapse, an unknown device is not an error.
func (h *adminAPI) deleteDevice(r *http.Request) (any, error) {
	u, err := h.existingUser(r)
	if err != nil {
		return nil, err
	}
	if err := h.acc.DeleteDevices(r.Context(), u.UserID, []id.DeviceID{id.DeviceID(r.PathValue("deviceId"))}); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// GET /_synapse/admin/v1/users/{userId}/joined_rooms lists the rooms a
// local user is joined to.
func (h *adminAPI) joinedRooms(r *http.Request) (any, error) {
	u, err := h.existingUser(r)
	if err != nil {
		return nil, err
	}
	list, err := h.rooms.JoinedRooms(r.Context(), u.UserID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"joined_rooms": list, "total": len(list)}, nil
}

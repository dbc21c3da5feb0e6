package client

import (
	"encoding/json"
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// uiaPasswordSpec asks for the caller's current password.
var uiaPasswordSpec = UIASpec{Flows: []UIAFlow{{Stages: []string{StagePassword}}}}

// POST /_matrix/client/v3/account/password changes the caller's password
// after re-entering the current one; logout_devices (default true) ends
// every other session. Without an access token it is the password reset
// by email (resetPassword).
func (h *accountsAPI) changePassword(r *http.Request) (any, error) {
	var req struct {
		NewPassword   string          `json:"new_password"`
		LogoutDevices *bool           `json:"logout_devices"`
		Auth          json.RawMessage `json:"auth"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	c := httpx.CallerFrom(r)
	if c == nil {
		return h.resetPassword(r, req.NewPassword, req.LogoutDevices, req.Auth)
	}
	sess, challenge, err := h.uia.Check(r, req.Auth, uiaPasswordSpec)
	if err != nil {
		return nil, err
	}
	if req.NewPassword != "" {
		sess.Set("new_password", req.NewPassword)
	} else {
		req.NewPassword = sess.Get("new_password")
	}
	if challenge != nil {
		return *challenge, nil
	}
	if req.NewPassword == "" {
		return nil, httpx.MissingParam("Missing new_password")
	}
	logout := req.LogoutDevices == nil || *req.LogoutDevices
	if err := h.acc.ChangePassword(r.Context(), c.UserID, req.NewPassword, logout, c.DeviceID); err != nil {
		return nil, err
	}
	h.uia.Done(sess)
	return httpx.Empty, nil
}

// POST /_matrix/client/v3/account/deactivate closes the caller's account
// for good after re-entering the password.
func (h *accountsAPI) deactivate(r *http.Request) (any, error) {
	var req struct {
		Auth     json.RawMessage `json:"auth"`
		Erase    bool            `json:"erase"`
		IDServer string          `json:"id_server"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	c := httpx.CallerFrom(r)
	if c.AppServiceID == "" {
		sess, challenge, err := h.uia.Check(r, req.Auth, uiaPasswordSpec)
		if err != nil {
			return nil, err
		}
		if challenge != nil {
			return *challenge, nil
		}
		defer h.uia.Done(sess)
	}
	if err := h.acc.Deactivate(r.Context(), c.UserID, req.Erase); err != nil {
		return nil, err
	}
	// No identity server was told about the user's addresses, so none is unbound.
	return map[string]string{"id_server_unbind_result": "no-support"}, nil
}

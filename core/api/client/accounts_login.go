package client

import (
	"context"
	"net/http"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/ratelimit"
)

const loginTypeAppService = "m.login.application_service"

// loginIdentifier is the spec's identifier object (m.id.user,
// m.id.thirdparty with an email address, and m.id.phone, which Gatehouse
// cannot resolve).
type loginIdentifier struct {
	Type    string `json:"type"`
	User    string `json:"user"`
	Medium  string `json:"medium"`
	Address string `json:"address"`
}

// loginRequest is the body of POST /login.
type loginRequest struct {
	Type       string           `json:"type"`
	Identifier *loginIdentifier `json:"identifier"`
	// User is the pre-identifier way to name the user, still sent by
	// older clients and scripts.
	User                     string `json:"user"`
	Password                 string `json:"password"`
	DeviceID                 string `json:"device_id"`
	InitialDeviceDisplayName string `json:"initial_device_display_name"`
	RefreshToken             bool   `json:"refresh_token"`
}

// loginResponse is the body of a successful /login or /register.
type loginResponse struct {
	UserID      id.UserID   `json:"user_id"`
	AccessToken string      `json:"access_token,omitempty"`
	DeviceID    id.DeviceID `json:"device_id,omitempty"`
	HomeServer  string      `json:"home_server"`
	WellKnown   any         `json:"well_known,omitempty"`
}

// parseLogin decodes a /login body; split out for the fuzz test.
func parseLogin(body []byte) (*loginRequest, error) {
	var req loginRequest
	if err := httpx.DecodeBytes(body, &req); err != nil {
		return nil, err
	}
	if req.Type == "" {
		return nil, httpx.MissingParam("Missing login type")
	}
	return &req, nil
}

// resolveIdentifier names the local user an identifier (or the legacy
// "user" field) refers to. An email address names the account it is bound
// to (accounts_3pid.go); phone numbers match no one.
func resolveIdentifier(ctx context.Context, acc *accounts.Service, ident *loginIdentifier, legacyUser string) (id.UserID, error) {
	user := legacyUser
	if ident != nil {
		switch ident.Type {
		case "m.id.user":
			user = ident.User
		case "m.id.thirdparty":
			return resolveThreePID(ctx, acc, ident.Medium, ident.Address)
		case "m.id.phone":
			return "", httpx.Forbidden("Invalid username or password")
		default:
			return "", httpx.BadRequest("Unknown identifier type %q", ident.Type)
		}
	}
	if user == "" {
		return "", httpx.MissingParam("Missing user identifier")
	}
	userID, ok := acc.ResolveUser(user)
	if !ok {
		return "", httpx.Forbidden("Invalid username or password")
	}
	return userID, nil
}

// GET /_matrix/client/v3/login lists the supported login types.
func (h *accountsAPI) getLogin(r *http.Request) (any, error) {
	return map[string]any{"flows": []map[string]string{
		{"type": "m.login.password"},
		{"type": loginTypeAppService},
	}}, nil
}

// POST /_matrix/client/v3/login logs in with a password (or an appservice
// token) and returns a new access token.
func (h *accountsAPI) postLogin(r *http.Request) (any, error) {
	body, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	req, err := parseLogin(body)
	if err != nil {
		return nil, err
	}
	if req.Type != "m.login.password" && req.Type != loginTypeAppService {
		return nil, httpx.BadRequest("Unknown login type %q", req.Type)
	}
	userID, err := resolveIdentifier(r.Context(), h.acc, req.Identifier, req.User)
	if err != nil {
		return nil, err
	}
	switch req.Type {
	case "m.login.password":
		if req.Password == "" {
			return nil, httpx.MissingParam("Missing password")
		}
		if err := checkPasswordLimited(r.Context(), h.acc, h.lim.LoginFailed, userID, req.Password); err != nil {
			return nil, err
		}
	case loginTypeAppService:
		if err := h.checkAppServiceLogin(r, userID); err != nil {
			return nil, err
		}
	}
	if wait, ok := h.lim.LoginAccount.Allow(string(userID)); !ok {
		return nil, ratelimit.Exceeded(wait)
	}
	res, err := h.acc.Login(r.Context(), accounts.LoginParams{
		UserID: userID, DeviceID: id.DeviceID(req.DeviceID), DeviceName: req.InitialDeviceDisplayName,
		IP: ratelimit.ClientIP(r), UserAgent: r.UserAgent(),
	})
	if err != nil {
		return nil, err
	}
	return h.loginResponse(res, true), nil
}

// checkAppServiceLogin lets an appservice log in as a user in its
// namespace, authenticated by its as_token instead of a password.
func (h *accountsAPI) checkAppServiceLogin(r *http.Request, userID id.UserID) error {
	c, err := h.acc.Authenticate(r)
	if err != nil {
		return err
	}
	if c.AppServiceID == "" || !h.acc.AppServiceOwns(c.AppServiceID, userID) {
		return httpx.Forbidden("The application service may not log in as %s", userID)
	}
	exists, err := h.acc.UserExists(r.Context(), userID)
	if err != nil {
		return err
	}
	if !exists {
		return httpx.Forbidden("Invalid username or password")
	}
	return nil
}

func (h *accountsAPI) loginResponse(res *accounts.LoginResult, withWellKnown bool) loginResponse {
	out := loginResponse{UserID: res.UserID, AccessToken: res.AccessToken, DeviceID: res.DeviceID, HomeServer: h.acc.ServerName()}
	if withWellKnown && h.cfg.PublicBaseURL != "" {
		out.WellKnown = map[string]any{"m.homeserver": map[string]string{"base_url": strings.TrimSuffix(h.cfg.PublicBaseURL, "/") + "/"}}
	}
	return out
}

// POST /_matrix/client/v3/logout ends the caller's session and deletes its device.
func (h *accountsAPI) logout(r *http.Request) (any, error) {
	if err := h.acc.Logout(r.Context(), httpx.CallerFrom(r)); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// POST /_matrix/client/v3/logout/all ends all of the caller's sessions.
func (h *accountsAPI) logoutAll(r *http.Request) (any, error) {
	if err := h.acc.LogoutAll(r.Context(), httpx.CallerFrom(r).UserID); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// GET /_matrix/client/v3/account/whoami names the caller.
func (h *accountsAPI) whoami(r *http.Request) (any, error) {
	c := httpx.CallerFrom(r)
	return struct {
		UserID   id.UserID   `json:"user_id"`
		DeviceID id.DeviceID `json:"device_id,omitempty"`
		IsGuest  bool        `json:"is_guest"`
	}{c.UserID, c.DeviceID, c.IsGuest}, nil
}

package client

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/ratelimit"
)

// registerRequest is the body of POST /register.
type registerRequest struct {
	Username                 string          `json:"username"`
	Password                 string          `json:"password"`
	DeviceID                 string          `json:"device_id"`
	InitialDeviceDisplayName string          `json:"initial_device_display_name"`
	InhibitLogin             bool            `json:"inhibit_login"`
	Auth                     json.RawMessage `json:"auth"`
	// Type is where appservices put m.login.application_service before the
	// spec moved it into auth; mautrix and older bridges still send it.
	Type         string `json:"type"`
	RefreshToken bool   `json:"refresh_token"`
}

// parseRegister decodes a /register body; split out for the fuzz test.
func parseRegister(body []byte) (*registerRequest, string, error) {
	var req registerRequest
	if err := httpx.DecodeBytes(body, &req); err != nil {
		return nil, "", err
	}
	authType := req.Type
	if len(req.Auth) > 0 && string(req.Auth) != "null" {
		var dict uiaAuthDict
		if err := httpx.DecodeBytes(req.Auth, &dict); err != nil {
			return nil, "", err
		}
		if dict.Type != "" {
			authType = dict.Type
		}
	}
	return &req, authType, nil
}

func guestForbidden() *httpx.Error {
	return httpx.NewError(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is disabled")
}

func registrationDisabled() *httpx.Error {
	return httpx.Forbidden("Registration has been disabled")
}

// POST /_matrix/client/v3/register creates an account after
// user-interactive authentication (m.login.dummy, or
// m.login.registration_token when registration_requires_token is set), or
// for an appservice authenticated by its as_token.
func (h *accountsAPI) register(r *http.Request) (any, error) {
	switch kind := r.URL.Query().Get("kind"); kind {
	case "", "user":
	case "guest":
		return nil, guestForbidden()
	default:
		return nil, httpx.InvalidParam("Invalid kind %q", kind)
	}
	body, err := httpx.ReadBody(r)
	if err != nil {
		return nil, err
	}
	req, authType, err := parseRegister(body)
	if err != nil {
		return nil, err
	}
	if authType == loginTypeAppService {
		return h.registerAppService(r, req)
	}
	if !h.cfg.EnableRegistration {
		return nil, registrationDisabled()
	}
	ip := ratelimit.ClientIP(r)
	if wait, ok := h.lim.Registration.Check(ip); !ok {
		return nil, ratelimit.Exceeded(wait)
	}
	if req.Username != "" {
		if err := h.acc.CheckAvailable(r.Context(), req.Username, ""); err != nil {
			return nil, err
		}
	}
	if len(req.Password) > accounts.MaxPasswordLength {
		return nil, httpx.InvalidParam("Password is longer than %d bytes", accounts.MaxPasswordLength)
	}
	if err := accounts.ValidateDevice(id.DeviceID(req.DeviceID), req.InitialDeviceDisplayName); err != nil {
		return nil, err
	}
	sess, challenge, err := h.uia.Check(r, req.Auth, h.registerSpec())
	if err != nil {
		return nil, err
	}
	rememberParams(sess, req)
	if challenge != nil {
		return *challenge, nil
	}
	return h.completeRegistration(r, sess, req, ip)
}

func (h *accountsAPI) registerSpec() UIASpec {
	if h.cfg.RegistrationRequiresToken {
		return UIASpec{
			Flows:  []UIAFlow{{Stages: []string{StageRegistrationToken}}},
			Stages: map[string]UIAStage{StageRegistrationToken: h.registrationTokenStage},
		}
	}
	return UIASpec{Flows: []UIAFlow{{Stages: []string{StageDummy}}}}
}

// rememberParams keeps username and password across the requests of a
// session: clients may send them only with the first one, as Synapse
// allows. The password waits in memory for at most the session's lifetime.
func rememberParams(sess *UIASession, req *registerRequest) {
	if req.Username != "" {
		sess.Set("username", req.Username)
	} else {
		req.Username = sess.Get("username")
	}
	if req.Password != "" {
		sess.Set("password", req.Password)
	} else {
		req.Password = sess.Get("password")
	}
}

// registrationTokenStage checks the token now and records it; the token is
// spent only when the account is created, in the same transaction.
func (h *accountsAPI) registrationTokenStage(r *http.Request, sess *UIASession, raw json.RawMessage) error {
	var a struct {
		Token string `json:"token"`
	}
	if err := httpx.DecodeBytes(raw, &a); err != nil {
		return err
	}
	ok, err := h.acc.RegistrationTokenValid(r.Context(), a.Token)
	if err != nil {
		return err
	}
	if !ok {
		return httpx.NewError(http.StatusUnauthorized, "M_UNAUTHORIZED", "Invalid registration token")
	}
	sess.Set("registration_token", a.Token)
	return nil
}

func (h *accountsAPI) completeRegistration(r *http.Request, sess *UIASession, req *registerRequest, ip string) (any, error) {
	if req.Password == "" {
		return nil, httpx.MissingParam("Missing password")
	}
	localpart := req.Username
	if localpart == "" {
		var err error
		if localpart, err = h.freeNumericLocalpart(r); err != nil {
			return nil, err
		}
	}
	if wait, ok := h.lim.Registration.Allow(ip); !ok {
		return nil, ratelimit.Exceeded(wait)
	}
	userID, err := h.acc.Register(r.Context(), accounts.RegisterParams{
		Localpart: localpart, Password: req.Password, RegistrationToken: sess.Get("registration_token"),
	})
	if err != nil {
		return nil, err
	}
	h.uia.Done(sess)
	return h.finishRegistration(r, userID, req)
}

// freeNumericLocalpart picks an unused numeric localpart for clients that
// register without a username, as Synapse does.
func (h *accountsAPI) freeNumericLocalpart(r *http.Request) (string, error) {
	for range 10 {
		var buf [8]byte
		_, _ = rand.Read(buf[:])
		lp := fmt.Sprint(binary.BigEndian.Uint64(buf[:]) % 1_000_000_000_000)
		exists, err := h.acc.UserExists(r.Context(), h.acc.UserID(lp))
		if err != nil || !exists {
			return lp, err
		}
	}
	return "", httpx.Unknown("Could not pick a free user ID")
}

func (h *accountsAPI) finishRegistration(r *http.Request, userID id.UserID, req *registerRequest) (any, error) {
	if req.InhibitLogin {
		return loginResponse{UserID: userID, HomeServer: h.acc.ServerName()}, nil
	}
	res, err := h.acc.Login(r.Context(), accounts.LoginParams{
		UserID: userID, DeviceID: id.DeviceID(req.DeviceID), DeviceName: req.InitialDeviceDisplayName,
		IP: ratelimit.ClientIP(r), UserAgent: r.UserAgent(),
	})
	if err != nil {
		return nil, err
	}
	return h.loginResponse(res, false), nil
}

// registerAppService creates a user in the calling appservice's namespace;
// the as_token stands in for user-interactive authentication.
func (h *accountsAPI) registerAppService(r *http.Request, req *registerRequest) (any, error) {
	c := httpx.CallerFrom(r)
	if c == nil {
		return nil, httpx.MissingToken()
	}
	if c.AppServiceID == "" {
		return nil, httpx.Forbidden("Only application services can use m.login.application_service")
	}
	if req.Username == "" {
		return nil, httpx.MissingParam("Missing username")
	}
	if err := accounts.ValidateDevice(id.DeviceID(req.DeviceID), req.InitialDeviceDisplayName); err != nil {
		return nil, err
	}
	userID, err := h.acc.Register(r.Context(), accounts.RegisterParams{
		Localpart: req.Username, Password: req.Password, AppServiceID: c.AppServiceID,
	})
	if err != nil {
		return nil, err
	}
	return h.finishRegistration(r, userID, req)
}

// GET /_matrix/client/v3/register/available checks a username.
func (h *accountsAPI) registerAvailable(r *http.Request) (any, error) {
	if !h.cfg.EnableRegistration {
		return nil, registrationDisabled()
	}
	name := r.URL.Query().Get("username")
	if name == "" {
		return nil, httpx.MissingParam("Missing username")
	}
	if err := h.acc.CheckAvailable(r.Context(), name, ""); err != nil {
		return nil, err
	}
	return map[string]bool{"available": true}, nil
}

// GET /_matrix/client/v1/register/m.login.registration_token/validity
// checks a registration token without spending it.
func (h *accountsAPI) registrationTokenValidity(r *http.Request) (any, error) {
	if !h.cfg.EnableRegistration {
		return nil, registrationDisabled()
	}
	tok := r.URL.Query().Get("token")
	if tok == "" {
		return nil, httpx.MissingParam("Missing token")
	}
	ok, err := h.acc.RegistrationTokenValid(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	return map[string]bool{"valid": ok}, nil
}

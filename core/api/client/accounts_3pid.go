package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/ratelimit"
)

// Third-party identifiers. With an SMTP server configured (AccountsConfig
// Mailer), users can prove they own an email address, bind it to their
// account, log in with it and reset a forgotten password through it, as on
// Synapse. Without one, and always for phone numbers, registration by email
// and identity servers, the endpoints still answer, because Element calls
// them from its settings and login screens: the client then shows a clear
// message instead of a failure.

// Mailer sends the validation emails (core/mail.Sender).
type Mailer interface {
	// Send delivers a plain-text email; it blocks until the SMTP server
	// accepted or refused it.
	Send(ctx context.Context, to, subject, body string) error
	// AppName names the service in subjects and bodies (email.app_name).
	AppName() string
}

// Paths of the links in validation emails, as on Synapse, so reverse proxy
// rules written for Synapse (/_synapse/client) keep working.
const (
	passwordResetSubmitPath = "/_synapse/client/password_reset/email/submit_token"
	addThreePIDSubmitPath   = "/_matrix/client/unstable/add_threepid/email/submit_token"
)

func register3PID(rt *httpx.Router, h *accountsAPI) {
	rt.Authed("POST /_matrix/client/v3/account/3pid/bind", add3PID)
	rt.Authed("POST /_matrix/client/v3/account/3pid/unbind", unbind3PID)
	notSupported := []string{
		"/_matrix/client/v3/account/3pid/msisdn/requestToken",
		"/_matrix/client/v3/register/email/requestToken",
		"/_matrix/client/v3/register/msisdn/requestToken",
		"/_matrix/client/v3/account/password/msisdn/requestToken",
	}
	if h.cfg.Mailer == nil {
		rt.Authed("GET /_matrix/client/v3/account/3pid", get3PIDs)
		rt.Authed("POST /_matrix/client/v3/account/3pid/add", add3PID)
		rt.Authed("POST /_matrix/client/v3/account/3pid/delete", unbind3PID)
		notSupported = append(notSupported,
			"/_matrix/client/v3/account/3pid/email/requestToken",
			"/_matrix/client/v3/account/password/email/requestToken")
	} else {
		rt.Authed("GET /_matrix/client/v3/account/3pid", h.listThreePIDs)
		rt.Authed("POST /_matrix/client/v3/account/3pid/add", h.addThreePID)
		rt.Authed("POST /_matrix/client/v3/account/3pid/delete", h.deleteThreePID)
		rt.Public("POST /_matrix/client/v3/account/3pid/email/requestToken", h.requestAddEmailToken)
		rt.Public("POST /_matrix/client/v3/account/password/email/requestToken", h.requestPasswordResetToken)
		rt.Public("GET "+passwordResetSubmitPath, h.submitEmailToken)
		rt.Public("GET "+addThreePIDSubmitPath, h.submitEmailToken)
	}
	for _, p := range notSupported {
		rt.Public("POST "+p, requestToken3PID)
	}
}

// GET /_matrix/client/v3/account/3pid lists the caller's third-party
// identifiers: always none when email is not configured.
func get3PIDs(r *http.Request) (any, error) {
	return map[string]any{"threepids": []any{}}, nil
}

// POST /_matrix/client/v3/account/3pid/add (without email) and
// /account/3pid/bind (identity servers, never supported) would attach a
// validated identifier; no validation session can exist for them.
func add3PID(r *http.Request) (any, error) {
	var body map[string]any
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	return nil, httpx.NewError(http.StatusBadRequest, "M_THREEPID_AUTH_FAILED",
		"This server does not support third-party identifiers")
}

// POST /_matrix/client/v3/account/3pid/unbind removes an identifier from an
// identity server; Gatehouse uses none, so nothing was unbound. It also
// answers /account/3pid/delete when email is not configured.
func unbind3PID(r *http.Request) (any, error) {
	var body map[string]any
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	return map[string]string{"id_server_unbind_result": "no-support"}, nil
}

// POST /_matrix/client/v3/{account/3pid,register,account/password}/{email,msisdn}/requestToken
// would send a validation code; this server sends none for these.
func requestToken3PID(r *http.Request) (any, error) {
	var body map[string]any
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	return nil, httpx.NewError(http.StatusBadRequest, "M_THREEPID_MEDIUM_NOT_SUPPORTED",
		"This server does not send email or SMS validation codes")
}

// GET /_matrix/client/v3/account/3pid lists the caller's email addresses.
func (h *accountsAPI) listThreePIDs(r *http.Request) (any, error) {
	list, err := h.acc.ThreePIDs(r.Context(), httpx.CallerFrom(r).UserID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"threepids": list}, nil
}

// POST /_matrix/client/v3/account/3pid/add binds the email address of a
// validated session to the caller's account, after re-entering the
// password (user-interactive authentication, as for a password change).
func (h *accountsAPI) addThreePID(r *http.Request) (any, error) {
	var req struct {
		ClientSecret string          `json:"client_secret"`
		SID          string          `json:"sid"`
		Auth         json.RawMessage `json:"auth"`
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
		req.SID = keepSessionValue(sess, "sid", req.SID)
		req.ClientSecret = keepSessionValue(sess, "client_secret", req.ClientSecret)
		if challenge != nil {
			return *challenge, nil
		}
		defer h.uia.Done(sess)
	}
	if req.SID == "" || req.ClientSecret == "" {
		return nil, httpx.MissingParam("Missing sid or client_secret")
	}
	if err := h.acc.AddThreePID(r.Context(), c.UserID, req.SID, req.ClientSecret); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// keepSessionValue stores a request parameter in the UIA session, or
// recalls it when a later request of the session left it out.
func keepSessionValue(sess *UIASession, key, value string) string {
	if value != "" {
		sess.Set(key, value)
		return value
	}
	return sess.Get(key)
}

// POST /_matrix/client/v3/account/3pid/delete removes an email address from
// the caller's account. No identity server was told about it, so none is
// unbound.
func (h *accountsAPI) deleteThreePID(r *http.Request) (any, error) {
	var req struct {
		Medium  string `json:"medium"`
		Address string `json:"address"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.Medium == "" || req.Address == "" {
		return nil, httpx.MissingParam("Missing medium or address")
	}
	if err := h.acc.DeleteThreePID(r.Context(), httpx.CallerFrom(r).UserID, req.Medium, req.Address); err != nil {
		return nil, err
	}
	return map[string]string{"id_server_unbind_result": "no-support"}, nil
}

// emailTokenRequest is the body of the email requestToken endpoints.
type emailTokenRequest struct {
	ClientSecret string `json:"client_secret"`
	Email        string `json:"email"`
	SendAttempt  *int64 `json:"send_attempt"`
	NextLink     string `json:"next_link"`
}

// parse checks the body and returns the validation request.
func (b *emailTokenRequest) parse() (accounts.ValidationRequest, error) {
	if b.Email == "" || b.ClientSecret == "" || b.SendAttempt == nil {
		return accounts.ValidationRequest{}, httpx.MissingParam("client_secret, email and send_attempt are required")
	}
	address, err := accounts.NormaliseEmail(b.Email)
	if err != nil {
		return accounts.ValidationRequest{}, err
	}
	return accounts.ValidationRequest{Medium: accounts.MediumEmail, Address: address, ClientSecret: b.ClientSecret,
		SendAttempt: *b.SendAttempt, NextLink: b.NextLink}, nil
}

// POST /_matrix/client/v3/account/password/email/requestToken emails a
// link that proves the user owns an address bound to their account, the
// first step of resetting a forgotten password.
func (h *accountsAPI) requestPasswordResetToken(r *http.Request) (any, error) {
	var body emailTokenRequest
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	req, err := body.parse()
	if err != nil {
		return nil, err
	}
	owner, err := h.acc.UserByThreePID(r.Context(), req.Medium, req.Address)
	if err != nil {
		return nil, err
	}
	if owner == "" {
		return nil, httpx.NewError(http.StatusBadRequest, "M_THREEPID_NOT_FOUND", "No account on this server has this email address")
	}
	app := h.cfg.Mailer.AppName()
	return h.sendValidation(r, req, passwordResetSubmitPath, "["+app+"] Password reset", func(link string) string {
		return "Someone asked to reset the password of your " + app + " account (" + string(owner) + ").\n\n" +
			"To reset it, open this link:\n\n" + link + "\n\n" +
			"then go back to your app to choose the new password. The link works for one hour.\n\n" +
			"If it was not you, ignore this email: your password stays as it is.\n"
	})
}

// POST /_matrix/client/v3/account/3pid/email/requestToken emails a link
// that proves the user owns an address they want to add to their account.
func (h *accountsAPI) requestAddEmailToken(r *http.Request) (any, error) {
	var body emailTokenRequest
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	req, err := body.parse()
	if err != nil {
		return nil, err
	}
	if err := h.acc.CheckThreePIDFree(r.Context(), req.Medium, req.Address); err != nil {
		return nil, err
	}
	app := h.cfg.Mailer.AppName()
	return h.sendValidation(r, req, addThreePIDSubmitPath, "["+app+"] Validate your email", func(link string) string {
		return "Someone asked to add this email address to a " + app + " account.\n\n" +
			"To confirm it is yours, open this link:\n\n" + link + "\n\n" +
			"then go back to your app. The link works for one hour.\n\n" +
			"If it was not you, ignore this email: nothing changes.\n"
	})
}

// sendValidation starts (or reuses) the validation session and emails its
// link; if the email cannot be sent, the session is undone so that nothing
// half-done remains and the same send_attempt tries again.
func (h *accountsAPI) sendValidation(r *http.Request, req accounts.ValidationRequest, path, subject string,
	body func(link string) string) (any, error) {
	ctx := r.Context()
	v, err := h.acc.StartValidation(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := map[string]string{"sid": v.SessionID}
	if v.Token == "" {
		return resp, nil
	}
	if wait, ok := h.lim.EmailSend.Allow(v.Address); !ok {
		if err := h.acc.AbandonValidation(ctx, v); err != nil {
			return nil, err
		}
		return nil, ratelimit.Exceeded(wait)
	}
	link := strings.TrimSuffix(h.cfg.BaseURL, "/") + path + "?" +
		url.Values{"token": {v.Token}, "client_secret": {req.ClientSecret}, "sid": {v.SessionID}}.Encode()
	if err := h.cfg.Mailer.Send(ctx, v.Address, subject, body(link)); err != nil {
		if uerr := h.acc.AbandonValidation(ctx, v); uerr != nil {
			zerolog.Ctx(ctx).Err(uerr).Msg("Undoing a validation session after a failed email")
		}
		// Not the client's fault, and not Gatehouse's either: the mail
		// server (an upstream) failed. The details are in the log.
		return nil, httpx.NewError(http.StatusBadGateway, "M_UNKNOWN",
			"Could not send the email: the server's mail settings or mail server have a problem. Try again later, or tell the server's admin")
	}
	return resp, nil
}

// resolveThreePID names the account an m.id.thirdparty login identifier's
// email address is bound to; anything else matches no one.
func resolveThreePID(ctx context.Context, acc *accounts.Service, medium, address string) (id.UserID, error) {
	if medium != accounts.MediumEmail || address == "" {
		return "", httpx.Forbidden("Invalid username or password")
	}
	address, err := accounts.NormaliseEmail(address)
	if err != nil {
		return "", httpx.Forbidden("Invalid username or password")
	}
	userID, err := acc.UserByThreePID(ctx, medium, address)
	if err != nil {
		return "", err
	}
	if userID == "" {
		return "", httpx.Forbidden("Invalid username or password")
	}
	return userID, nil
}

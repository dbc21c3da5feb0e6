package client

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// StageEmailIdentity is the UIA stage proving control of an email address
// through a validated session (threepid_creds).
const StageEmailIdentity = "m.login.email.identity"

// emailIdentityAuth is the m.login.email.identity auth dict; threepidCreds
// is the spelling of older clients.
type emailIdentityAuth struct {
	ThreePIDCreds *threePIDCreds `json:"threepid_creds"`
	Legacy        *threePIDCreds `json:"threepidCreds"`
}

type threePIDCreds struct {
	SID          string `json:"sid"`
	ClientSecret string `json:"client_secret"`
}

// resetPassword answers POST /_matrix/client/v3/account/password without an
// access token: the forgotten-password flow, authenticated by a validated
// email session (m.login.email.identity) instead of the old password. With
// email not configured it answers 401 M_MISSING_TOKEN, as before.
func (h *accountsAPI) resetPassword(r *http.Request, newPassword string, logoutDevices *bool, auth json.RawMessage) (any, error) {
	if h.cfg.Mailer == nil {
		return nil, httpx.MissingToken()
	}
	spec := UIASpec{
		Flows:  []UIAFlow{{Stages: []string{StageEmailIdentity}}},
		Stages: map[string]UIAStage{StageEmailIdentity: h.emailIdentityStage},
	}
	sess, challenge, err := h.uia.Check(r, auth, spec)
	if err != nil {
		return nil, err
	}
	newPassword = keepSessionValue(sess, "new_password", newPassword)
	if challenge != nil {
		return *challenge, nil
	}
	if newPassword == "" {
		return nil, httpx.MissingParam("Missing new_password")
	}
	logout := logoutDevices == nil || *logoutDevices
	userID, err := h.acc.ResetPassword(r.Context(), sess.Get("threepid_sid"), sess.Get("threepid_client_secret"), newPassword, logout)
	if err != nil {
		return nil, err
	}
	h.uia.Done(sess)
	zerolog.Ctx(r.Context()).Info().Stringer("user_id", userID).Bool("logout_devices", logout).
		Msg("Password reset through a validated email address")
	return httpx.Empty, nil
}

// emailIdentityStage completes m.login.email.identity when the session
// named by threepid_creds was validated and its address belongs to an
// account. A session not validated yet answers 401 M_UNAUTHORIZED (as
// Synapse does), which clients such as Element treat as "open the link in
// the email first" and retry.
func (h *accountsAPI) emailIdentityStage(r *http.Request, sess *UIASession, raw json.RawMessage) error {
	var a emailIdentityAuth
	if err := httpx.DecodeBytes(raw, &a); err != nil {
		return err
	}
	creds := a.ThreePIDCreds
	if creds == nil {
		creds = a.Legacy
	}
	if creds == nil || creds.SID == "" || creds.ClientSecret == "" {
		return httpx.MissingParam("Missing threepid_creds (sid and client_secret)")
	}
	medium, address, _, err := h.acc.ValidatedThreePID(r.Context(), creds.SID, creds.ClientSecret)
	var me *httpx.Error
	if errors.As(err, &me) {
		return httpx.NewError(http.StatusUnauthorized, "M_UNAUTHORIZED",
			"The email address has not been validated: open the link in the email, then try again")
	} else if err != nil {
		return err
	}
	owner, err := h.acc.UserByThreePID(r.Context(), medium, address)
	if err != nil {
		return err
	}
	if owner == "" {
		return httpx.NewError(http.StatusBadRequest, "M_THREEPID_NOT_FOUND", "No account on this server has this email address")
	}
	sess.Set("threepid_sid", creds.SID)
	sess.Set("threepid_client_secret", creds.ClientSecret)
	return nil
}

// GET /_synapse/client/password_reset/email/submit_token and
// GET /_matrix/client/unstable/add_threepid/email/submit_token are the links
// in validation emails: they validate the session and show a small page
// (or redirect to the client's next_link).
func (h *accountsAPI) submitEmailToken(r *http.Request) (any, error) {
	q := r.URL.Query()
	next, err := h.acc.SubmitValidationToken(r.Context(), q.Get("sid"), q.Get("client_secret"), q.Get("token"))
	if err != nil {
		var me *httpx.Error
		if !errors.As(err, &me) {
			zerolog.Ctx(r.Context()).Err(err).Msg("Validating an email token failed")
			return htmlPage(http.StatusInternalServerError, "Something went wrong",
				"The server could not check this link. Try again in a moment."), nil
		}
		return htmlPage(me.Status, "This link does not work",
			me.Message+". Ask your app to send a new email and use the newest link."), nil
	}
	if next != "" {
		return httpx.Writer(func(w http.ResponseWriter) { http.Redirect(w, r, next, http.StatusFound) }), nil
	}
	return htmlPage(http.StatusOK, "Email address validated",
		"Your email address has been validated. Go back to your app to continue."), nil
}

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:32em;margin:4em auto;padding:0 1em;line-height:1.5}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

func htmlPage(status int, title, text string) httpx.Writer {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.WriteHeader(status)
		_ = pageTemplate.Execute(w, struct{ Title, Text string }{title, text})
	}
}

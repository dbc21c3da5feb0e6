package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/ratelimit"
)

// Stage types of user-interactive authentication used here.
const (
	StagePassword          = "m.login.password"
	StageDummy             = "m.login.dummy"
	StageRegistrationToken = "m.login.registration_token"
)

const (
	uiaSessionTTL  = 15 * time.Minute
	uiaMaxSessions = 10_000
)

// UIAFlow is one way to complete user-interactive authentication.
type UIAFlow struct {
	Stages []string `json:"stages"`
}

// UIAStage verifies one completed stage. auth is the client's auth dict,
// already known to have this stage's type. It returns an *httpx.Error for a
// failed attempt (rendered in the 401 body) or another error for internal
// failures.
type UIAStage func(r *http.Request, sess *UIASession, auth json.RawMessage) error

// UIASpec is what one endpoint requires.
type UIASpec struct {
	Flows  []UIAFlow
	Params map[string]any
	// Stages verifies stage types other than the built-in m.login.password
	// (which checks the caller's own password) and m.login.dummy.
	Stages map[string]UIAStage
}

// UIA runs the spec's user-interactive authentication for any endpoint:
// it hands out sessions, records completed stages and answers 401 with
// {flows, params, session, completed} until a flow is done. Sessions live in
// memory for 15 minutes and are bound to the user and the endpoint that
// started them, so a completed session cannot authorise another operation.
type UIA struct {
	acc *accounts.Service
	// Failed, when set, counts failed password stages per user
	// (rc_login.failed_attempts).
	Failed *ratelimit.Limiter
	now    func() time.Time

	mu       sync.Mutex
	sessions map[string]*UIASession
}

// UIASession is one user-interactive authentication in progress.
type UIASession struct {
	ID        string
	owner     id.UserID
	endpoint  string
	created   time.Time
	completed []string
	values    map[string]string
	uia       *UIA
}

// NewUIA returns a UIA whose password stage checks passwords with acc.
func NewUIA(acc *accounts.Service) *UIA {
	return &UIA{acc: acc, now: time.Now, sessions: make(map[string]*UIASession)}
}

// Set stores a value for later requests of the session, such as parameters
// the client sent only with its first request.
func (s *UIASession) Set(key, value string) {
	s.uia.mu.Lock()
	defer s.uia.mu.Unlock()
	s.values[key] = value
}

// Get returns a value stored with Set.
func (s *UIASession) Get(key string) string {
	s.uia.mu.Lock()
	defer s.uia.mu.Unlock()
	return s.values[key]
}

// uiaBody is the 401 body; errcode and error appear only after a failed
// attempt, since clients (matrix-js-sdk) treat an errcode on the first
// challenge as a failure to show the user.
type uiaBody struct {
	ErrCode   string         `json:"errcode,omitempty"`
	Error     string         `json:"error,omitempty"`
	Flows     []UIAFlow      `json:"flows"`
	Params    map[string]any `json:"params"`
	Session   string         `json:"session"`
	Completed []string       `json:"completed,omitempty"`
}

// uiaAuthDict is the part of the client's auth dict every stage has.
type uiaAuthDict struct {
	Type    string `json:"type"`
	Session string `json:"session"`
}

// Check runs one round of user-interactive authentication for the request
// whose body carried auth (the raw "auth" field, possibly empty). Use it as
//
//	sess, challenge, err := h.uia.Check(r, req.Auth, spec)
//	if err != nil { return nil, err }
//	if challenge != nil { return *challenge, nil }
//	... perform the operation ...
//	h.uia.Done(sess)
//
// A non-nil challenge is the 401 to send; otherwise a flow is complete.
// sess is returned with a challenge too, so a handler can keep request
// parameters for the session's later requests (UIASession.Set).
func (u *UIA) Check(r *http.Request, auth json.RawMessage, spec UIASpec) (*UIASession, *httpx.Response, error) {
	var dict uiaAuthDict
	if raw := bytes.TrimSpace(auth); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := httpx.DecodeBytes(raw, &dict); err != nil {
			return nil, nil, err
		}
	} else {
		auth = nil
	}
	sess, err := u.session(r, dict.Session)
	if err != nil {
		return nil, nil, err
	}
	if dict.Type != "" {
		if err := u.attempt(r, sess, dict.Type, auth, spec); err != nil {
			var me *httpx.Error
			if !errors.As(err, &me) || me.Status == http.StatusTooManyRequests {
				return nil, nil, err
			}
			return sess, u.challenge(sess, spec, me), nil
		}
	}
	if u.flowDone(sess, spec) {
		return sess, nil, nil
	}
	return sess, u.challenge(sess, spec, nil), nil
}

// Done ends a session whose operation succeeded, so it cannot be replayed.
func (u *UIA) Done(sess *UIASession) {
	if sess == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.sessions, sess.ID)
}

func uiaEndpoint(r *http.Request) string {
	// The same handler serves /r0/ and /v3/; a session started on one may
	// finish on the other.
	return r.Method + " " + strings.Replace(r.URL.Path, "/_matrix/client/r0/", "/_matrix/client/v3/", 1)
}

func (u *UIA) session(r *http.Request, sessionID string) (*UIASession, error) {
	var owner id.UserID
	if c := httpx.CallerFrom(r); c != nil {
		owner = c.UserID
	}
	endpoint := uiaEndpoint(r)
	now := u.now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if sessionID == "" {
		u.sweep(now)
		sess := &UIASession{ID: newSessionID(), owner: owner, endpoint: endpoint, created: now, values: map[string]string{}, uia: u}
		u.sessions[sess.ID] = sess
		return sess, nil
	}
	sess := u.sessions[sessionID]
	if sess == nil || now.Sub(sess.created) > uiaSessionTTL {
		return nil, httpx.BadRequest("Unknown session ID: %s", sessionID)
	}
	if sess.owner != owner || sess.endpoint != endpoint {
		return nil, httpx.Forbidden("Requested operation has changed during the UI authentication session")
	}
	return sess, nil
}

// sweep drops expired sessions, and arbitrary ones beyond the cap.
func (u *UIA) sweep(now time.Time) {
	if len(u.sessions) < uiaMaxSessions/2 {
		return
	}
	for k, s := range u.sessions {
		if now.Sub(s.created) > uiaSessionTTL || len(u.sessions) >= uiaMaxSessions {
			delete(u.sessions, k)
		}
	}
}

func newSessionID() string {
	buf := make([]byte, 18)
	_, _ = rand.Read(buf)
	return base64.RawURLEncoding.EncodeToString(buf)
}

func (u *UIA) attempt(r *http.Request, sess *UIASession, stage string, auth json.RawMessage, spec UIASpec) error {
	offered := slices.ContainsFunc(spec.Flows, func(f UIAFlow) bool { return slices.Contains(f.Stages, stage) })
	if !offered {
		return httpx.NewError(http.StatusBadRequest, "M_UNRECOGNIZED", "Login type %q is not offered here", stage)
	}
	verify := spec.Stages[stage]
	switch {
	case verify != nil:
	case stage == StageDummy:
		verify = func(*http.Request, *UIASession, json.RawMessage) error { return nil }
	case stage == StagePassword:
		verify = u.passwordStage
	default:
		return httpx.NewError(http.StatusBadRequest, "M_UNRECOGNIZED", "Unsupported login type %q", stage)
	}
	if err := verify(r, sess, auth); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !slices.Contains(sess.completed, stage) {
		sess.completed = append(sess.completed, stage)
	}
	return nil
}

func (u *UIA) flowDone(sess *UIASession, spec UIASpec) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, f := range spec.Flows {
		done := true
		for _, st := range f.Stages {
			done = done && slices.Contains(sess.completed, st)
		}
		if done {
			return true
		}
	}
	return false
}

func (u *UIA) challenge(sess *UIASession, spec UIASpec, failure *httpx.Error) *httpx.Response {
	body := uiaBody{Flows: spec.Flows, Params: spec.Params, Session: sess.ID}
	if body.Params == nil {
		body.Params = map[string]any{}
	}
	if body.Flows == nil {
		body.Flows = []UIAFlow{}
	}
	if failure != nil {
		body.ErrCode, body.Error = failure.ErrCode, failure.Message
	}
	u.mu.Lock()
	body.Completed = slices.Clone(sess.completed)
	u.mu.Unlock()
	return &httpx.Response{Status: http.StatusUnauthorized, Body: body}
}

// uiaPasswordAuth is the m.login.password auth dict.
type uiaPasswordAuth struct {
	Identifier *loginIdentifier `json:"identifier"`
	User       string           `json:"user"`
	Password   string           `json:"password"`
}

// passwordStage checks the caller's own password: the identifier, if
// given, must name the caller, so one user's session cannot be completed
// with another user's password.
func (u *UIA) passwordStage(r *http.Request, sess *UIASession, raw json.RawMessage) error {
	var pa uiaPasswordAuth
	if err := httpx.DecodeBytes(raw, &pa); err != nil {
		return err
	}
	if sess.owner == "" {
		return httpx.Forbidden("Password authentication needs an access token here")
	}
	if pa.Identifier != nil || pa.User != "" {
		userID, err := resolveIdentifier(r.Context(), u.acc, pa.Identifier, pa.User)
		if err != nil {
			return err
		}
		if userID != sess.owner {
			return httpx.Forbidden("Invalid username or password")
		}
	}
	if pa.Password == "" {
		return httpx.MissingParam("Missing password")
	}
	return checkPasswordLimited(r.Context(), u.acc, u.Failed, sess.owner, pa.Password)
}

// checkPasswordLimited checks a password under rc_login.failed_attempts:
// refused outright while the user's failure bucket is empty, and a wrong
// password takes from it.
func checkPasswordLimited(ctx context.Context, acc *accounts.Service, failed *ratelimit.Limiter, userID id.UserID, password string) error {
	key := string(userID)
	if wait, ok := failed.Check(key); !ok {
		return ratelimit.Exceeded(wait)
	}
	err := acc.CheckPassword(ctx, userID, password)
	var me *httpx.Error
	if errors.As(err, &me) && me.ErrCode == "M_FORBIDDEN" {
		failed.Allow(key)
	}
	return err
}

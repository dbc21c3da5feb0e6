package httpx

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"
)

// Caller is the authenticated user behind a request.
type Caller struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	IsAdmin  bool
	IsGuest  bool
	// AppServiceID is set when the request carried an appservice's as_token;
	// UserID is then the asserted user (?user_id=) or the sender_localpart.
	AppServiceID string
	// RateLimited is false for admins and appservices registered with
	// rate_limited: false.
	RateLimited bool
	// TokenID identifies the access token (for logout); empty for appservices.
	TokenID string
}

// Authenticator resolves a request's access token. It returns an *Error
// (M_MISSING_TOKEN, M_UNKNOWN_TOKEN, M_FORBIDDEN) when it cannot.
type Authenticator interface {
	Authenticate(r *http.Request) (*Caller, error)
}

type callerKey struct{}

// CallerFrom returns the caller stored by an authenticated route, or nil.
func CallerFrom(r *http.Request) *Caller {
	c, _ := r.Context().Value(callerKey{}).(*Caller)
	return c
}

// WithCaller returns r carrying c (used by tests and middleware).
func WithCaller(r *http.Request, c *Caller) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
}

// AccessToken extracts the token from the Authorization header or the
// deprecated access_token query parameter.
func AccessToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
	}
	return r.URL.Query().Get("access_token")
}

// Middleware wraps a Handler (rate limits, admin checks).
type Middleware func(Handler) Handler

// Router registers Matrix endpoints on a ServeMux. Patterns are Go 1.22
// ServeMux patterns ("GET /_matrix/client/v3/rooms/{roomId}/state"); a
// client pattern under /v3/ is also served under the legacy /r0/.
type Router struct {
	Mux  *http.ServeMux
	Auth Authenticator
	Log  zerolog.Logger
}

// NewRouter returns a router whose unknown paths answer M_UNRECOGNIZED.
func NewRouter(auth Authenticator, log zerolog.Logger) *Router {
	rt := &Router{Mux: http.NewServeMux(), Auth: auth, Log: log}
	rt.Mux.Handle("/", Handler(func(r *http.Request) (any, error) {
		if rt.otherMethodMatches(r) {
			return nil, MethodNotAllowed()
		}
		return nil, Unrecognized("Unrecognized request: %s %s", r.Method, r.URL.Path)
	}))
	return rt
}

// otherMethodMatches reports whether the path is served for another method,
// so the catch-all can answer 405 as the spec asks instead of 404.
func (rt *Router) otherMethodMatches(r *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := rt.Mux.Handler(probe); pattern != "/" && pattern != "" {
			return true
		}
	}
	return false
}

// Public registers an endpoint that needs no access token.
func (rt *Router) Public(pattern string, h Handler, mw ...Middleware) {
	rt.handle(pattern, chain(h, mw))
}

// Authed registers an endpoint that requires an access token; the handler
// finds the caller with CallerFrom.
func (rt *Router) Authed(pattern string, h Handler, mw ...Middleware) {
	rt.handle(pattern, rt.requireAuth(chain(h, mw)))
}

// OptionalAuth registers an endpoint where a token is checked if present.
func (rt *Router) OptionalAuth(pattern string, h Handler, mw ...Middleware) {
	inner := chain(h, mw)
	rt.handle(pattern, func(r *http.Request) (any, error) {
		if AccessToken(r) == "" {
			return inner(r)
		}
		return rt.requireAuth(inner)(r)
	})
}

func (rt *Router) requireAuth(h Handler) Handler {
	return func(r *http.Request) (any, error) {
		c, err := rt.Auth.Authenticate(r)
		if err != nil {
			return nil, err
		}
		return h(WithCaller(r, c))
	}
}

func chain(h Handler, mw []Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

func (rt *Router) handle(pattern string, h Handler) {
	rt.Mux.Handle(pattern, h)
	if strings.Contains(pattern, "/_matrix/client/v3/") {
		rt.Mux.Handle(strings.Replace(pattern, "/_matrix/client/v3/", "/_matrix/client/r0/", 1), h)
	}
}

// ServeHTTP adds CORS headers (Element Web and other browser clients call
// from another origin), answers preflights, and logs each request.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	hdr.Set("Access-Control-Allow-Headers", "Origin, X-Requested-With, Content-Type, Accept, Authorization, Date")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: 200}
	r = r.WithContext(rt.Log.WithContext(r.Context()))
	rt.Mux.ServeHTTP(sw, r)
	if ev := rt.Log.Debug(); ev.Enabled() || sw.status >= 500 {
		if sw.status >= 500 {
			ev = rt.Log.Warn()
		}
		ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", sw.status).
			Dur("took", time.Since(start)).Msg("HTTP request")
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets long responses stream through the wrapper.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

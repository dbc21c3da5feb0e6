package httpx_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

type noAuth struct{}

func (noAuth) Authenticate(r *http.Request) (*httpx.Caller, error) {
	if httpx.AccessToken(r) == "good" {
		return &httpx.Caller{UserID: "@a:x"}, nil
	}
	if httpx.AccessToken(r) == "" {
		return nil, httpx.MissingToken()
	}
	return nil, httpx.UnknownToken()
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func TestRouterErrors(t *testing.T) {
	rt := httpx.NewRouter(noAuth{}, zerolog.Nop())
	rt.Authed("POST /_matrix/client/v3/thing", func(r *http.Request) (any, error) {
		var body struct {
			N int `json:"n"`
		}
		if err := httpx.Decode(r, &body); err != nil {
			return nil, err
		}
		return map[string]any{"n": body.N, "user": httpx.CallerFrom(r).UserID}, nil
	})
	rt.Public("GET /_matrix/client/v3/panic", func(r *http.Request) (any, error) { panic("boom") })
	auth := []string{"Authorization", "Bearer good"}
	cases := []struct {
		method, path, body string
		hdr                []string
		status             int
		errcode            string
	}{
		{"POST", "/_matrix/client/v3/thing", `{"n":1}`, nil, 401, "M_MISSING_TOKEN"},
		{"POST", "/_matrix/client/v3/thing", `{"n":1}`, []string{"Authorization", "Bearer bad"}, 401, "M_UNKNOWN_TOKEN"},
		{"POST", "/_matrix/client/v3/thing", `{"n":`, auth, 400, "M_NOT_JSON"},
		{"POST", "/_matrix/client/v3/thing", `{"n":"x"}`, auth, 400, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/thing", `[1]`, auth, 400, "M_BAD_JSON"},
		{"POST", "/_matrix/client/v3/thing", `{"n":` + strings.Repeat("1", httpx.MaxJSONBody) + `}`, auth, 413, "M_TOO_LARGE"},
		{"GET", "/_matrix/client/v3/nope", ``, nil, 404, "M_UNRECOGNIZED"},
		{"GET", "/_matrix/client/v3/thing", ``, nil, 405, "M_UNRECOGNIZED"},
		{"GET", "/_matrix/client/v3/panic", ``, nil, 500, "M_UNKNOWN"},
	}
	for _, c := range cases {
		status, body := do(t, rt, c.method, c.path, c.body, c.hdr...)
		if status != c.status || body["errcode"] != c.errcode {
			t.Errorf("%s %s %.20q: got %d %v, want %d %s", c.method, c.path, c.body, status, body, c.status, c.errcode)
		}
	}
	status, body := do(t, rt, "POST", "/_matrix/client/r0/thing", `{"n":7}`, auth...)
	if status != 200 || body["n"] != 7.0 || body["user"] != "@a:x" {
		t.Fatalf("r0 alias: %d %v", status, body)
	}
	req := httptest.NewRequest("OPTIONS", "/_matrix/client/v3/thing", nil)
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("CORS preflight: %d %v", rec.Code, rec.Header())
	}
}

func TestLimitExceededHasRetryAfter(t *testing.T) {
	rec := httptest.NewRecorder()
	httpx.WriteError(rec, httpx.LimitExceeded(1500))
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != 429 || body["retry_after_ms"] != 1500.0 || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("got %d %v %v", rec.Code, body, rec.Header())
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `[`, `"x"`, ``, `{"n":1e999}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v struct {
			N int            `json:"n"`
			S string         `json:"s"`
			M map[string]any `json:"m"`
		}
		err := httpx.DecodeBytes(data, &v)
		if err == nil {
			return
		}
		e, ok := err.(*httpx.Error)
		if !ok || e.Status != 400 {
			t.Fatalf("decode error %v is not a 400 Matrix error", err)
		}
	})
}

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// acctEnv is a homeserver serving only the account endpoints, on a real
// database.
type acctEnv struct {
	t   testing.TB
	db  *storage.DB
	acc *accounts.Service
	srv *httptest.Server
	uia *UIA
}

func newAcctEnv(t testing.TB, db *storage.DB, cfg AccountsConfig, limits AccountLimits) *acctEnv {
	t.Helper()
	acc := accounts.New(db, "example.org", accounts.Options{BcryptCost: bcrypt.MinCost})
	rt := httpx.NewRouter(acc, zerolog.Nop())
	uia := RegisterAccounts(rt, acc, cfg, limits)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return &acctEnv{t: t, db: db, acc: acc, srv: srv, uia: uia}
}

// acctResp is a decoded response.
type acctResp struct {
	Status int
	Body   map[string]any
	Raw    []byte
	Header http.Header
}

func (r acctResp) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// do sends body (a string is sent verbatim, anything else as JSON).
func (e *acctEnv) do(method, path, token string, body any) acctResp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := acctResp{Status: resp.StatusCode, Raw: raw, Header: resp.Header}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		e.t.Fatalf("%s %s: non-JSON response %q", method, path, raw)
	}
	return out
}

// want fails unless the response has status and, when errcode is not
// empty, that errcode.
func (r acctResp) want(t testing.TB, status int, errcode string) acctResp {
	t.Helper()
	if r.Status != status || r.str("errcode") != errcode {
		t.Fatalf("got %d %s, want %d %q", r.Status, r.Raw, status, errcode)
	}
	return r
}

func (e *acctEnv) register(localpart, password string) id.UserID {
	e.t.Helper()
	uid, err := e.acc.Register(context.Background(), accounts.RegisterParams{Localpart: localpart, Password: password})
	if err != nil {
		e.t.Fatal(err)
	}
	return uid
}

func (e *acctEnv) login(user, password, deviceID string) acctResp {
	e.t.Helper()
	body := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": user},
		"password":   password,
	}
	if deviceID != "" {
		body["device_id"] = deviceID
	}
	return e.do("POST", "/_matrix/client/v3/login", "", body)
}

func (e *acctEnv) mustLogin(user, password, deviceID string) string {
	e.t.Helper()
	r := e.login(user, password, deviceID).want(e.t, 200, "")
	return r.str("access_token")
}

func pwAuth(user, password, session string) map[string]any {
	a := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]string{"type": "m.id.user", "user": user},
		"password":   password,
	}
	if session != "" {
		a["session"] = session
	}
	return a
}

var openRegistration = AccountsConfig{EnableRegistration: true, PublicBaseURL: "https://matrix.example.org"}

package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/sync/synctest"
)

// syncEnv is the real sync stack (synctest) behind an httpx.Router with
// RegisterSync. Access tokens are user IDs; every caller uses device DEV.
type syncEnv struct {
	*synctest.Env
	rt *httpx.Router
}

type syncAuth struct{}

func (syncAuth) Authenticate(r *http.Request) (*httpx.Caller, error) {
	tok := httpx.AccessToken(r)
	if tok == "" {
		return nil, httpx.MissingToken()
	}
	return &httpx.Caller{UserID: id.UserID(tok), DeviceID: "DEV"}, nil
}

func newSyncEnv(t *testing.T, db *storage.DB) *syncEnv {
	e := synctest.New(t, db)
	rt := httpx.NewRouter(syncAuth{}, zerolog.Nop())
	RegisterSync(rt, e.Sync)
	return &syncEnv{Env: e, rt: rt}
}

func forEachSyncDB(t *testing.T, fn func(t *testing.T, e *syncEnv)) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) { fn(t, newSyncEnv(t, db)) })
}

type syncResp struct {
	status int
	body   gjson.Result
}

// do sends a request as user; body is JSON-encoded unless it is a string.
func (e *syncEnv) do(method, path string, as id.UserID, body any) syncResp {
	e.T.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			e.T.Fatal(err)
		}
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(data))
	if as != "" {
		req.Header.Set("Authorization", "Bearer "+string(as))
	}
	rec := httptest.NewRecorder()
	e.rt.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		e.T.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
	}
	if !json.Valid(rec.Body.Bytes()) {
		e.T.Fatalf("%s %s: invalid JSON %q", method, path, rec.Body.String())
	}
	return syncResp{status: rec.Code, body: gjson.ParseBytes(rec.Body.Bytes())}
}

func (r syncResp) ok(t *testing.T) gjson.Result {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("want 200, got %d %s", r.status, r.body.Raw)
	}
	return r.body
}

func (r syncResp) fails(t *testing.T, status int, errcode string) {
	t.Helper()
	if r.status != status || r.body.Get("errcode").Str != errcode {
		t.Fatalf("want %d %s, got %d %s", status, errcode, r.status, r.body.Raw)
	}
}

func syncPath(format string, parts ...string) string {
	args := make([]any, len(parts))
	for i, p := range parts {
		args[i] = url.PathEscape(p)
	}
	return "/_matrix/client/v3" + fmt.Sprintf(format, args...)
}

func syncKey(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', '*', '?', '|', '#', '@', '\\', '!', '=', '<', '>', '%', ':':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

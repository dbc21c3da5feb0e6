package client

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/config"
)

func voipRequest(t *testing.T, turn TurnConfig, caller *httpx.Caller) (int, gjson.Result) {
	t.Helper()
	auth := extrasAuth{"tok": caller}
	rt := httpx.NewRouter(auth, zerolog.Nop())
	RegisterVoIP(rt, turn)
	req := httptest.NewRequest("GET", "/_matrix/client/v3/voip/turnServer", nil)
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, req)
	return rec.Code, gjson.ParseBytes(rec.Body.Bytes())
}

func TestVoIPTurnServer(t *testing.T) {
	alice := &httpx.Caller{UserID: "@alice:test.local"}
	guest := &httpx.Caller{UserID: "@123:test.local", IsGuest: true}
	now := time.Unix(1700000000, 0)
	uris := []string{"turn:turn.test.local:3478?transport=udp", "turns:turn.test.local:5349"}
	shared := TurnConfig{URIs: uris, SharedSecret: "sekrit", UserLifetime: time.Hour, Now: func() time.Time { return now }}

	code, body := voipRequest(t, shared, alice)
	if code != 200 {
		t.Fatalf("turnServer: %d %s", code, body.Raw)
	}
	user, pass := body.Get("username").Str, body.Get("password").Str
	if user != "1700003600:@alice:test.local" || body.Get("ttl").Int() != 3600 || body.Get("uris").Raw != `["turn:turn.test.local:3478?transport=udp","turns:turn.test.local:5349"]` {
		t.Fatalf("credentials = %s", body.Raw)
	}
	// The value coturn computes for this username and secret (checked with Python's hmac).
	if pass != "ki9nV4YQ+jXaockOf5b2PvuVQkA=" {
		t.Fatalf("password = %q", pass)
	}
	mac := hmac.New(sha1.New, []byte("sekrit"))
	mac.Write([]byte(user))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); pass != want {
		t.Fatalf("password %q does not verify (want %q)", pass, want)
	}

	// The real clock: expiry is lifetime from now.
	live := shared
	live.Now = nil
	_, body = voipRequest(t, live, alice)
	exp, err := strconv.ParseInt(strings.SplitN(body.Get("username").Str, ":", 2)[0], 10, 64)
	if err != nil || exp < time.Now().Add(59*time.Minute).Unix() || exp > time.Now().Add(61*time.Minute).Unix() {
		t.Fatalf("expiry %d (%v) is not an hour away", exp, err)
	}

	static := TurnConfig{URIs: uris, Username: "u", Password: "p", UserLifetime: 2 * time.Hour}
	if _, body := voipRequest(t, static, alice); body.Get("username").Str != "u" || body.Get("password").Str != "p" || body.Get("ttl").Int() != 7200 {
		t.Fatalf("static credentials = %s", body.Raw)
	}
	for name, cfg := range map[string]TurnConfig{
		"nothing":       {},
		"no uris":       {SharedSecret: "s", UserLifetime: time.Hour},
		"no secret":     {URIs: uris, UserLifetime: time.Hour},
		"half static":   {URIs: uris, Username: "u", UserLifetime: time.Hour},
		"zero lifetime": {URIs: uris, SharedSecret: "s"},
	} {
		if code, body := voipRequest(t, cfg, alice); code != 200 || body.Raw != `{}` {
			t.Fatalf("%s: %d %s, want {}", name, code, body.Raw)
		}
	}

	if code, body := voipRequest(t, shared, guest); code != http.StatusForbidden || body.Get("errcode").Str != "M_GUEST_ACCESS_FORBIDDEN" {
		t.Fatalf("guest without turn_allow_guests: %d %s", code, body.Raw)
	}
	shared.AllowGuests = true
	if code, body := voipRequest(t, shared, guest); code != 200 || !strings.HasSuffix(body.Get("username").Str, ":@123:test.local") {
		t.Fatalf("guest with turn_allow_guests: %d %s", code, body.Raw)
	}
}

func TestVoIPTurnConfigFrom(t *testing.T) {
	c := config.Defaults()
	c.TurnURIs = []string{"turn:x"}
	c.TurnSharedSecret = "s"
	got := TurnConfigFrom(&c)
	if got.UserLifetime != time.Hour || !got.AllowGuests || got.SharedSecret != "s" || len(got.URIs) != 1 {
		t.Fatalf("TurnConfigFrom = %+v", got)
	}
}

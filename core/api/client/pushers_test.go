package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/pushers"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

const pushersPath = "/_matrix/client/v3/pushers"

// newPushersEnv serves the account and pusher endpoints, with pushers
// wired to device deletion as serve.go wires them.
func newPushersEnv(t *testing.T, db *storage.DB) *acctEnv {
	t.Helper()
	acc := accounts.New(db, "example.org", accounts.Options{BcryptCost: bcrypt.MinCost})
	p, err := pushers.New(t.Context(), db, pushers.Options{Blacklist: config.Defaults().IPRangeBlacklist}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	acc.OnDeviceChange(p.OnDeviceChange)
	acc.OnDeactivate(p.OnDeactivate)
	rt := httpx.NewRouter(acc, zerolog.Nop())
	uia := RegisterAccounts(rt, acc, openRegistration, AccountLimits{})
	RegisterPushers(rt, p)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return &acctEnv{t: t, db: db, acc: acc, srv: srv, uia: uia}
}

func pusherBody(appID, pushkey, deviceName string, extra map[string]any) map[string]any {
	b := map[string]any{
		"kind": "http", "app_id": appID, "pushkey": pushkey, "app_display_name": "Element X",
		"device_display_name": deviceName, "lang": "en-GB", "profile_tag": "tag",
		"data": map[string]any{"url": "https://push.example.org/_matrix/push/v1/notify", "format": "event_id_only"},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// listPushers returns "app_id/pushkey/device_display_name" of each pusher.
func listPushers(t *testing.T, e *acctEnv, token string) []string {
	t.Helper()
	r := e.do("GET", pushersPath, token, nil).want(t, 200, "")
	var body struct {
		Pushers []pushers.Pusher `json:"pushers"`
	}
	if err := json.Unmarshal(r.Raw, &body); err != nil || body.Pushers == nil {
		t.Fatalf("GET /pushers = %s (%v)", r.Raw, err)
	}
	out := []string{}
	for _, p := range body.Pushers {
		out = append(out, p.AppID+"/"+p.PushKey+"/"+p.DeviceDisplayName)
	}
	return out
}

func wantPushers(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pushers = %v, want %v", got, want)
	}
}

func TestPushersSetListAppendDelete(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newPushersEnv(t, db)
		e.register("alice", "apw")
		e.register("bob", "bpw")
		alice := e.mustLogin("alice", "apw", "APHONE")
		bob := e.mustLogin("bob", "bpw", "BPHONE")

		wantPushers(t, listPushers(t, e, bob))
		e.do("POST", pushersPath+"/set", bob, pusherBody("im.app.android", "key1", "Pixel", nil)).want(t, 200, "")
		r := e.do("GET", pushersPath, bob, nil).want(t, 200, "")
		got := r.Body["pushers"].([]any)[0].(map[string]any)
		want := map[string]any{"kind": "http", "app_id": "im.app.android", "pushkey": "key1", "app_display_name": "Element X",
			"device_display_name": "Pixel", "lang": "en-GB", "profile_tag": "tag",
			"data": map[string]any{"url": "https://push.example.org/_matrix/push/v1/notify", "format": "event_id_only"}}
		if a, b := mustJSON(t, got), mustJSON(t, want); a != b {
			t.Fatalf("pusher = %s, want %s", a, b)
		}

		// The same app_id and pushkey updates the pusher in place.
		e.do("POST", pushersPath+"/set", bob, pusherBody("im.app.android", "key1", "Pixel 9", nil)).want(t, 200, "")
		e.do("POST", pushersPath+"/set", bob, pusherBody("im.app.android", "key2", "Tablet", nil)).want(t, 200, "")
		wantPushers(t, listPushers(t, e, bob), "im.app.android/key1/Pixel 9", "im.app.android/key2/Tablet")

		// Without append, the pushkey moves to alice: the phone changed hands.
		e.do("POST", pushersPath+"/set", alice, pusherBody("im.app.android", "key1", "Pixel", nil)).want(t, 200, "")
		wantPushers(t, listPushers(t, e, bob), "im.app.android/key2/Tablet")
		wantPushers(t, listPushers(t, e, alice), "im.app.android/key1/Pixel")
		// With append, both users keep it.
		e.do("POST", pushersPath+"/set", bob, pusherBody("im.app.android", "key1", "Shared", map[string]any{"append": true})).want(t, 200, "")
		wantPushers(t, listPushers(t, e, bob), "im.app.android/key2/Tablet", "im.app.android/key1/Shared")
		wantPushers(t, listPushers(t, e, alice), "im.app.android/key1/Pixel")

		// kind null deletes only the caller's pusher; deleting one that
		// does not exist is not an error.
		e.do("POST", pushersPath+"/set", bob, map[string]any{"kind": nil, "app_id": "im.app.android", "pushkey": "key1"}).want(t, 200, "")
		e.do("POST", pushersPath+"/set", bob, map[string]any{"kind": nil, "app_id": "im.app.android", "pushkey": "nope"}).want(t, 200, "")
		wantPushers(t, listPushers(t, e, bob), "im.app.android/key2/Tablet")
		wantPushers(t, listPushers(t, e, alice), "im.app.android/key1/Pixel")

		e.do("GET", pushersPath, "", nil).want(t, 401, "M_MISSING_TOKEN")
	})
}

func TestPushersGoWithTheirDevice(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newPushersEnv(t, db)
		e.register("bob", "bpw")
		phone := e.mustLogin("bob", "bpw", "PHONE")
		tablet := e.mustLogin("bob", "bpw", "TABLET")
		laptop := e.mustLogin("bob", "bpw", "LAPTOP")
		e.do("POST", pushersPath+"/set", phone, pusherBody("app", "phone-key", "Phone", nil)).want(t, 200, "")
		e.do("POST", pushersPath+"/set", tablet, pusherBody("app", "tablet-key", "Tablet", nil)).want(t, 200, "")
		wantPushers(t, listPushers(t, e, laptop), "app/phone-key/Phone", "app/tablet-key/Tablet")

		// Logging out deletes the device and with it its pusher.
		e.do("POST", "/_matrix/client/v3/logout", phone, nil).want(t, 200, "")
		wantPushers(t, listPushers(t, e, laptop), "app/tablet-key/Tablet")
		// So does deleting the device from another one.
		e.do("POST", "/_matrix/client/v3/delete_devices", laptop, map[string]any{
			"devices": []string{"TABLET"}, "auth": pwAuth("bob", "bpw", ""),
		}).want(t, 200, "")
		wantPushers(t, listPushers(t, e, laptop))
	})
}

func TestPushersSetRejectsBadInput(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newPushersEnv(t, db)
		e.register("bob", "bpw")
		bob := e.mustLogin("bob", "bpw", "PHONE")
		without := func(key string) map[string]any {
			b := pusherBody("app", "key", "Phone", nil)
			delete(b, key)
			return b
		}
		withURL := func(url any) map[string]any {
			return pusherBody("app", "key", "Phone", map[string]any{"data": map[string]any{"url": url}})
		}
		cases := []struct {
			name    string
			body    any
			errcode string
		}{
			{"empty", map[string]any{}, "M_MISSING_PARAM"},
			{"no kind", without("kind"), "M_MISSING_PARAM"},
			{"no app_id", without("app_id"), "M_MISSING_PARAM"},
			{"no pushkey", without("pushkey"), "M_MISSING_PARAM"},
			{"no lang", without("lang"), "M_MISSING_PARAM"},
			{"no app_display_name", without("app_display_name"), "M_MISSING_PARAM"},
			{"no device_display_name", without("device_display_name"), "M_MISSING_PARAM"},
			{"no data", without("data"), "M_MISSING_PARAM"},
			{"delete without pushkey", map[string]any{"kind": nil, "app_id": "app"}, "M_MISSING_PARAM"},
			{"no url", pusherBody("app", "key", "Phone", map[string]any{"data": map[string]any{"format": "event_id_only"}}), "M_MISSING_PARAM"},
			{"url not a string", withURL(42), "M_INVALID_PARAM"},
			{"url not a URL", withURL("not a url"), "M_INVALID_PARAM"},
			{"relative url", withURL("/_matrix/push/v1/notify"), "M_INVALID_PARAM"},
			{"ftp url", withURL("ftp://push.example.org/_matrix/push/v1/notify"), "M_INVALID_PARAM"},
			{"wrong path", withURL("https://push.example.org/notify"), "M_INVALID_PARAM"},
			{"path prefix only", withURL("https://push.example.org/_matrix/push/v1/notify/extra"), "M_INVALID_PARAM"},
			{"loopback", withURL("http://127.0.0.1:8080/_matrix/push/v1/notify"), "M_INVALID_PARAM"},
			{"private", withURL("https://10.1.2.3/_matrix/push/v1/notify"), "M_INVALID_PARAM"},
			{"mapped loopback", withURL("http://[::ffff:127.0.0.1]/_matrix/push/v1/notify"), "M_INVALID_PARAM"},
			{"data not an object", pusherBody("app", "key", "Phone", map[string]any{"data": "https://x"}), "M_INVALID_PARAM"},
			{"format not a string", pusherBody("app", "key", "Phone", map[string]any{"data": map[string]any{
				"url": "https://push.example.org/_matrix/push/v1/notify", "format": 1}}), "M_INVALID_PARAM"},
			{"huge data", pusherBody("app", "key", "Phone", map[string]any{"data": map[string]any{
				"url": "https://push.example.org/_matrix/push/v1/notify", "pad": strings.Repeat("x", 9000)}}), "M_INVALID_PARAM"},
			{"pushkey 513 bytes", pusherBody("app", strings.Repeat("k", 513), "Phone", nil), "M_INVALID_PARAM"},
			{"app_id 65 chars", pusherBody(strings.Repeat("a", 65), "key", "Phone", nil), "M_INVALID_PARAM"},
			{"long display name", pusherBody("app", "key", strings.Repeat("d", 600), nil), "M_INVALID_PARAM"},
			{"email kind", pusherBody("m.email", "bob@example.org", "Phone", map[string]any{"kind": "email"}), "M_INVALID_PARAM"},
			{"unknown kind", pusherBody("app", "key", "Phone", map[string]any{"kind": "pigeon"}), "M_INVALID_PARAM"},
			{"kind not a string", pusherBody("app", "key", "Phone", map[string]any{"kind": 7}), "M_INVALID_PARAM"},
			{"pushkey not a string", pusherBody("app", "key", "Phone", map[string]any{"pushkey": 7}), "M_BAD_JSON"},
			{"append not a bool", pusherBody("app", "key", "Phone", map[string]any{"append": "yes"}), "M_BAD_JSON"},
			{"not JSON", "{nope", "M_NOT_JSON"},
			{"JSON array", "[]", "M_BAD_JSON"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.do("POST", pushersPath+"/set", bob, c.body).want(t, 400, c.errcode)
			})
		}
		wantPushers(t, listPushers(t, e, bob))
		// The limits themselves are allowed; so is a plain http gateway
		// (NOTSPEC: the spec asks for https).
		e.do("POST", pushersPath+"/set", bob, pusherBody(strings.Repeat("a", 64), strings.Repeat("k", 512), "Phone",
			map[string]any{"data": map[string]any{"url": "http://push.example.org:8080/_matrix/push/v1/notify"}})).want(t, 200, "")
		if got := listPushers(t, e, bob); len(got) != 1 {
			t.Fatalf("pushers = %v", got)
		}
	})
}

func TestPushersRefuseGuests(t *testing.T) {
	db := storagetest.NewSQLite(t)
	p, err := pushers.New(t.Context(), db, pushers.Options{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	h := &pushersAPI{p: p}
	guest := &httpx.Caller{UserID: "@123:example.org", DeviceID: "G", IsGuest: true}
	body, _ := json.Marshal(pusherBody("app", "key", "Phone", nil))
	for _, call := range []func(*http.Request) (any, error){h.list, h.set} {
		r := httpx.WithCaller(httptest.NewRequest("POST", pushersPath+"/set", bytes.NewReader(body)), guest)
		_, err := call(r)
		var me *httpx.Error
		if !errors.As(err, &me) || me.ErrCode != "M_GUEST_ACCESS_FORBIDDEN" {
			t.Fatalf("guest: %v, want M_GUEST_ACCESS_FORBIDDEN", err)
		}
	}
	if ps, err := p.List(t.Context(), guest.UserID); err != nil || len(ps) != 0 {
		t.Fatalf("guest pushers = %v, %v", ps, err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

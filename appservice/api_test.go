package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/client"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/registration"
)

var _ client.AppServiceAPI = (*API)(nil)

// accountProfiles adapts accounts to rooms.Profiles, as serve.go does.
type accountProfiles struct{ acc *accounts.Service }

func (p accountProfiles) UserExists(ctx context.Context, u id.UserID) (bool, error) {
	return p.acc.UserExists(ctx, u)
}
func (p accountProfiles) Profile(ctx context.Context, u id.UserID) (string, string, error) {
	prof, err := p.acc.Profile(ctx, u)
	return prof.DisplayName, prof.AvatarURL, err
}

// queries answers the homeserver's user and alias queries.
type queries struct{}

func (queries) QueryAlias(a id.RoomAlias) bool { return a == "#bridge_q:test.local" }
func (queries) QueryUser(u id.UserID) bool     { return u == "@bridge_q:test.local" }

// TestAgainstMautrixAppservice runs a mautrix-go appservice against the
// real client API: it registers its bot and a ghost with
// m.login.application_service, pings the homeserver, sends as the ghost
// with ?user_id= and ?ts=, receives its own events back in transactions,
// answers user and alias queries and third-party lookups.
func TestAgainstMautrixAppservice(t *testing.T) {
	ctx := context.Background()
	db := storagetest.NewSQLite(t)
	f := newFakeAS(t)
	bridge := bridgeReg(t, f.srv.URL)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bridge crashed", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	closedPort := closedURL(t)
	extra := func(id, url string) *registration.Registration {
		ns, _ := registration.NewNamespace(`@`+id+`_.*`, true)
		r, err := registration.Generate(registration.GenerateOptions{ID: id, URL: url, SenderLocalpart: id + "bot",
			Namespaces: registration.Namespaces{Users: []registration.Namespace{ns}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	brokenReg, goneReg, urlless := extra("broken", broken.URL), extra("gone", closedPort), extra("urlless", "")
	regs := []*registration.Registration{bridge, brokenReg, goneReg, urlless}

	acc := accounts.New(db, server, accounts.Options{BcryptCost: bcrypt.MinCost})
	c := newCoreWith(t, db, regs, PusherOptions{}, acc, accountProfiles{acc})
	acc.SetAppServices(c.reg)
	rt := httpx.NewRouter(acc, zerolog.Nop())
	client.RegisterAccounts(rt, acc, client.AccountsConfig{}, client.AccountLimits{})
	client.RegisterRooms(rt, c.rooms)
	client.RegisterAppServices(rt, NewAPI(c.reg, c.p.Client(), c.p))
	hs := httptest.NewServer(rt)
	t.Cleanup(hs.Close)

	mx := f.start(bridge, hs.URL)
	mx.QueryHandler = queries{}
	mx.Router.HandleFunc("GET /_matrix/app/v1/thirdparty/protocol/fakenet", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"user_fields":["user"],"location_fields":["channel"],"icon":"mxc://x/y","field_types":{},
			"instances":[{"desc":"Fake network","network_id":"net1","fields":{}}]}`))
	})
	mx.Router.HandleFunc("GET /_matrix/app/v1/thirdparty/location/fakenet", func(w http.ResponseWriter, r *http.Request) {
		ch := r.URL.Query().Get("channel")
		_, _ = w.Write([]byte(`[{"alias":"#bridge_` + ch + `:test.local","protocol":"fakenet","fields":{"channel":"` + ch + `"}},{"bad":true}]`))
	})
	mx.Router.HandleFunc("GET /_matrix/app/v1/thirdparty/user", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[{"userid":"` + r.URL.Query().Get("userid") + `","protocol":"fakenet","fields":{"user":"a"}}]`))
	})

	bot := mx.BotIntent()
	if err := bot.EnsureRegistered(ctx); err != nil {
		t.Fatalf("bot registration: %v", err)
	}
	if _, err := mx.BotClient().AppservicePing(ctx, bridge.ID, "ping-1"); err != nil {
		t.Fatalf("ping: %v", err)
	}
	room, err := bot.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	g := mx.Intent(ghost)
	ts := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	sent, err := g.SendMessageEvent(ctx, room.RoomID, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "from the network"},
		mautrix.ReqSendEvent{Timestamp: ts})
	if err != nil {
		t.Fatalf("ghost send: %v", err)
	}
	stored, err := c.rooms.GetEvent(ctx, sent.EventID)
	if err != nil || stored.Sender() != ghost || stored.PDU.OriginServerTS != ts {
		t.Fatalf("stored %+v, %v: want sender %s at ts %d", stored, err, ghost, ts)
	}
	// The bridge hears its own ghost's message back, as mautrix parsed it.
	for timeout := time.After(10 * time.Second); ; {
		select {
		case ev := <-f.mxEvents:
			if ev.ID == sent.EventID {
				if ev.Sender != ghost || ev.Timestamp != ts || ev.Content.AsMessage().Body != "from the network" {
					t.Fatalf("echo %+v", ev)
				}
				goto echoed
			}
		case <-timeout:
			t.Fatal("the ghost's message never came back in a transaction")
		}
	}
echoed:

	// Acting outside the namespace is refused.
	status, body := call(t, hs.URL, "POST", "/_matrix/client/v3/join/"+string(room.RoomID)+"?user_id=@alice:test.local", bridge.ASToken, "{}")
	if status != 403 || gjson.Get(body, "errcode").Str != "M_FORBIDDEN" {
		t.Fatalf("join as alice: %d %s", status, body)
	}

	// Ping failures carry the spec's codes.
	pings := []struct {
		token, asID string
		status      int
		code        string
	}{
		{urlless.ASToken, "urlless", 400, "M_URL_NOT_SET"},
		{brokenReg.ASToken, "broken", 502, "M_BAD_STATUS"},
		{goneReg.ASToken, "gone", 502, "M_CONNECTION_FAILED"},
		{bridge.ASToken, "broken", 403, "M_FORBIDDEN"},
	}
	for _, p := range pings {
		status, body := call(t, hs.URL, "POST", "/_matrix/client/v1/appservice/"+p.asID+"/ping", p.token, `{"transaction_id":"x"}`)
		if status != p.status || gjson.Get(body, "errcode").Str != p.code {
			t.Errorf("ping %s: %d %s, want %d %s", p.asID, status, body, p.status, p.code)
		}
		if p.code == "M_BAD_STATUS" && (gjson.Get(body, "status").Int() != 500 || gjson.Get(body, "body").Str != "bridge crashed\n") {
			t.Errorf("M_BAD_STATUS lacks status and body: %s", body)
		}
	}

	// Queries for unknown users and aliases in the namespace.
	out := c.p.Client()
	if !out.QueryUser(ctx, "@bridge_q:test.local") || out.QueryUser(ctx, "@bridge_nobody:test.local") || out.QueryUser(ctx, alice) {
		t.Fatal("user queries answered wrongly")
	}
	if !out.QueryAlias(ctx, "#bridge_q:test.local") || out.QueryAlias(ctx, "#other:test.local") {
		t.Fatal("alias queries answered wrongly")
	}

	// Third-party lookups.
	status, body = call(t, hs.URL, "GET", "/_matrix/client/v3/thirdparty/protocols", bridge.ASToken, "")
	if status != 200 || gjson.Get(body, "fakenet.instances.0.instance_id").Str != "bridge|net1" || gjson.Get(body, "fakenet.icon").Str != "mxc://x/y" {
		t.Fatalf("protocols: %d %s", status, body)
	}
	status, body = call(t, hs.URL, "GET", "/_matrix/client/v3/thirdparty/protocol/nope", bridge.ASToken, "")
	if status != 404 || gjson.Get(body, "errcode").Str != "M_NOT_FOUND" {
		t.Fatalf("unknown protocol: %d %s", status, body)
	}
	status, body = call(t, hs.URL, "GET", "/_matrix/client/v3/thirdparty/location/fakenet?channel=general", bridge.ASToken, "")
	if status != 200 || gjson.Get(body, "#").Int() != 1 || gjson.Get(body, "0.alias").Str != "#bridge_general:test.local" {
		t.Fatalf("location lookup: %d %s", status, body)
	}
	status, body = call(t, hs.URL, "GET", "/_matrix/client/v3/thirdparty/user?userid=@bridge_a:test.local", bridge.ASToken, "")
	if status != 200 || gjson.Get(body, "0.fields.user").Str != "a" {
		t.Fatalf("user reverse lookup: %d %s", status, body)
	}
	status, body = call(t, hs.URL, "GET", "/_matrix/client/v3/thirdparty/location", bridge.ASToken, "")
	if status != 400 || gjson.Get(body, "errcode").Str != "M_MISSING_PARAM" {
		t.Fatalf("location without alias: %d %s", status, body)
	}
}

func call(t *testing.T, base, method, path, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if !json.Valid(data) {
		t.Fatalf("%s %s answered non-JSON %q", method, path, data)
	}
	return resp.StatusCode, string(data)
}

// closedURL is a loopback URL where nothing listens.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	return "http://" + addr
}

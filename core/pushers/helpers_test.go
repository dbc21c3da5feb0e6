package pushers

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/sync/synctest"
)

// env is the real rooms and push stack (synctest) with pushers on top.
type env struct {
	*synctest.Env
	p *Pushers
	// attempts receives the outcome of every POST to a gateway.
	attempts chan error
}

// testOptions allow gateways on loopback (httptest) and retry quickly;
// everything else is the production default, including the blacklist.
func testOptions() Options {
	return Options{
		Blacklist:  config.Defaults().IPRangeBlacklist,
		Whitelist:  []string{"127.0.0.1/32", "::1/128"},
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
	}
}

// newEnv starts pushers over db, wired as serve.go wires them: core/push
// calls Notified, receipts call Read.
func newEnv(t testing.TB, db *storage.DB, opts Options) *env {
	t.Helper()
	e := &env{Env: synctest.New(t, db), attempts: make(chan error, 1000)}
	e.p = e.newPushers(opts)
	e.Receipts.OnRead(func(ctx context.Context, tx *storage.Tx, user id.UserID, room id.RoomID, upTo, pos int64) error {
		return e.p.Read(ctx, tx, user, room, upTo, pos)
	})
	e.Push.OnNotify = func(ctx context.Context, tx *storage.Tx, user id.UserID, ev *rooms.Event, highlight bool) error {
		return e.p.Notified(ctx, tx, user, ev, highlight)
	}
	e.p.Start()
	return e
}

// newPushers builds a Pushers subscribed to the writer; the current one
// (e.p) gets Notified calls.
func (e *env) newPushers(opts Options) *Pushers {
	e.T.Helper()
	p, err := New(e.Ctx, e.DB, opts, zerolog.Nop())
	if err != nil {
		e.T.Fatal(err)
	}
	p.onAttempt = func(_ int64, err error) {
		select {
		case e.attempts <- err:
		default:
		}
	}
	e.Writer.Subscribe(p.OnCommit)
	e.T.Cleanup(p.Close)
	return p
}

// setPusher registers an HTTP pusher for user's device.
func (e *env) setPusher(user id.UserID, device id.DeviceID, pushkey, url string, data map[string]any) {
	e.T.Helper()
	if err := e.p.Set(e.Ctx, user, device, httpPusher(pushkey, url, data)); err != nil {
		e.T.Fatalf("set pusher: %v", err)
	}
}

func httpPusher(pushkey, url string, data map[string]any) *SetRequest {
	d := map[string]any{"url": url}
	for k, v := range data {
		d[k] = v
	}
	raw, _ := json.Marshal(d)
	s := func(v string) *string { return &v }
	return &SetRequest{Kind: json.RawMessage(`"http"`), AppID: s("org.example.app"), PushKey: s(pushkey),
		AppDisplayName: s("Example"), DeviceDisplayName: s("Phone"), Lang: s("en"), Data: raw}
}

// queueLen counts queued notifications.
func (e *env) queueLen() int {
	e.T.Helper()
	var n int
	if err := e.DB.QueryRow(e.Ctx, `SELECT COUNT(*) FROM pusher_queue`).Scan(&n); err != nil {
		e.T.Fatal(err)
	}
	return n
}

// waitAttempt waits for a POST outcome.
func (e *env) waitAttempt() error {
	e.T.Helper()
	select {
	case err := <-e.attempts:
		return err
	case <-time.After(10 * time.Second):
		e.T.Fatal("no delivery attempt")
		return nil
	}
}

// gateway is a push gateway on loopback that records notifications.
type gateway struct {
	t    testing.TB
	srv  *httptest.Server
	got  chan gjson.Result
	mu   sync.Mutex
	resp string // answer body
}

func newGateway(t testing.TB) *gateway {
	g := &gateway{t: t, got: make(chan gjson.Result, 100), resp: `{"rejected":[]}`}
	g.srv = httptest.NewServer(g)
	t.Cleanup(g.srv.Close)
	return g
}

// newGatewayAt serves on addr (a gateway coming back after an outage).
func newGatewayAt(t testing.TB, addr string) *gateway {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	g := &gateway{t: t, got: make(chan gjson.Result, 100), resp: `{"rejected":[]}`}
	g.srv = httptest.NewUnstartedServer(g)
	_ = g.srv.Listener.Close()
	g.srv.Listener = ln
	g.srv.Start()
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != NotifyPath || r.Header.Get("Content-Type") != "application/json" || !json.Valid(body) {
		g.t.Errorf("gateway got %s %s %q: %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"), body)
	}
	g.mu.Lock()
	resp := g.resp
	g.mu.Unlock()
	g.got <- gjson.ParseBytes(body).Get("notification")
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, resp)
}

func (g *gateway) url() string { return g.srv.URL + NotifyPath }

// next waits for a notification.
func (g *gateway) next() gjson.Result {
	g.t.Helper()
	select {
	case n := <-g.got:
		return n
	case <-time.After(10 * time.Second):
		g.t.Fatal("gateway got no notification")
		return gjson.Result{}
	}
}

// none fails if a notification arrives within d.
func (g *gateway) none(d time.Duration) {
	g.t.Helper()
	select {
	case n := <-g.got:
		g.t.Fatalf("gateway got an unexpected notification: %s", n.Raw)
	case <-time.After(d):
	}
}

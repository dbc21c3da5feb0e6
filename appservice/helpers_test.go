package appservice

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	mxas "maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/registration"
)

const server = "test.local"

var testKey = func() *events.SigningKey {
	k, err := events.ParseSigningKey("ed25519 a_test " + "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE")
	if err != nil {
		panic(err)
	}
	return k
}()

// anyLocal is a rooms.Profiles where every local user exists.
type anyLocal struct{}

func (anyLocal) UserExists(_ context.Context, u id.UserID) (bool, error) {
	return strings.HasSuffix(string(u), ":"+server), nil
}
func (anyLocal) Profile(context.Context, id.UserID) (string, string, error) { return "", "", nil }

// core is the part of a homeserver the pusher needs: a stream writer and
// a rooms service on a real database, with the pusher wired the way
// serve.go wires it.
type core struct {
	db    *storage.DB
	w     *stream.Writer
	rooms *rooms.Service
	reg   *Registry
	p     *Pusher
}

func newCore(t testing.TB, db *storage.DB, regs []*registration.Registration, opts PusherOptions) *core {
	t.Helper()
	return newCoreWith(t, db, regs, opts, nil, anyLocal{})
}

// newCoreWith checks identities against acc and profiles.
func newCoreWith(t testing.TB, db *storage.DB, regs []*registration.Registration, opts PusherOptions,
	acc Accounts, profiles rooms.Profiles) *core {
	t.Helper()
	return newCoreFull(t, db, regs, acc, profiles, func(*stream.Writer, *rooms.Service) PusherOptions { return opts })
}

// newCoreFull builds the pusher's options from the writer and rooms, for
// sources (typing, receipts, presence) that need them.
func newCoreFull(t testing.TB, db *storage.DB, regs []*registration.Registration, acc Accounts, profiles rooms.Profiles,
	mkOpts func(*stream.Writer, *rooms.Service) PusherOptions) *core {
	t.Helper()
	ctx := context.Background()
	w, err := stream.NewWriter(ctx, db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	rs := rooms.New(db, w, profiles, rooms.Options{ServerName: server, Key: testKey}, zerolog.Nop())
	opts := mkOpts(w, rs)
	reg := NewRegistry(regs, server, acc)
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 10 * time.Millisecond
		opts.MaxBackoff = 50 * time.Millisecond
	}
	p, err := NewPusher(ctx, db, reg, opts, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	rs.AddPersistHook(p.PersistHook)
	w.Subscribe(p.OnCommit)
	p.Start()
	c := &core{db: db, w: w, rooms: rs, reg: reg, p: p}
	t.Cleanup(c.stop)
	return c
}

// stop closes the pusher without flushing and then the writer, which is
// what a crash leaves behind for everything not yet in the database.
func (c *core) stop() {
	c.p.Close()
	c.w.Close()
}

func (c *core) send(t testing.TB, room id.RoomID, sender id.UserID, body string) *rooms.Event {
	t.Helper()
	ev, err := c.rooms.Send(context.Background(), rooms.SendRequest{RoomID: room, Sender: sender, Type: "m.room.message",
		Content: mustJSON(map[string]string{"msgtype": "m.text", "body": body})})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// bridgeReg is a typical bridge registration pointed at url.
func bridgeReg(t testing.TB, url string) *registration.Registration {
	t.Helper()
	users, _ := registration.NewNamespace(`@bridge_.*:test\.local`, true)
	aliases, _ := registration.NewNamespace(`#bridge_.*:test\.local`, true)
	r, err := registration.Generate(registration.GenerateOptions{ID: "bridge", URL: url, SenderLocalpart: "bridgebot",
		Namespaces: registration.Namespaces{Users: []registration.Namespace{users}, Aliases: []registration.Namespace{aliases}},
		Protocols:  []string{"fakenet"}, Encryption: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// delivery is one accepted transaction as the appservice saw it.
type delivery struct {
	txnID     string
	events    []string // event IDs
	bodies    []string // content.body of message events
	toDevice  []string // content.n of to-device messages
	ephemeral []string // types
	raw       gjson.Result
}

// fakeAS is an appservice built on mautrix-go's appservice package, behind
// a switch that can make it "down" (503) or answer garbage, and a recorder
// of every transaction it accepted.
type fakeAS struct {
	t    testing.TB
	srv  *httptest.Server
	mx   atomic.Pointer[mxas.AppService]
	mode atomic.Value // "up", "down", "garbage", "hang"

	mu        sync.Mutex
	accepted  []delivery
	attempts  []string // every transaction ID tried, in order
	changed   chan struct{}
	mxEvents  chan *event.Event
	mxDevices chan *event.Event
}

func newFakeAS(t testing.TB) *fakeAS {
	f := &fakeAS{t: t, changed: make(chan struct{}, 1),
		mxEvents: make(chan *event.Event, 100000), mxDevices: make(chan *event.Event, 100000)}
	f.mode.Store("up")
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// start (re)creates the mautrix appservice for reg, as a restarted bridge
// would: its memory of handled transaction IDs is gone.
func (f *fakeAS) start(reg *registration.Registration, hsURL string) *mxas.AppService {
	mx := mxas.Create()
	mx.Registration = reg.ToMautrix()
	mx.HomeserverDomain = server
	if hsURL != "" {
		if err := mx.SetHomeserverURL(hsURL); err != nil {
			f.t.Fatal(err)
		}
	}
	go drain(mx.Events, f.mxEvents)
	go drain(mx.ToDeviceEvents, f.mxDevices)
	f.mx.Store(mx)
	return mx
}

func drain(from <-chan *event.Event, to chan<- *event.Event) {
	for ev := range from {
		to <- ev
	}
}

func (f *fakeAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	txnID, isTxn := strings.CutPrefix(r.URL.Path, "/_matrix/app/v1/transactions/")
	mx := f.mx.Load()
	if !isTxn || mx == nil {
		if mx == nil {
			http.Error(w, "not started", http.StatusServiceUnavailable)
			return
		}
		mx.Router.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	f.attempts = append(f.attempts, txnID)
	f.mu.Unlock()
	switch f.mode.Load() {
	case "down":
		http.Error(w, "bridge is restarting", http.StatusServiceUnavailable)
		return
	case "garbage":
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html>OK</html>"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	mx.Router.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	if rec.Code != http.StatusOK {
		return
	}
	d := delivery{txnID: txnID, raw: gjson.ParseBytes(body)}
	for _, ev := range d.raw.Get("events").Array() {
		d.events = append(d.events, ev.Get("event_id").Str)
		if b := ev.Get("content.body"); b.Exists() {
			d.bodies = append(d.bodies, b.Str)
		}
	}
	for _, m := range d.raw.Get("to_device").Array() {
		d.toDevice = append(d.toDevice, m.Get("content.n").Raw)
	}
	for _, e := range d.raw.Get("ephemeral").Array() {
		d.ephemeral = append(d.ephemeral, e.Get("type").Str)
	}
	f.mu.Lock()
	f.accepted = append(f.accepted, d)
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// waitFor polls cond on every accepted transaction until it holds.
func (f *fakeAS) waitFor(timeout time.Duration, what string, cond func(accepted []delivery) bool) []delivery {
	f.t.Helper()
	deadline := time.After(timeout)
	for {
		f.mu.Lock()
		acc := append([]delivery(nil), f.accepted...)
		f.mu.Unlock()
		if cond(acc) {
			return acc
		}
		select {
		case <-f.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			f.t.Fatalf("timed out waiting for %s; %d transactions accepted, attempts %v", what, len(acc), f.attemptList())
		}
	}
}

func (f *fakeAS) acceptedCopy() []delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]delivery(nil), f.accepted...)
}

func (f *fakeAS) attemptList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.attempts...)
}

// uniqueTxns keeps the first acceptance of each transaction ID. A repeat is
// legitimate: a request the homeserver gave up on (its context ended, as
// at shutdown) may still reach the appservice, and the homeserver resends
// the transaction under the same ID; the spec makes the appservice
// deduplicate by ID.
func uniqueTxns(acc []delivery) []delivery {
	seen := map[string]bool{}
	var out []delivery
	for _, d := range acc {
		if !seen[d.txnID] {
			seen[d.txnID] = true
			out = append(out, d)
		}
	}
	return out
}

// allEvents flattens accepted transactions, keeping only the first
// acceptance of each transaction ID (a repeat is a resend the appservice
// deduplicates), and checks that no event appears under two IDs.
func allEvents(t testing.TB, acc []delivery) []string {
	t.Helper()
	seenTxn := map[string][]string{}
	seenEvent := map[string]string{}
	var out []string
	for _, d := range acc {
		if prev, ok := seenTxn[d.txnID]; ok {
			if strings.Join(prev, ",") != strings.Join(d.events, ",") {
				t.Fatalf("transaction %s was resent with different events: %v then %v", d.txnID, prev, d.events)
			}
			continue
		}
		seenTxn[d.txnID] = d.events
		for _, e := range d.events {
			if other, dup := seenEvent[e]; dup {
				t.Fatalf("event %s delivered in transactions %s and %s", e, other, d.txnID)
			}
			seenEvent[e] = d.txnID
			out = append(out, e)
		}
	}
	return out
}

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Tokens and names of the test appservice's registration.
const (
	asID      = "e2ebridge"
	asToken   = "as-token-e2e"
	hsToken   = "hs-token-e2e"
	asSender  = "bridgebot"
	ghostName = "bridge_alice"
)

// asTxn is one transaction as the appservice received it.
type asTxn struct {
	ID       string            `json:"-"`
	Raw      []byte            `json:"-"`
	Events   []json.RawMessage `json:"events"`
	EDUs     []json.RawMessage `json:"ephemeral"`
	EDUsOld  []json.RawMessage `json:"de.sorunome.msc2409.ephemeral"`
	ToDevice []json.RawMessage `json:"to_device"`
	ToDevOld []json.RawMessage `json:"de.sorunome.msc2409.to_device"`
}

// asEvent is the part of a pushed event the assertions look at.
type asEvent struct {
	Type     string          `json:"type"`
	Sender   string          `json:"sender"`
	StateKey *string         `json:"state_key"`
	RoomID   string          `json:"room_id"`
	Content  json.RawMessage `json:"content"`
	ToUser   string          `json:"to_user_id"`
	ToDevice string          `json:"to_device_id"`
}

// fakeAS is an external appservice speaking the Application Service API
// over plain net/http, so the test controls exactly when its port is open
// and sees every request as sent.
type fakeAS struct {
	t    *testing.T
	addr string
	srv  *http.Server

	mu       sync.Mutex
	txns     []asTxn
	seen     map[string][]byte
	pings    []string
	queries  []string
	badAuths int
	wake     chan struct{}
}

// newFakeAS reserves a loopback port; start opens it.
func newFakeAS(t *testing.T) *fakeAS {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeAS{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), seen: map[string][]byte{}, wake: make(chan struct{}, 1)}
}

// writeRegistration writes the YAML registration file into dir.
func (a *fakeAS) writeRegistration(t *testing.T, dir string) string {
	text := fmt.Sprintf(`id: %s
url: http://%s
as_token: %s
hs_token: %s
sender_localpart: %s
rate_limited: false
namespaces:
  users:
    - regex: '@bridge_.*'
      exclusive: true
  aliases: []
  rooms: []
receive_ephemeral: true
de.sorunome.msc2409.push_ephemeral: true
io.element.msc4190: true
`, asID, a.addr, asToken, hsToken, asSender)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "appservice_e2e.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// start opens the port; stop closes it. Both may be called repeatedly.
func (a *fakeAS) start(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", a.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("appservice listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /_matrix/app/v1/transactions/{txnId}", a.transaction)
	mux.HandleFunc("GET /_matrix/app/v1/users/{userId}", a.user)
	mux.HandleFunc("POST /_matrix/app/v1/ping", a.ping)
	a.srv = &http.Server{Handler: mux}
	go a.srv.Serve(ln)
	t.Cleanup(a.stop)
}

func (a *fakeAS) stop() {
	if a.srv != nil {
		_ = a.srv.Close()
		a.srv = nil
	}
}

func (a *fakeAS) authed(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+hsToken {
		a.mu.Lock()
		a.badAuths++
		a.mu.Unlock()
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"errcode":"M_FORBIDDEN","error":"bad hs_token"}`)
		return false
	}
	return true
}

func (a *fakeAS) transaction(w http.ResponseWriter, r *http.Request) {
	if !a.authed(w, r) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	txnID := r.PathValue("txnId")
	var txn asTxn
	if err := json.Unmarshal(body, &txn); err != nil {
		a.t.Errorf("appservice: transaction %s is not JSON: %v", txnID, err)
	}
	txn.ID, txn.Raw = txnID, body
	a.mu.Lock()
	if prev, ok := a.seen[txnID]; ok {
		if string(prev) != string(body) {
			a.t.Errorf("appservice: txnId %s reused with different contents:\n%s\n%s", txnID, prev, body)
		}
	} else {
		a.seen[txnID] = body
		a.txns = append(a.txns, txn)
	}
	a.mu.Unlock()
	a.poke()
	_, _ = io.WriteString(w, "{}")
}

func (a *fakeAS) user(w http.ResponseWriter, r *http.Request) {
	if !a.authed(w, r) {
		return
	}
	a.mu.Lock()
	a.queries = append(a.queries, r.PathValue("userId"))
	a.mu.Unlock()
	a.poke()
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, `{"errcode":"M_NOT_FOUND","error":"no such ghost"}`)
}

func (a *fakeAS) ping(w http.ResponseWriter, r *http.Request) {
	if !a.authed(w, r) {
		return
	}
	var body struct {
		TxnID string `json:"transaction_id"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	a.mu.Lock()
	a.pings = append(a.pings, body.TxnID)
	a.mu.Unlock()
	_, _ = io.WriteString(w, "{}")
}

func (a *fakeAS) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// waitFor polls cond under the lock until it holds or timeout passes.
func (a *fakeAS) waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		ok := cond()
		a.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-a.wake:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("appservice: timed out waiting for %s", what)
		}
	}
}

// events returns every room event received so far, in delivery order.
// Callers hold a.mu.
func (a *fakeAS) eventsLocked() []asEvent {
	var out []asEvent
	for _, txn := range a.txns {
		for _, raw := range txn.Events {
			var ev asEvent
			_ = json.Unmarshal(raw, &ev)
			out = append(out, ev)
		}
	}
	return out
}

// ephemeralLocked returns every EDU received so far.
func (a *fakeAS) ephemeralLocked() []asEvent {
	var out []asEvent
	for _, txn := range a.txns {
		for _, raw := range append(append([]json.RawMessage{}, txn.EDUs...), txn.EDUsOld...) {
			var ev asEvent
			_ = json.Unmarshal(raw, &ev)
			out = append(out, ev)
		}
	}
	return out
}

// toDeviceLocked returns every to-device message received so far.
func (a *fakeAS) toDeviceLocked() []asEvent {
	var out []asEvent
	for _, txn := range a.txns {
		// The stable and unstable fields carry the same messages; read one.
		msgs := txn.ToDevice
		if len(msgs) == 0 {
			msgs = txn.ToDevOld
		}
		for _, raw := range msgs {
			var ev asEvent
			_ = json.Unmarshal(raw, &ev)
			out = append(out, ev)
		}
	}
	return out
}

func body(ev asEvent) string {
	var c struct {
		Body string `json:"body"`
	}
	_ = json.Unmarshal(ev.Content, &c)
	return c.Body
}

package todevice_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

type env struct {
	t   *testing.T
	ctx context.Context
	w   *stream.Writer
	acc *accounts.Service
	td  *todevice.Service

	mu    sync.Mutex
	woken [][]string
}

func newEnv(t *testing.T, db *storage.DB, opts todevice.Options) *env {
	ctx := context.Background()
	w, err := stream.NewWriter(ctx, db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	e := &env{t: t, ctx: ctx, w: w}
	w.Subscribe(func(cs []stream.Change) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, c := range cs {
			if c.Kind == stream.KindToDevice {
				e.woken = append(e.woken, c.UserIDs)
			}
		}
	})
	e.acc = accounts.New(db, "test.local", accounts.Options{BcryptCost: bcrypt.MinCost})
	e.td = todevice.New(db, w, "test.local", zerolog.Nop(), opts)
	e.acc.OnDeviceChange(e.td.OnDeviceChange)
	return e
}

func (e *env) user(name string, devices ...id.DeviceID) id.UserID {
	e.t.Helper()
	u, err := e.acc.Register(e.ctx, accounts.RegisterParams{Localpart: name, Password: "pw"})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range devices {
		if err := e.acc.EnsureDevice(e.ctx, u, d, ""); err != nil {
			e.t.Fatal(err)
		}
	}
	return u
}

func (e *env) send(from id.UserID, txn string, msgs map[id.UserID]map[string]json.RawMessage) error {
	return e.td.Send(e.ctx, todevice.SendRequest{Sender: from, SenderDevice: "SENDER", Type: "m.test", TxnID: txn, Messages: msgs})
}

// sync delivers like /sync and returns the "n" of each content.
func (e *env) sync(user id.UserID, dev id.DeviceID, since int64) ([]int, int64) {
	e.t.Helper()
	upto := e.w.Pos()
	evs, err := e.td.ForSync(e.ctx, user, dev, since, upto)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []int
	for _, ev := range evs {
		var v struct {
			Content struct{ N int } `json:"content"`
			Sender  id.UserID       `json:"sender"`
			Type    string          `json:"type"`
		}
		if err := json.Unmarshal(ev, &v); err != nil || v.Type != "m.test" || v.Sender == "" {
			e.t.Fatalf("bad to-device event %s", ev)
		}
		out = append(out, v.Content.N)
	}
	return out, upto
}

func content(n int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"n": %d}`, n)) }

func errcode(err error) string {
	var e *httpx.Error
	if errors.As(err, &e) {
		return e.ErrCode
	}
	return ""
}

func TestDeliveryAndAcknowledgement(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, todevice.Options{BatchSize: 3})
		alice := e.user("alice", "SENDER")
		bob := e.user("bob", "B1", "B2")
		carol := e.user("carol", "C1")

		// Seven messages to B1, the wildcard reaching B2 as well.
		for i := 1; i <= 7; i++ {
			target := "B1"
			if i == 4 {
				target = "*"
			}
			if err := e.send(alice, fmt.Sprint("t", i), map[id.UserID]map[string]json.RawMessage{bob: {target: content(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		e.mu.Lock()
		if len(e.woken) != 7 || len(e.woken[0]) != 1 || e.woken[0][0] != string(bob) {
			t.Fatalf("sends woke %v, want bob once per send", e.woken)
		}
		e.mu.Unlock()
		// A retried transaction is not queued again.
		if err := e.send(alice, "t1", map[id.UserID]map[string]json.RawMessage{bob: {"B1": content(99)}}); err != nil {
			t.Fatal(err)
		}

		got, next := e.sync(bob, "B1", 0)
		if fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("first batch %v", got)
		}
		// The response was lost: the same since gets the same messages.
		if again, _ := e.sync(bob, "B1", 0); fmt.Sprint(again) != "[1 2 3]" {
			t.Fatalf("retried batch %v", again)
		}
		got, next = e.sync(bob, "B1", next)
		if fmt.Sprint(got) != "[4 5 6]" {
			t.Fatalf("second batch %v", got)
		}
		got, next = e.sync(bob, "B1", next)
		if fmt.Sprint(got) != "[7]" {
			t.Fatalf("third batch %v", got)
		}
		got, _ = e.sync(bob, "B1", next)
		if len(got) != 0 {
			t.Fatalf("acknowledged messages delivered again: %v", got)
		}
		if n, _ := e.td.Pending(e.ctx, bob, "B1"); n != 0 {
			t.Fatalf("%d messages left after acknowledgement", n)
		}
		if got, _ := e.sync(bob, "B2", 0); fmt.Sprint(got) != "[4]" {
			t.Fatalf("wildcard for B2: %v", got)
		}

		// Unknown devices and remote users get nothing and break nothing.
		err := e.send(alice, "t8", map[id.UserID]map[string]json.RawMessage{
			carol: {"NOPE": content(8)}, "@dave:elsewhere.org": {"*": content(8)}, "@ghost:test.local": {"*": content(8)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := e.sync(carol, "C1", 0); len(got) != 0 {
			t.Fatalf("carol's C1 got %v", got)
		}
		// A deleted device's queue goes with it.
		if err := e.send(alice, "t9", map[id.UserID]map[string]json.RawMessage{carol: {"C1": content(9)}}); err != nil {
			t.Fatal(err)
		}
		if err := e.acc.DeleteDevices(e.ctx, carol, []id.DeviceID{"C1"}); err != nil {
			t.Fatal(err)
		}
		if n, _ := e.td.Pending(e.ctx, carol, "C1"); n != 0 {
			t.Fatalf("deleted device still has %d messages", n)
		}
	})
}

func TestSendLimits(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, todevice.Options{MaxPerDevice: 2})
		alice := e.user("alice", "SENDER")
		bob := e.user("bob", "B1", "B2")
		big := json.RawMessage(`{"body":"` + strings.Repeat("x", todevice.MaxMessageSize) + `"}`)
		cases := []struct {
			name string
			typ  string
			msgs map[id.UserID]map[string]json.RawMessage
			code string
		}{
			{"oversized message", "m.test", map[id.UserID]map[string]json.RawMessage{bob: {"B1": big}}, "M_TOO_LARGE"},
			{"content not an object", "m.test", map[id.UserID]map[string]json.RawMessage{bob: {"B1": json.RawMessage(`[1]`)}}, "M_BAD_JSON"},
			{"invalid user ID", "m.test", map[id.UserID]map[string]json.RawMessage{"bob": {"B1": content(1)}}, "M_INVALID_PARAM"},
			{"empty device ID", "m.test", map[id.UserID]map[string]json.RawMessage{bob: {"": content(1)}}, "M_INVALID_PARAM"},
			{"empty type", "", map[id.UserID]map[string]json.RawMessage{bob: {"B1": content(1)}}, "M_INVALID_PARAM"},
		}
		for i, c := range cases {
			err := e.td.Send(e.ctx, todevice.SendRequest{Sender: alice, SenderDevice: "SENDER", Type: c.typ, TxnID: fmt.Sprint("bad", i), Messages: c.msgs})
			if errcode(err) != c.code {
				t.Errorf("%s: got %v, want %s", c.name, err, c.code)
			}
		}
		// Fill B1's queue: B2 still gets messages, B1 no longer.
		for i := 0; i < 2; i++ {
			if err := e.send(alice, fmt.Sprint("f", i), map[id.UserID]map[string]json.RawMessage{bob: {"B1": content(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.send(alice, "f2", map[id.UserID]map[string]json.RawMessage{bob: {"*": content(2)}}); err != nil {
			t.Fatalf("send with one full target: %v", err)
		}
		if n, _ := e.td.Pending(e.ctx, bob, "B1"); n != 2 {
			t.Fatalf("full queue holds %d, want 2", n)
		}
		if n, _ := e.td.Pending(e.ctx, bob, "B2"); n != 1 {
			t.Fatalf("B2 holds %d, want 1", n)
		}
		err := e.send(alice, "f3", map[id.UserID]map[string]json.RawMessage{bob: {"B1": content(3)}})
		if errcode(err) != "M_LIMIT_EXCEEDED" {
			t.Fatalf("send to a full queue only: %v", err)
		}
	})
}

func TestPeek(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, todevice.Options{BatchSize: 2})
		alice := e.user("alice", "SENDER")
		bob := e.user("bob", "DEHYDRATED")
		for i := 1; i <= 3; i++ {
			if err := e.send(alice, fmt.Sprint("t", i), map[id.UserID]map[string]json.RawMessage{bob: {"*": content(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		cur, _ := todevice.ParseCursor("")
		var all []json.RawMessage
		for i := 0; i < 3; i++ {
			evs, next, err := e.td.Peek(e.ctx, bob, "DEHYDRATED", cur)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, evs...)
			if cur, err = todevice.ParseCursor(next.String()); err != nil {
				t.Fatal(err)
			}
			if i == 2 && len(evs) != 0 {
				t.Fatalf("last page not empty: %s", evs)
			}
		}
		if len(all) != 3 {
			t.Fatalf("peeked %d messages, want 3", len(all))
		}
		if n, _ := e.td.Pending(e.ctx, bob, "DEHYDRATED"); n != 3 {
			t.Fatalf("peeking deleted messages: %d left", n)
		}
		for _, bad := range []string{"x", "d1", "d_1", "dx_1", "d-5_1"} {
			if _, err := todevice.ParseCursor(bad); errcode(err) != "M_INVALID_PARAM" {
				t.Errorf("cursor %q: %v", bad, err)
			}
		}
	})
}

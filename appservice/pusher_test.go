package appservice

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/registration"
)

const (
	alice = id.UserID("@alice:test.local")
	bob   = id.UserID("@bob:test.local")
	ghost = id.UserID("@bridge_a:test.local")
)

// bridgedRoom creates a room by alice where the ghost is joined.
func bridgedRoom(t testing.TB, c *core) id.RoomID {
	t.Helper()
	ctx := context.Background()
	room, _, err := c.rooms.CreateRoom(ctx, alice, &rooms.CreateRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.rooms.Join(ctx, ghost, string(room), "", nil); err != nil {
		t.Fatal(err)
	}
	return room
}

func TestInterestAndDelivery(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newFakeAS(t)
		reg := bridgeReg(t, f.srv.URL)
		f.start(reg, "")
		c := newCore(t, db, []*registration.Registration{reg}, PusherOptions{})

		// A room the bridge has nothing to do with: nothing is delivered.
		quiet, _, err := c.rooms.CreateRoom(ctx, alice, &rooms.CreateRequest{Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		secret := c.send(t, quiet, alice, "not for the bridge")

		room := bridgedRoom(t, c)
		hello := c.send(t, room, alice, "hello ghost")
		reply := c.send(t, room, ghost, "hello alice")
		// Alias namespace: a room whose canonical alias the bridge claims.
		aliased, _, err := c.rooms.CreateRoom(ctx, bob, &rooms.CreateRequest{Preset: "public_chat",
			InitialState: []rooms.InitialState{{Type: "m.room.canonical_alias", Content: json.RawMessage(`{"alias":"#bridge_x:test.local"}`)}}})
		if err != nil {
			t.Fatal(err)
		}
		viaAlias := c.send(t, aliased, bob, "via alias")

		acc := f.waitFor(10*time.Second, "the alias room message", func(acc []delivery) bool {
			return slices.Contains(allEvents(t, acc), string(viaAlias.ID))
		})
		got := allEvents(t, acc)
		if slices.Contains(got, string(secret.ID)) {
			t.Fatal("an event from an unrelated room was delivered")
		}
		i, j := slices.Index(got, string(hello.ID)), slices.Index(got, string(reply.ID))
		if i < 0 || j != i+1 {
			t.Fatalf("room messages missing or out of order: %v", got)
		}
		// mautrix parsed the same events; the ghost's join carries prev_content
		// so a bridge can tell a join from a profile change.
		var sawJoin, sawHello bool
		for timeout := time.After(5 * time.Second); !sawJoin || !sawHello; {
			var ev *event.Event
			select {
			case ev = <-f.mxEvents:
			case <-timeout:
				t.Fatalf("mautrix did not parse the join (%v) or the message (%v)", sawJoin, sawHello)
			}
			if ev.Type == event.StateMember && ev.GetStateKey() == string(ghost) && ev.Content.AsMember().Membership == event.MembershipJoin {
				sawJoin = true
			}
			if ev.ID == hello.ID && ev.Content.AsMessage().Body == "hello ghost" && ev.Unsigned.Age >= 0 {
				sawHello = true
			}
		}
		// The ghost leaves: its leave is delivered, later messages are not.
		if _, err := c.rooms.SetMembership(ctx, rooms.MembershipRequest{RoomID: room, Sender: ghost, Target: ghost, Membership: event.MembershipLeave}); err != nil {
			t.Fatal(err)
		}
		after := c.send(t, room, alice, "nobody bridged here")
		marker := c.send(t, aliased, bob, "marker")
		acc = f.waitFor(10*time.Second, "the marker", func(acc []delivery) bool {
			return slices.Contains(allEvents(t, acc), string(marker.ID))
		})
		if slices.Contains(allEvents(t, acc), string(after.ID)) {
			t.Fatal("a message after the ghost left was delivered")
		}
	})
}

func TestRetryKeepsTransactionID(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		f := newFakeAS(t)
		reg := bridgeReg(t, f.srv.URL)
		f.start(reg, "")
		f.mode.Store("down")
		c := newCore(t, db, []*registration.Registration{reg}, PusherOptions{})
		room := bridgedRoom(t, c)
		// Wait for a few failed attempts, then send more while it is down.
		waitAttempts(t, f, 3)
		for i := range 5 {
			c.send(t, room, alice, fmt.Sprint("m", i))
		}
		f.mode.Store("garbage") // 200 with an HTML body is not an acceptance
		waitAttempts(t, f, len(f.attemptList())+3)
		// The bridge comes up with a different hs_token: mautrix answers 401
		// M_UNKNOWN_TOKEN, which is retried like any failure.
		wrong := *reg
		wrong.HSToken = "not the homeserver's token"
		f.start(&wrong, "")
		f.mode.Store("up")
		first := waitAttempts(t, f, len(f.attemptList())+3)
		if len(f.acceptedCopy()) != 0 {
			t.Fatal("a transaction was accepted with the wrong hs_token")
		}
		f.start(reg, "")
		acc := f.waitFor(10*time.Second, "all messages", func(acc []delivery) bool {
			var bodies []string
			for _, d := range acc {
				bodies = append(bodies, d.bodies...)
			}
			return slices.Contains(bodies, "m4")
		})
		if acc[0].txnID != first[0] {
			t.Fatalf("first accepted transaction %s, but the first attempted was %s", acc[0].txnID, first[0])
		}
		for _, a := range first {
			if a != first[0] {
				t.Fatalf("retries used different transaction IDs: %v", first)
			}
		}
		// The first transaction holds what was queued before it was first
		// tried (the ghost's join); the messages came later, in the next one.
		if len(acc[0].bodies) != 0 || len(acc) < 2 {
			t.Fatalf("transaction contents changed between retries: %+v", acc)
		}
		allEvents(t, acc) // no event in two transactions
	})
}

func waitAttempts(t *testing.T, f *fakeAS, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := f.attemptList(); len(a) >= n {
			return a
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("only %d attempts", len(f.attemptList()))
	return nil
}

// sendToDevice stores a to-device message the way the E2EE code must: the
// pusher's QueueToDevice runs inside the stream write's transaction.
func sendToDevice(t testing.TB, c *core, n int) {
	t.Helper()
	msg := ToDeviceMessage{Sender: alice, Type: "m.room_key_request", ToUser: ghost, ToDevice: "GHOSTDEV",
		Content: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
	_, err := c.w.Submit(context.Background(), stream.Change{Kind: stream.KindToDevice, UserIDs: []string{string(ghost)}},
		func(ctx context.Context, tx *storage.Tx, pos int64) error {
			return c.p.QueueToDevice(ctx, tx, pos, []ToDeviceMessage{msg})
		})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDurability is the durability test at the package level:
// with the appservice down, 500 events and 50 to-device messages are
// produced; the pusher and writer are then stopped without flushing and
// everything is rebuilt from the database, as after a crash; when the
// appservice comes back it receives every one exactly once, in order.
func TestDurability(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		f := newFakeAS(t)
		reg := bridgeReg(t, f.srv.URL)
		f.start(reg, "")
		f.mode.Store("down")
		c := newCore(t, db, []*registration.Registration{reg}, PusherOptions{})
		room := bridgedRoom(t, c)
		var want []string
		for i := range 500 {
			want = append(want, string(c.send(t, room, alice, fmt.Sprint("msg ", i)).ID))
			if i%10 == 0 {
				sendToDevice(t, c, i/10)
			}
		}
		waitAttempts(t, f, 2)
		c.stop()

		f.start(reg, "") // the bridge restarts too: it forgot every transaction ID
		f.mode.Store("up")
		// A smaller batch after the restart: the first transaction is the
		// one assigned before it (100 rows), then batches of at most 40.
		c2 := newCore(t, db, []*registration.Registration{reg}, PusherOptions{BatchSize: 40})
		acc := f.waitFor(30*time.Second, "500 messages", func(acc []delivery) bool {
			n := 0
			for _, d := range uniqueTxns(acc) {
				n += len(d.bodies)
			}
			return n >= 500
		})
		got := allEvents(t, acc)
		if !isSubsequence(want, got) {
			t.Fatalf("messages out of order or missing")
		}
		for i, d := range uniqueTxns(acc) {
			if n := len(d.events) + len(d.toDevice); i > 0 && n > 40 || n > 100 {
				t.Fatalf("transaction %s carries %d rows: the worker loaded more than a batch", d.txnID, n)
			}
		}
		var bodies, devices []string
		for _, d := range uniqueTxns(acc) {
			bodies = append(bodies, d.bodies...)
			devices = append(devices, d.toDevice...)
		}
		if len(bodies) != 500 || bodies[0] != "msg 0" || bodies[499] != "msg 499" {
			t.Fatalf("got %d message bodies", len(bodies))
		}
		for i, d := range devices {
			if d != fmt.Sprint(i) {
				t.Fatalf("to-device messages %v: want 0..49 in order", devices)
			}
		}
		if len(devices) != 50 {
			t.Fatalf("got %d to-device messages, want 50", len(devices))
		}
		// mautrix delivered the to-device messages to the bridge as such.
		for deadline := time.Now().Add(5 * time.Second); len(f.mxDevices) < 50 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if n := len(f.mxDevices); n != 50 {
			t.Fatalf("mautrix saw %d to-device events", n)
		}
		// The last transaction's rows go when the worker asks for the next one.
		var left int
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if err := c2.db.QueryRow(context.Background(), `SELECT COUNT(*) FROM appservice_queue`).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left == 0 {
				break
			}
		}
		if left != 0 {
			t.Fatalf("%d rows left in the outbox", left)
		}
	})
}

// isSubsequence reports whether want appears in got in order (got also
// holds the room's setup events).
func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestURLLessRegistrationGetsNothing(t *testing.T) {
	db := storagetest.NewSQLite(t)
	dp, err := registration.Parse("dp.yaml", []byte("id: dp\nurl:\nas_token: a\nhs_token: h\nsender_localpart: dp\nnamespaces:\n  users:\n  - regex: '@.*'\n    exclusive: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := newCore(t, db, []*registration.Registration{dp}, PusherOptions{})
	room := bridgedRoom(t, c)
	c.send(t, room, alice, "hi")
	var n int
	if err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM appservice_queue`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows queued for a URL-less appservice (%v)", n, err)
	}
	if !strings.HasPrefix(string(c.reg.Get("dp").Sender), "@dp:") {
		t.Fatal("registry lost the double-puppet registration")
	}
}

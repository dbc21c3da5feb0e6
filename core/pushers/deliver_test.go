package pushers

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/receipts"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"
)

func TestNotificationReachesGateway(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, testOptions())
		gw := newGateway(t)
		alice, bob := e.User("alice"), e.User("bob")
		e.Profiles.SetName(alice, "Alice")
		name := "Mission Control"
		room := e.Room(alice, rooms.CreateRequest{Name: &name}, bob)
		e.setPusher(bob, "PHONE", "bob-token", gw.url(), map[string]any{"extra": "kept"})

		ev := e.Text(room, alice, "I'm floating")
		n := gw.next()
		checks := map[string]string{
			"event_id": ev.ID.String(), "room_id": room.String(), "type": "m.room.message",
			"sender": alice.String(), "sender_display_name": "Alice", "room_name": name,
			"content.body": "I'm floating", "prio": "high",
			"devices.0.app_id": "org.example.app", "devices.0.pushkey": "bob-token",
		}
		for path, want := range checks {
			if got := n.Get(path).String(); got != want {
				t.Errorf("%s = %q, want %q (%s)", path, got, want, n.Raw)
			}
		}
		if n.Get("counts.unread").Int() != 1 {
			t.Errorf("counts.unread = %s, want 1", n.Get("counts").Raw)
		}
		if d := n.Get("devices.0.data"); d.Get("extra").Str != "kept" || d.Get("url").Exists() {
			t.Errorf("devices[0].data = %s, want the pusher's data without url", d.Raw)
		}
		if ts := n.Get("devices.0.pushkey_ts").Int(); ts < time.Now().Add(-time.Hour).Unix() || ts > time.Now().Unix()+1 {
			t.Errorf("pushkey_ts = %d, want seconds since the epoch", ts)
		}

		e.Text(room, alice, "second")
		if n := gw.next(); n.Get("counts.unread").Int() != 2 || n.Get("content.body").Str != "second" {
			t.Errorf("second notification: %s", n.Raw)
		}
		// Alice's own messages never notify her, and nothing is left queued.
		gw.none(100 * time.Millisecond)
		if q := e.queueLen(); q != 0 {
			t.Errorf("%d notifications still queued", q)
		}
	})
}

func TestEventIDOnlyOmitsContent(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, testOptions())
		gw := newGateway(t)
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.setPusher(bob, "PHONE", "bob-token", gw.url(), map[string]any{"format": "event_id_only"})

		ev := e.Text(room, alice, "secret")
		n := gw.next()
		if n.Get("event_id").Str != ev.ID.String() || n.Get("room_id").Str != room.String() || n.Get("counts.unread").Int() != 1 {
			t.Errorf("notification lacks IDs or counts: %s", n.Raw)
		}
		for _, field := range []string{"content", "type", "sender", "sender_display_name", "room_name"} {
			if n.Get(field).Exists() {
				t.Errorf("event_id_only notification has %s: %s", field, n.Raw)
			}
		}
		if n.Get("devices.0.data.format").Str != "event_id_only" || n.Get("devices.0.pushkey").Str != "bob-token" {
			t.Errorf("devices = %s", n.Get("devices").Raw)
		}
	})
}

func TestGatewayDownIsRetriedUntilBack(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, testOptions())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close() // nothing listens: connections are refused
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.setPusher(bob, "PHONE", "bob-token", "http://"+addr+NotifyPath, nil)

		ev := e.Text(room, alice, "are you there?")
		for i := 0; i < 3; i++ {
			if err := e.waitAttempt(); err == nil {
				t.Fatal("a POST to a closed port succeeded")
			}
		}
		gw := newGatewayAt(t, addr)
		if n := gw.next(); n.Get("event_id").Str != ev.ID.String() {
			t.Fatalf("got %s, want %s", n.Raw, ev.ID)
		}
		gw.none(300 * time.Millisecond) // delivered once, not once per retry
		if q := e.queueLen(); q != 0 {
			t.Errorf("%d notifications still queued", q)
		}
	})
}

func TestRejectedPushkeyRemovesPusher(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, testOptions())
		gw := newGateway(t)
		gw.resp = `{"rejected":["bob-token"]}`
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.setPusher(bob, "PHONE", "bob-token", gw.url(), nil)

		e.Text(room, alice, "one")
		gw.next()
		waitFor(t, func() bool {
			ps, err := e.p.List(e.Ctx, bob)
			return err == nil && len(ps) == 0
		})
		e.Text(room, alice, "two")
		gw.none(300 * time.Millisecond)
	})
}

func TestLoopbackRefusedByDefault(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		opts := testOptions()
		opts.Whitelist = nil
		e := newEnv(t, db, opts)
		gw := newGateway(t)
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)

		// A literal address is refused when the pusher is set...
		err := e.p.Set(e.Ctx, bob, "PHONE", httpPusher("k", gw.url(), nil))
		var me *httpx.Error
		if !errors.As(err, &me) || me.ErrCode != "M_INVALID_PARAM" {
			t.Fatalf("set with %s: %v, want M_INVALID_PARAM", gw.url(), err)
		}
		// ... and a name is checked on the address it resolves to.
		_, port, _ := net.SplitHostPort(gw.srv.Listener.Addr().String())
		e.setPusher(bob, "PHONE", "k", "http://localhost:"+port+NotifyPath, nil)
		e.Text(room, alice, "hello")
		if err := e.waitAttempt(); !errors.Is(err, ErrBlockedAddress) {
			t.Fatalf("attempt: %v, want ErrBlockedAddress", err)
		}
		gw.none(200 * time.Millisecond)
	})
}

func TestQueueSurvivesRestart(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, testOptions())
		gw := newGateway(t)
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.setPusher(bob, "PHONE", "bob-token", gw.url(), nil)
		// A stopped server: the notification is committed with its event,
		// but nothing delivers it.
		e.p.Close()
		ev := e.Text(room, alice, "while you were out")
		gw.none(100 * time.Millisecond)
		if q := e.queueLen(); q != 1 {
			t.Fatalf("%d notifications queued, want 1", q)
		}

		restarted := e.newPushers(testOptions())
		restarted.Start()
		if n := gw.next(); n.Get("event_id").Str != ev.ID.String() {
			t.Fatalf("after restart got %s, want %s", n.Raw, ev.ID)
		}
	})
}

func TestReadNotificationIsNotSent(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, testOptions())
		gw := newGateway(t)
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.setPusher(bob, "PHONE", "bob-token", gw.url(), nil)
		e.p.Close()
		ev := e.Text(room, alice, "read on the laptop")
		if err := e.Receipts.Set(e.Ctx, room, bob, receipts.Read, ev.ID, ""); err != nil {
			t.Fatal(err)
		}
		e.newPushers(testOptions()).Start()
		// Only the badge update goes out: no event, an unread count of 0.
		if n := gw.next(); n.Get("event_id").Exists() || n.Get("counts.unread").Raw != "0" {
			t.Fatalf("after reading on another device the gateway got %s, want a badge of 0", n.Raw)
		}
		gw.none(300 * time.Millisecond)
		waitFor(t, func() bool { return e.queueLen() == 0 })
	})
}

// TestBadgeFollowsReads: reading on the laptop updates the badge on the
// phone with a counts-only notification, once per change of the count.
func TestBadgeFollowsReads(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, testOptions())
		gw := newGateway(t)
		alice, bob := e.User("alice"), e.User("bob")
		kitchen := e.Room(alice, rooms.CreateRequest{}, bob)
		garden := e.Room(alice, rooms.CreateRequest{}, bob)
		e.setPusher(bob, "PHONE", "bob-token", gw.url(), nil)

		e.Text(kitchen, alice, "one")
		last := e.Text(kitchen, alice, "two")
		three := e.Text(garden, alice, "three")
		// Counts are read when a notification is sent, so the last of the
		// three carries all of them.
		var n gjson.Result
		for _, body := range []string{"one", "two", "three"} {
			if n = gw.next(); n.Get("content.body").Str != body {
				t.Fatalf("got %s, want the notification for %q", n.Raw, body)
			}
		}
		if n.Get("counts.unread").Int() != 3 {
			t.Fatalf("last notification carries counts %s, want 3", n.Get("counts").Raw)
		}
		read := func(room id.RoomID, ev id.EventID) {
			t.Helper()
			if err := e.Receipts.Set(e.Ctx, room, bob, receipts.Read, ev, ""); err != nil {
				t.Fatal(err)
			}
		}
		read(kitchen, last.ID)
		n = gw.next()
		if n.Get("event_id").Exists() || n.Get("counts.unread").Int() != 1 || n.Get("devices.0.pushkey").Str != "bob-token" {
			t.Fatalf("badge after reading the kitchen: %s, want counts.unread 1 for bob-token", n.Raw)
		}
		// The same receipt again changes nothing: no push.
		read(kitchen, last.ID)
		gw.none(200 * time.Millisecond)

		read(garden, three.ID)
		if n := gw.next(); n.Get("counts.unread").Raw != "0" {
			t.Fatalf("badge after reading everything: %s, want unread 0 sent explicitly", n.Raw)
		}
		waitFor(t, func() bool {
			var left int
			_ = e.DB.QueryRow(e.Ctx, `SELECT COUNT(*) FROM pusher_badges`).Scan(&left)
			return left == 0
		})
	})
}

func TestGiveUpAfterBoundedTime(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		opts := testOptions()
		opts.GiveUpAfter = 150 * time.Millisecond
		e := newEnv(t, db, opts)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.setPusher(bob, "PHONE", "bob-token", "http://"+addr+NotifyPath, nil)
		e.Text(room, alice, "too late")
		e.waitAttempt()
		waitFor(t, func() bool { return e.queueLen() == 0 })
		gw := newGatewayAt(t, addr)
		gw.none(300 * time.Millisecond)
	})
}

// TestCorePushNotifies runs the whole commit path: core/push evaluates
// bob's rules and calls Notified itself.
func TestCorePushNotifies(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, testOptions())
		gw := newGateway(t)
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		room := e.Room(alice, rooms.CreateRequest{}, bob, carol)
		e.setPusher(bob, "PHONE", "bob-token", gw.url(), nil)

		e.Text(room, alice, "hello all")
		n := gw.next()
		if n.Get("prio").Str != "low" || n.Get("devices.0.tweaks.highlight").Exists() || n.Get("counts.unread").Int() != 1 {
			t.Errorf("group message: %s", n.Raw)
		}
		e.Send(room, alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "bob: look",
			"m.mentions": map[string]any{"user_ids": []string{bob.String()}}})
		n = gw.next()
		if n.Get("prio").Str != "high" || !n.Get("devices.0.tweaks.highlight").Bool() || n.Get("counts.unread").Int() != 2 {
			t.Errorf("mention: %s", n.Raw)
		}
		// Bob's own message notifies only users without pushers: nothing is posted.
		e.Text(room, bob, "hi")
		gw.none(200 * time.Millisecond)
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package sync_test

import (
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

func TestLongPollWakesOnSend(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str

		type result struct {
			res gjson.Result
			at  time.Time
		}
		done := make(chan result, 1)
		go func() {
			res := e.sync(bob, syncOpts{since: next, timeout: 20 * time.Second})
			done <- result{res, time.Now()}
		}()
		time.Sleep(50 * time.Millisecond)
		select {
		case r := <-done:
			t.Fatalf("sync returned before anything happened: %s", r.res.Raw)
		default:
		}
		e.Text(room, alice, "wake up")
		sent := time.Now()
		select {
		case r := <-done:
			if d := r.at.Sub(sent); d > time.Second {
				t.Errorf("sync took %v to wake", d)
			}
			eq(t, "woken timeline", bodies(joined(r.res, room)), []string{"wake up"})
		case <-time.After(10 * time.Second):
			t.Fatal("sync did not wake up")
		}
	})
}

func TestLongPollTimesOutEmpty(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		e.Room(alice, rooms.CreateRequest{}, bob)
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str
		start := time.Now()
		res := e.sync(bob, syncOpts{since: next, timeout: 150 * time.Millisecond})
		if d := time.Since(start); d < 140*time.Millisecond || d > 5*time.Second {
			t.Errorf("empty long poll took %v", d)
		}
		if n := len(res.Get("rooms.join").Map()); n != 0 {
			t.Errorf("empty sync has %d joined rooms: %s", n, res.Raw)
		}
		if res.Get("next_batch").Str == "" {
			t.Error("no next_batch")
		}
		for _, key := range []string{"to_device.events", "device_lists.changed", "device_lists.left", "device_one_time_keys_count"} {
			if !res.Get(key).Exists() {
				t.Errorf("placeholder %s missing", key)
			}
		}
	})
}

func TestLongPollIgnoresOtherRooms(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		mine := e.Room(alice, rooms.CreateRequest{}, bob)
		other := e.Room(alice, rooms.CreateRequest{}, carol)
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str
		done := make(chan gjson.Result, 1)
		go func() { done <- e.sync(bob, syncOpts{since: next, timeout: 20 * time.Second}) }()
		time.Sleep(30 * time.Millisecond)
		e.Text(other, alice, "not for bob")
		select {
		case res := <-done:
			t.Fatalf("woke for a room bob is not in: %s", res.Raw)
		case <-time.After(150 * time.Millisecond):
		}
		e.Text(mine, alice, "for bob")
		select {
		case res := <-done:
			eq(t, "timeline", bodies(joined(res, mine)), []string{"for bob"})
			if joined(res, other).Exists() {
				t.Error("other room leaked into bob's sync")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("sync did not wake up")
		}
	})
}

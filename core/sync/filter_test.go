package sync_test

import (
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

func TestTimelineFilters(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		other := e.Room(alice, rooms.CreateRequest{}, bob)
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str
		e.Text(room, alice, "from alice")
		e.Text(room, bob, "from bob")
		e.Send(room, alice, "org.example.custom", map[string]string{"body": "custom"})
		e.Send(room, alice, "m.room.message", map[string]any{"msgtype": "m.image", "body": "pic", "url": "mxc://x/y"})
		e.Text(other, alice, "elsewhere")

		cases := []struct {
			name, filter string
			want         []string
		}{
			{"types wildcard", `{"room":{"timeline":{"types":["m.room.*"]}}}`, []string{"from alice", "from bob", "pic"}},
			{"not_types", `{"room":{"timeline":{"not_types":["m.room.message"]}}}`, []string{"custom"}},
			{"odd wildcard", `{"room":{"timeline":{"types":["org.*.custom"]}}}`, []string{"custom"}},
			{"senders", `{"room":{"timeline":{"senders":["@bob:test.local"]}}}`, []string{"from bob"}},
			{"not_senders", `{"room":{"timeline":{"not_senders":["@alice:test.local"]}}}`, []string{"from bob"}},
			{"contains_url", `{"room":{"timeline":{"contains_url":true}}}`, []string{"pic"}},
			{"limit", `{"room":{"timeline":{"limit":1}}}`, []string{"pic"}},
			{"empty types", `{"room":{"timeline":{"types":[]}}}`, nil},
		}
		for _, c := range cases {
			res := e.sync(bob, syncOpts{since: next, filter: c.filter})
			eq(t, c.name, bodies(joined(res, room)), c.want)
		}
		// Room filters drop whole rooms.
		res := e.sync(bob, syncOpts{since: next, filter: `{"room":{"not_rooms":["` + string(other) + `"]}}`})
		if joined(res, other).Exists() || !joined(res, room).Exists() {
			t.Errorf("not_rooms: %s", res.Get("rooms.join").Raw)
		}
		res = e.sync(bob, syncOpts{since: next, filter: `{"room":{"rooms":["` + string(other) + `"]}}`})
		if !joined(res, other).Exists() || joined(res, room).Exists() {
			t.Errorf("rooms: %s", res.Get("rooms.join").Raw)
		}
		// event_fields keeps only the named fields.
		res = e.sync(bob, syncOpts{since: next, filter: `{"event_fields":["type","content.body"],"room":{"timeline":{"limit":1}}}`})
		ev := joined(res, room).Get("timeline.events.0")
		if ev.Get("content.body").Str != "pic" || ev.Get("event_id").Exists() || ev.Get("content.url").Exists() {
			t.Errorf("event_fields: %s", ev.Raw)
		}
	})
}

func TestStoredFilters(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		e.Text(room, alice, "one")
		e.Text(room, alice, "two")
		id1, err := e.Sync.CreateFilter(e.Ctx, bob, []byte(`{"room":{"timeline":{"limit":1}}}`))
		if err != nil {
			t.Fatal(err)
		}
		again, _ := e.Sync.CreateFilter(e.Ctx, bob, []byte(` {"room": {"timeline": {"limit": 1}}}`))
		id2, _ := e.Sync.CreateFilter(e.Ctx, bob, []byte(`{"room":{"timeline":{"limit":2}}}`))
		if id1 != "0" || again != id1 || id2 != "1" {
			t.Errorf("filter IDs %q %q %q", id1, again, id2)
		}
		eq(t, "stored filter", bodies(joined(e.sync(bob, syncOpts{filter: id1}), room)), []string{"two"})
		raw, err := e.Sync.GetFilter(e.Ctx, bob, id2)
		if err != nil || string(raw) != `{"room":{"timeline":{"limit":2}}}` {
			t.Errorf("GetFilter = %s, %v", raw, err)
		}
		// Filters are per user.
		if _, err := e.Sync.GetFilter(e.Ctx, alice, id1); errCode(err) != "M_NOT_FOUND" {
			t.Errorf("alice read bob's filter: %v", err)
		}
		if _, err := e.Sync.ResolveFilter(e.Ctx, alice, "42"); errCode(err) != "M_INVALID_PARAM" {
			t.Errorf("unknown filter ID: %v", err)
		}
	})
}

func TestParseFilterRejects(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `{`, `"x"`, `{"room":{"timeline":{"limit":"ten"}}}`, `{"room":{"timeline":{"limit":-1}}}`,
		`{"room":{"rooms":["not-a-room"]}}`, `{"presence":{"senders":["nobody"]}}`, `{"event_format":"xml"}`,
		`{"room":{"state":{"types":"m.room.name"}}}`, `{"event_fields":[""]}`,
	} {
		if _, err := gsync.ParseFilter([]byte(bad)); errCode(err) != "M_BAD_JSON" {
			t.Errorf("ParseFilter(%q) = %v, want M_BAD_JSON", bad, err)
		}
	}
	f, err := gsync.ParseFilter([]byte(`{"room":{"timeline":{"limit":5000}}}`))
	if err != nil || f.Room.Timeline.TimelineLimit(10) != gsync.MaxTimelineLimit {
		t.Errorf("limit not clamped: %v", err)
	}
}

func TestParseToken(t *testing.T) {
	for tok, want := range map[string]int64{"s0": 0, "s123": 123, "77": 77} {
		if got, err := gsync.ParseToken(tok); err != nil || got != want {
			t.Errorf("ParseToken(%q) = %d, %v", tok, got, err)
		}
	}
	for _, bad := range []string{"", "s", "s-1", "t12", "s12_3", "s99999999999999999999", "1e3", " 1"} {
		if _, err := gsync.ParseToken(bad); errCode(err) != "M_INVALID_PARAM" {
			t.Errorf("ParseToken(%q) = %v", bad, err)
		}
	}
	if gsync.FormatToken(42) != "s42" {
		t.Error("FormatToken")
	}
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"s0", "s123", "", "s-1", "sss", "s9223372036854775807", "s9223372036854775808"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := gsync.ParseToken(s)
		if err != nil {
			if errCode(err) != "M_INVALID_PARAM" {
				t.Fatalf("ParseToken(%q): non-Matrix error %v", s, err)
			}
			return
		}
		if pos < 0 {
			t.Fatalf("ParseToken(%q) = %d", s, pos)
		}
		if back, err := gsync.ParseToken(gsync.FormatToken(pos)); err != nil || back != pos {
			t.Fatalf("round trip of %d: %d, %v", pos, back, err)
		}
	})
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`{}`, lazyFilter, `{"room":{"timeline":{"types":["m.*","*"],"not_senders":["@a:b"]}}}`,
		`{"event_fields":["content.body","a\\.b"]}`, `{"presence":{"limit":3}}`, `null`, `{"room":{"include_leave":true}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := gsync.ParseFilter(data)
		if err != nil {
			if c := errCode(err); c != "M_BAD_JSON" {
				t.Fatalf("ParseFilter: non-Matrix error %v", err)
			}
			return
		}
		// A valid filter must be usable without panicking.
		tf := flt.Room.Timeline
		_ = tf.TimelineLimit(10)
		_ = tf.AllowsType("m.room.message")
		_ = tf.AllowsSender("@a:b")
		_ = flt.Room.AllowsRoom("!r:b")
	})
}

package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

func ptr[T any](v T) *T { return &v }

// roomListState is what Element X asks of rooms in its room list.
var roomListState = [][2]string{{"m.room.name", ""}, {"m.room.member", "$LAZY"}, {"m.room.member", "$ME"}}

// TestSlidingSyncListWindow: the first request of a connection returns the
// rooms inside the list's range, newest activity first, with the list's
// count, names, the required state asked for (wildcards and lazy members)
// and timeline_limit events.
func TestSlidingSyncListWindow(t *testing.T) {
	forEachSlidingDB(t, func(t *testing.T, e *slidingEnv) {
		alice, bob := e.account("alice"), e.account("bob")
		var ids []id.RoomID
		for i := range 11 {
			ids = append(ids, e.Room(alice, rooms.CreateRequest{Name: ptr(fmt.Sprintf("room %d", i))}))
		}
		e.Invite(ids[6], alice, bob)
		e.Join(ids[6], bob)
		// Activity order, oldest first: room 3 is the quietest, room 6 the
		// liveliest (bob speaks last there).
		order := []int{3, 7, 0, 10, 5, 1, 9, 2, 8, 4, 6}
		for _, i := range order {
			sender := alice
			if i == 6 {
				sender = bob
			}
			e.Text(ids[i], sender, fmt.Sprintf("first %d", i))
			e.Text(ids[i], sender, fmt.Sprintf("msg %d", i))
		}
		res := e.slide(alice, "", 0, map[string]any{
			"conn_id": "room-list",
			"lists": map[string]any{
				"all": map[string]any{"ranges": [][2]int{{0, 9}}, "timeline_limit": 2, "required_state": roomListState},
				"top": map[string]any{"ranges": [][2]int{{0, 0}}, "timeline_limit": 1, "required_state": [][2]string{{"m.room.create", ""}}},
			},
		}).ok(t)
		if res.Get("pos").Str == "" || res.Get("lists.all.count").Int() != 11 || res.Get("lists.top.count").Int() != 11 {
			t.Fatalf("pos and list counts: %s", res.Get("lists").Raw)
		}
		got := roomsOf(res)
		if len(got) != 10 {
			t.Fatalf("want the 10 rooms of range [0,9], got %d", len(got))
		}
		if _, ok := got[ids[3].String()]; ok {
			t.Errorf("the quietest room (index 10) is outside [0,9] but was sent")
		}
		// Newest first by bump_stamp is the activity order.
		var byBump []string
		for room := range got {
			byBump = append(byBump, room)
		}
		sort.Slice(byBump, func(i, j int) bool {
			return got[byBump[i]].Get("bump_stamp").Int() > got[byBump[j]].Get("bump_stamp").Int()
		})
		for k, room := range byBump {
			want := ids[order[len(order)-1-k]].String()
			if room != want {
				t.Fatalf("position %d by bump_stamp: %s, want %s", k, room, want)
			}
		}
		for i, roomID := range ids {
			r, ok := got[roomID.String()]
			if !ok {
				continue
			}
			if r.Get("name").Str != fmt.Sprintf("room %d", i) || !r.Get("initial").Bool() || r.Get("membership").Str != "join" {
				t.Errorf("room %d: name/initial/membership: %s", i, r.Raw)
			}
			if b := timelineBodies(r); !slices.Equal(b, []string{fmt.Sprintf("first %d", i), fmt.Sprintf("msg %d", i)}) || !r.Get("limited").Bool() ||
				r.Get("prev_batch").Str == "" {
				t.Errorf("room %d timeline: %v limited=%v prev_batch=%q", i, b, r.Get("limited").Bool(), r.Get("prev_batch").Str)
			}
		}
		top := got[ids[6].String()]
		if lists := top.Get("lists").Array(); len(lists) != 2 {
			t.Errorf("the newest room is in both lists: %s", top.Get("lists").Raw)
		}
		st := stateOf(top)
		for _, k := range [][2]string{{"m.room.name", ""}, {"m.room.member", alice.String()}, {"m.room.member", bob.String()}, {"m.room.create", ""}} {
			if _, ok := st[k]; !ok {
				t.Errorf("newest room lacks %v in required_state", k)
			}
		}
		if _, ok := st[[2]string{"m.room.power_levels", ""}]; ok || len(st) != 4 {
			t.Errorf("newest room required_state has more than asked: %v", keysOf(st))
		}
		if top.Get("joined_count").Int() != 2 || top.Get("notification_count").Int() != 2 {
			t.Errorf("counts: %s", top.Raw)
		}
		other := stateOf(got[ids[9].String()])
		if _, ok := other[[2]string{"m.room.create", ""}]; ok || len(other) != 2 {
			t.Errorf("room 9 is only in \"all\": want name and own member, got %v", keysOf(other))
		}

		// A subscription reaches a room outside every range, with its own
		// config: everything ("*", "*") and a longer timeline.
		res = e.slide(alice, "", 0, map[string]any{
			"conn_id":            "subs",
			"lists":              map[string]any{"all": map[string]any{"ranges": [][2]int{{0, 0}}, "timeline_limit": 1, "required_state": roomListState}},
			"room_subscriptions": map[string]any{ids[3].String(): map[string]any{"timeline_limit": 5, "required_state": [][2]string{{"*", "*"}}}},
		}).ok(t)
		got = roomsOf(res)
		sub, ok := got[ids[3].String()]
		if len(got) != 2 || !ok {
			t.Fatalf("want the top room and the subscribed one, got %v", slices.Collect(mapsKeys(got)))
		}
		if sub.Get("lists").Exists() || len(sub.Get("timeline").Array()) != 5 {
			t.Errorf("subscribed room: lists %s, %d timeline events", sub.Get("lists").Raw, len(sub.Get("timeline").Array()))
		}
		st = stateOf(sub)
		for _, k := range [][2]string{{"m.room.create", ""}, {"m.room.power_levels", ""}, {"m.room.join_rules", ""}, {"m.room.name", ""}, {"m.room.member", alice.String()}} {
			if _, ok := st[k]; !ok {
				t.Errorf("subscribed room with (*, *) lacks %v", k)
			}
		}
	})
}

func keysOf(m map[[2]string]gjson.Result) [][2]string {
	var out [][2]string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mapsKeys(m map[string]gjson.Result) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestSlidingSyncIncremental: with a pos, only rooms that changed come
// back; a request with nothing new long-polls until another user's
// message arrives, and then carries just that room and message.
func TestSlidingSyncIncremental(t *testing.T) {
	forEachSlidingDB(t, func(t *testing.T, e *slidingEnv) {
		alice, bob := e.account("alice"), e.account("bob")
		quiet := e.Room(alice, rooms.CreateRequest{Name: ptr("quiet")}, bob)
		busy := e.Room(alice, rooms.CreateRequest{Name: ptr("busy")}, bob)
		body := map[string]any{"lists": map[string]any{"all": map[string]any{
			"ranges": [][2]int{{0, 9}}, "timeline_limit": 1, "required_state": roomListState}}}
		first := e.slide(alice, "", 0, body).ok(t)
		if len(roomsOf(first)) != 2 {
			t.Fatalf("initial: %s", first.Get("rooms").Raw)
		}
		pos := first.Get("pos").Str
		idle := e.slide(alice, pos, 0, body).ok(t)
		if len(roomsOf(idle)) != 0 {
			t.Fatalf("nothing happened, yet rooms came back: %s", idle.Get("rooms").Raw)
		}
		pos = idle.Get("pos").Str

		done := make(chan gjson.Result, 1)
		go func() { done <- e.slide(alice, pos, 10*time.Second, body).ok(t) }()
		time.Sleep(50 * time.Millisecond) // usually lets the request start waiting
		e.Text(busy, bob, "wake up")
		var res gjson.Result
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the long poll did not end with the message")
		}
		got := roomsOf(res)
		r, ok := got[busy.String()]
		if len(got) != 1 || !ok {
			t.Fatalf("want only the busy room, got %s", res.Get("rooms").Raw)
		}
		if b := timelineBodies(r); !slices.Equal(b, []string{"wake up"}) || r.Get("initial").Bool() || r.Get("num_live").Int() != 1 || r.Get("limited").Bool() {
			t.Errorf("incremental room: %s", r.Raw)
		}
		if r.Get("bump_stamp").Int() <= roomsOf(first)[busy.String()].Get("bump_stamp").Int() {
			t.Errorf("bump_stamp did not grow")
		}
		if r.Get("notification_count").Int() != 1 {
			t.Errorf("notification_count = %d, want 1", r.Get("notification_count").Int())
		}
		// More events than timeline_limit since the last response: the
		// newest only, limited; the quiet room stays out.
		for i := range 3 {
			e.Text(busy, bob, fmt.Sprintf("burst %d", i))
		}
		res = e.slide(alice, res.Get("pos").Str, 0, body).ok(t)
		got = roomsOf(res)
		if _, ok := got[quiet.String()]; ok || len(got) != 1 {
			t.Fatalf("want only the busy room: %s", res.Get("rooms").Raw)
		}
		r = got[busy.String()]
		if b := timelineBodies(r); !slices.Equal(b, []string{"burst 2"}) || !r.Get("limited").Bool() || r.Get("notification_count").Int() != 4 {
			t.Errorf("burst: %s", r.Raw)
		}
		// Reading the room resets its count: the room comes back with 0.
		last := r.Get("timeline.0.event_id").Str
		if err := e.Receipts.Set(e.Ctx, busy, alice, "m.read", id.EventID(last), ""); err != nil {
			t.Fatal(err)
		}
		res = e.slide(alice, res.Get("pos").Str, 10*time.Second, body).ok(t)
		if r := roomsOf(res)[busy.String()]; !r.Exists() || r.Get("notification_count").Int() != 0 || len(r.Get("timeline").Array()) != 0 {
			t.Errorf("after reading: %s", res.Get("rooms").Raw)
		}
		// A larger timeline_limit (opening the room) re-sends its latest
		// events at once, though nothing new happened.
		body["room_subscriptions"] = map[string]any{quiet.String(): map[string]any{"timeline_limit": 10, "required_state": roomListState}}
		res = e.slide(alice, res.Get("pos").Str, 10*time.Second, body).ok(t)
		r = roomsOf(res)[quiet.String()]
		if !r.Get("expanded_timeline").Bool() || len(r.Get("timeline").Array()) < 5 {
			t.Errorf("expanded timeline: %s", r.Raw)
		}
	})
}

// TestSlidingSyncInvite: an invite appears with its stripped state and
// no timeline; once joined, the room is sent whole.
func TestSlidingSyncInvite(t *testing.T) {
	forEachSlidingDB(t, func(t *testing.T, e *slidingEnv) {
		alice, bob := e.account("alice"), e.account("bob")
		room := e.Room(alice, rooms.CreateRequest{Name: ptr("party")})
		e.Text(room, alice, "before bob")
		e.Invite(room, alice, bob)
		body := map[string]any{"lists": map[string]any{
			"invites": map[string]any{"ranges": [][2]int{{0, 9}}, "timeline_limit": 1, "required_state": roomListState,
				"filters": map[string]any{"is_invite": true}},
			"joined": map[string]any{"ranges": [][2]int{{0, 9}}, "timeline_limit": 1, "required_state": roomListState,
				"filters": map[string]any{"is_invite": false}},
		}}
		res := e.slide(bob, "", 0, body).ok(t)
		if res.Get("lists.invites.count").Int() != 1 || res.Get("lists.joined.count").Int() != 0 {
			t.Fatalf("list counts: %s", res.Get("lists").Raw)
		}
		r := roomsOf(res)[room.String()]
		if r.Get("membership").Str != "invite" || r.Get("timeline").Exists() || r.Get("required_state").Exists() {
			t.Fatalf("invited room shows more than stripped state: %s", r.Raw)
		}
		var name, invite bool
		for _, ev := range r.Get("invite_state").Array() {
			name = name || ev.Get("type").Str == "m.room.name" && ev.Get("content.name").Str == "party"
			invite = invite || ev.Get("type").Str == "m.room.member" && ev.Get("state_key").Str == bob.String() &&
				ev.Get("content.membership").Str == "invite" && ev.Get("sender").Str == alice.String()
		}
		if !name || !invite {
			t.Fatalf("invite_state lacks the name or the invite: %s", r.Get("invite_state").Raw)
		}
		e.Join(room, bob)
		res = e.slide(bob, res.Get("pos").Str, 10*time.Second, body).ok(t)
		r = roomsOf(res)[room.String()]
		own := stateOf(r)[[2]string{"m.room.member", bob.String()}]
		if r.Get("membership").Str != "join" || !r.Get("initial").Bool() || own.Get("content.membership").Str != "join" ||
			r.Get("name").Str != "party" || r.Get("lists.0").Str != "joined" {
			t.Fatalf("joined room: %s", r.Raw)
		}
		if res.Get("lists.invites.count").Int() != 0 || res.Get("lists.joined.count").Int() != 1 {
			t.Fatalf("list counts after joining: %s", res.Get("lists").Raw)
		}
	})
}

// TestSlidingSyncToDevice: to-device messages arrive in the to_device
// extension, end a long poll, and are not delivered again once the next
// request acknowledges them with since.
func TestSlidingSyncToDevice(t *testing.T) {
	forEachSlidingDB(t, func(t *testing.T, e *slidingEnv) {
		alice, bob := e.account("alice"), e.account("bob")
		body := func(since string) map[string]any {
			td := map[string]any{"enabled": true}
			if since != "" {
				td["since"] = since
			}
			return map[string]any{"conn_id": "encryption", "extensions": map[string]any{"to_device": td, "e2ee": map[string]any{"enabled": true}}}
		}
		res := e.slide(bob, "", 0, body("")).ok(t)
		next := res.Get("extensions.to_device.next_batch").Str
		if next == "" {
			t.Fatalf("to_device without next_batch: %s", res.Get("extensions").Raw)
		}
		done := make(chan gjson.Result, 1)
		go func() { done <- e.slide(bob, res.Get("pos").Str, 10*time.Second, body(next)).ok(t) }()
		time.Sleep(50 * time.Millisecond)
		if err := e.td.Send(e.Ctx, todevice.SendRequest{Sender: alice, SenderDevice: "DEV", Type: "m.test", TxnID: "t1",
			Messages: map[id.UserID]map[string]json.RawMessage{bob: {"DEV": json.RawMessage(`{"secret":"s3"}`)}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the to-device message did not end the long poll")
		}
		evs := res.Get("extensions.to_device.events").Array()
		if len(evs) != 1 || evs[0].Get("content.secret").Str != "s3" || evs[0].Get("sender").Str != alice.String() {
			t.Fatalf("to_device: %s", res.Get("extensions.to_device").Raw)
		}
		res = e.slide(bob, res.Get("pos").Str, 0, body(res.Get("extensions.to_device.next_batch").Str)).ok(t)
		if n := len(res.Get("extensions.to_device.events").Array()); n != 0 {
			t.Errorf("acknowledged message delivered again (%d events)", n)
		}
		if n, err := e.td.Pending(e.Ctx, bob, "DEV"); err != nil || n != 0 {
			t.Errorf("queue after acknowledgement: %d %v", n, err)
		}
	})
}

// TestSlidingSyncE2EE: the e2ee extension reports one-time key counts
// and the device list changes of users sharing a room.
func TestSlidingSyncE2EE(t *testing.T) {
	forEachSlidingDB(t, func(t *testing.T, e *slidingEnv) {
		alice, bob := e.account("alice"), e.account("bob")
		e.Room(alice, rooms.CreateRequest{Preset: "private_chat"}, bob)
		if _, err := e.keys.Upload(e.Ctx, bob, "DEV", keys.UploadRequest{OneTimeKeys: map[string]json.RawMessage{
			"signed_curve25519:A1": json.RawMessage(`{"key":"k1"}`), "signed_curve25519:A2": json.RawMessage(`{"key":"k2"}`)}}); err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"conn_id": "encryption", "extensions": map[string]any{"e2ee": map[string]any{"enabled": true}}}
		res := e.slide(bob, "", 0, body).ok(t)
		x := res.Get("extensions.e2ee")
		if x.Get("device_one_time_keys_count.signed_curve25519").Int() != 2 || !x.Get("device_unused_fallback_key_types").IsArray() {
			t.Fatalf("e2ee: %s", x.Raw)
		}
		done := make(chan gjson.Result, 1)
		go func() { done <- e.slide(bob, res.Get("pos").Str, 10*time.Second, body).ok(t) }()
		time.Sleep(50 * time.Millisecond)
		dk, _ := json.Marshal(deviceKeysFor(alice))
		if _, err := e.keys.Upload(e.Ctx, alice, "DEV", keys.UploadRequest{DeviceKeys: dk}); err != nil {
			t.Fatal(err)
		}
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the device list change did not end the long poll")
		}
		changed := res.Get("extensions.e2ee.device_lists.changed").Array()
		if len(changed) != 1 || changed[0].Str != alice.String() {
			t.Fatalf("device_lists: %s", res.Get("extensions.e2ee").Raw)
		}
	})
}

// TestSlidingSyncRoomExtensions: account data (global and per room),
// typing and receipts reach the connection through their extensions.
func TestSlidingSyncRoomExtensions(t *testing.T) {
	forEachSlidingDB(t, func(t *testing.T, e *slidingEnv) {
		alice, bob := e.account("alice"), e.account("bob")
		room := e.Room(alice, rooms.CreateRequest{Name: ptr("chat")}, bob)
		msg := e.Text(room, alice, "read me")
		body := map[string]any{
			"lists": map[string]any{"all": map[string]any{"ranges": [][2]int{{0, 9}}, "timeline_limit": 1, "required_state": roomListState}},
			"extensions": map[string]any{"account_data": map[string]any{"enabled": true}, "typing": map[string]any{"enabled": true},
				"receipts": map[string]any{"enabled": true, "rooms": []string{"*"}}},
		}
		res := e.slide(alice, "", 0, body).ok(t)
		if !res.Get("extensions.account_data.global").IsArray() || !res.Get("extensions.typing.rooms").IsObject() ||
			!res.Get("extensions.receipts.rooms").IsObject() {
			t.Fatalf("extensions: %s", res.Get("extensions").Raw)
		}
		pos := res.Get("pos").Str
		next := func(what string, ok func(gjson.Result) bool) {
			t.Helper()
			res := e.slide(alice, pos, 10*time.Second, body).ok(t)
			pos = res.Get("pos").Str
			if !ok(res.Get("extensions")) {
				t.Fatalf("%s: %s", what, res.Get("extensions").Raw)
			}
		}

		if err := e.Account.Set(e.Ctx, alice, "", "org.example.global", json.RawMessage(`{"g":1}`)); err != nil {
			t.Fatal(err)
		}
		if err := e.Account.Set(e.Ctx, alice, room, "org.example.room", json.RawMessage(`{"r":2}`)); err != nil {
			t.Fatal(err)
		}
		next("account data", func(x gjson.Result) bool {
			var global, perRoom bool
			for _, ev := range x.Get("account_data.global").Array() {
				global = global || ev.Get("type").Str == "org.example.global" && ev.Get("content.g").Int() == 1
			}
			for _, ev := range x.Get("account_data.rooms." + syncKey(room.String())).Array() {
				perRoom = perRoom || ev.Get("type").Str == "org.example.room" && ev.Get("content.r").Int() == 2
			}
			return global && perRoom
		})

		if err := e.Typing.Set(e.Ctx, room, bob, true, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		next("typing", func(x gjson.Result) bool {
			ids := x.Get("typing.rooms." + syncKey(room.String()) + ".content.user_ids").Array()
			return len(ids) == 1 && ids[0].Str == bob.String()
		})

		if err := e.Receipts.Set(e.Ctx, room, bob, "m.read", msg.ID, ""); err != nil {
			t.Fatal(err)
		}
		next("receipts", func(x gjson.Result) bool {
			rc := x.Get("receipts.rooms." + syncKey(room.String()))
			return rc.Get("type").Str == "m.receipt" && rc.Get("content."+syncKey(msg.ID.String())+".m\\.read."+syncKey(bob.String())).Exists()
		})
	})
}

// TestSlidingSyncBadRequests: unknown positions and malformed bodies get
// Matrix errors; a retried request with the same pos is answered again.
func TestSlidingSyncBadRequests(t *testing.T) {
	forEachSlidingDB(t, func(t *testing.T, e *slidingEnv) {
		alice := e.account("alice")
		e.Room(alice, rooms.CreateRequest{})
		body := map[string]any{"conn_id": "a", "lists": map[string]any{"all": map[string]any{"ranges": [][2]int{{0, 9}}, "timeline_limit": 1}}}
		pos := e.slide(alice, "", 0, body).ok(t).Get("pos").Str
		e.slide(alice, "nonsense", 0, body).fails(t, http.StatusBadRequest, "M_UNKNOWN_POS")
		e.slide(alice, pos+"0", 0, body).fails(t, http.StatusBadRequest, "M_UNKNOWN_POS")
		e.slide(alice, pos, 0, map[string]any{"conn_id": "other"}).fails(t, http.StatusBadRequest, "M_UNKNOWN_POS")
		// The same pos twice (a retry) works; then an older pos is gone.
		e.slide(alice, pos, 0, body).ok(t)
		retried := e.slide(alice, pos, 0, body).ok(t).Get("pos").Str
		e.slide(alice, retried, 0, body).ok(t)
		e.slide(alice, pos, 0, body).fails(t, http.StatusBadRequest, "M_UNKNOWN_POS")

		e.slide(alice, "", 0, `{"lists": {`).fails(t, http.StatusBadRequest, "M_NOT_JSON")
		e.slide(alice, "", 0, `[1, 2]`).fails(t, http.StatusBadRequest, "M_BAD_JSON")
		e.slide(alice, "", 0, `{"lists": 5}`).fails(t, http.StatusBadRequest, "M_BAD_JSON")
		e.slide(alice, "", 0, `{"lists": {"a": {"ranges": [[5, 1]], "timeline_limit": 1}}}`).fails(t, http.StatusBadRequest, "M_INVALID_PARAM")
		e.slide(alice, "", 0, `{"lists": {"a": {"ranges": [[0, 1]], "timeline_limit": 1, "required_state": [["m.room.name"]]}}}`).
			fails(t, http.StatusBadRequest, "M_BAD_JSON")
		e.do("POST", slidingPath+"?timeout=soon", alice, `{}`).fails(t, http.StatusBadRequest, "M_INVALID_PARAM")
		e.do("POST", slidingPath, "", `{}`).fails(t, http.StatusUnauthorized, "M_MISSING_TOKEN")
	})
}

// TestVersionsAdvertiseSlidingSync: the flag Element X looks for is the
// one serve.go sets from SlidingSyncFeature.
func TestVersionsAdvertiseSlidingSync(t *testing.T) {
	rt := httpx.NewRouter(syncAuth{}, zerolog.Nop())
	RegisterServerInfo(rt, &ServerInfo{Config: &config.Config{}, Unstable: map[string]bool{SlidingSyncFeature: true}})
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("GET", "/_matrix/client/versions", nil))
	if !gjson.GetBytes(rec.Body.Bytes(), `unstable_features.org\.matrix\.simplified_msc3575`).Bool() {
		t.Fatalf("versions: %s", rec.Body.String())
	}
}

// TestSlidingSyncLeave: a user removed from a room sees the room once
// more with their leave and nothing said after it; a room they leave
// themselves after the connection sent it comes back with the leave too.
func TestSlidingSyncLeave(t *testing.T) {
	forEachSlidingDB(t, func(t *testing.T, e *slidingEnv) {
		alice, bob := e.account("alice"), e.account("bob")
		kicked := e.Room(alice, rooms.CreateRequest{Name: ptr("strict")}, bob)
		left := e.Room(alice, rooms.CreateRequest{Name: ptr("boring")}, bob)
		body := map[string]any{"lists": map[string]any{"all": map[string]any{
			"ranges": [][2]int{{0, 9}}, "timeline_limit": 5, "required_state": roomListState}}}
		res := e.slide(bob, "", 0, body).ok(t)
		e.Leave(kicked, alice, bob)
		e.Text(kicked, alice, "bob is gone")
		e.Leave(left, bob, bob)
		res = e.slide(bob, res.Get("pos").Str, 10*time.Second, body).ok(t)
		got := roomsOf(res)
		for _, c := range []struct {
			room   id.RoomID
			sender id.UserID
		}{{kicked, alice}, {left, bob}} {
			r := got[c.room.String()]
			own := stateOf(r)[[2]string{"m.room.member", bob.String()}]
			if r.Get("membership").Str != "leave" || own.Get("content.membership").Str != "leave" || own.Get("sender").Str != c.sender.String() {
				t.Errorf("%s: %s", c.room, r.Raw)
			}
			for _, ev := range r.Get("timeline").Array() {
				if ev.Get("content.body").Str == "bob is gone" {
					t.Errorf("a message after the kick reached bob")
				}
			}
		}
		// A fresh connection lists the room bob was kicked from, not the
		// one he left himself.
		res = e.slide(bob, "", 0, body).ok(t)
		got = roomsOf(res)
		if _, ok := got[kicked.String()]; !ok || res.Get("lists.all.count").Int() != 1 {
			t.Errorf("fresh connection: %s", res.Get("rooms").Raw)
		}
		if _, ok := got[left.String()]; ok {
			t.Errorf("a room bob left himself is listed on a fresh connection")
		}
	})
}

// TestSlidingSyncFilters: list filters on DMs, encryption, room types and
// space membership, in the current MSC's request shape (range, pos and
// timeout in the body, required_state as include/lazy_members).
func TestSlidingSyncFilters(t *testing.T) {
	forEachSlidingDB(t, func(t *testing.T, e *slidingEnv) {
		alice, bob := e.account("alice"), e.account("bob")
		space := e.Room(alice, rooms.CreateRequest{Name: ptr("space"), CreationContent: json.RawMessage(`{"type":"m.space"}`)})
		dm := e.Room(alice, rooms.CreateRequest{IsDirect: true}, bob)
		secret := e.Room(alice, rooms.CreateRequest{Name: ptr("secret"), InitialState: []rooms.InitialState{
			{Type: "m.room.encryption", Content: json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2"}`)}}})
		plain := e.Room(alice, rooms.CreateRequest{Name: ptr("plain")})
		e.State(space, alice, "m.space.child", plain.String(), map[string]any{"via": []string{"test.local"}})
		if err := e.Account.Set(e.Ctx, alice, "", "m.direct", json.RawMessage(`{"`+bob.String()+`":["`+dm.String()+`"]}`)); err != nil {
			t.Fatal(err)
		}
		list := func(filters map[string]any) map[string]any {
			return map[string]any{"range": []int{0, 9}, "timeline_limit": 1, "filters": filters,
				"required_state": map[string]any{"include": []map[string]string{{"type": "m.room.name"}}, "lazy_members": true}}
		}
		body := map[string]any{"lists": map[string]any{
			"rooms":     list(map[string]any{"not_room_types": []string{"m.space"}}),
			"spaces":    list(map[string]any{"room_types": []string{"m.space"}}),
			"untyped":   list(map[string]any{"room_types": []any{nil}}),
			"dms":       list(map[string]any{"is_dm": true}),
			"encrypted": list(map[string]any{"is_encrypted": true}),
			"in_space":  list(map[string]any{"spaces": []string{space.String()}}),
		}}
		res := e.slide(alice, "", 0, body).ok(t)
		for name, want := range map[string]int{"rooms": 3, "spaces": 1, "untyped": 3, "dms": 1, "encrypted": 1, "in_space": 1} {
			if n := res.Get("lists." + name + ".count").Int(); n != int64(want) {
				t.Errorf("list %s: count %d, want %d", name, n, want)
			}
		}
		got := roomsOf(res)
		if !got[dm.String()].Get("is_dm").Bool() || got[secret.String()].Get("is_dm").Bool() {
			t.Errorf("is_dm: %s / %s", got[dm.String()].Raw, got[secret.String()].Raw)
		}
		if lists := got[plain.String()].Get("lists").Raw; lists != `["in_space","rooms","untyped"]` {
			t.Errorf("plain room lists: %s", lists)
		}
		// The DM has no name: heroes stand in, with bob's member event
		// details; lazy_members sent bob's membership (he joined last).
		d := got[dm.String()]
		if d.Get("name").Exists() || d.Get("heroes.0.user_id").Str != bob.String() {
			t.Errorf("DM heroes: %s", d.Raw)
		}
		body["pos"] = res.Get("pos").Str
		body["timeout"] = 10000
		done := make(chan gjson.Result, 1)
		go func() { done <- e.slide(alice, "", 0, body).ok(t) }()
		time.Sleep(50 * time.Millisecond)
		e.Text(secret, alice, "psst")
		res = <-done
		if got := roomsOf(res); len(got) != 1 || timelineBodies(got[secret.String()])[0] != "psst" {
			t.Errorf("pos in the body: %s", res.Get("rooms").Raw)
		}
	})
}

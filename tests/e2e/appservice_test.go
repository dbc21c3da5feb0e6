package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestAppService runs an external appservice against the real binary:
// ping, ghost registration and puppeting, event, EDU and to-device push,
// namespace and token checks, and exactly-once in-order delivery across a
// SIGKILL of the homeserver while the appservice is down.
func TestAppService(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		as := newFakeAS(t)
		regDir := t.TempDir()
		reg := as.writeRegistration(t, regDir)
		as.start(t)
		s := startServerWith(t, backend, Options{AppServiceConfigFiles: []string{reg}})
		ghost := id.NewUserID(ghostName, ServerName)

		// 1. Ping round-trips through the appservice.
		r := s.raw(t, "POST", "/_matrix/client/v1/appservice/"+asID+"/ping", asToken, []byte(`{"transaction_id":"ping-1"}`))
		var ping struct {
			Duration *int64 `json:"duration_ms"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &ping) != nil || ping.Duration == nil {
			t.Fatalf("ping: %d %s", r.Status, r.Body)
		}
		as.waitFor(t, "ping", 5*time.Second, func() bool { return slices.Contains(as.pings, "ping-1") })

		// 2. Ghost registration, invite, join, message and typing reach the AS.
		r = s.raw(t, "POST", "/_matrix/client/v3/register", asToken, []byte(`{"type":"m.login.application_service","username":"`+ghostName+`"}`))
		if r.Status != http.StatusOK {
			t.Fatalf("register ghost: %d %s", r.Status, r.Body)
		}
		alice := s.register(t, "alice")
		ctx := t.Context()
		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{ghost}})
		if err != nil {
			t.Fatal(err)
		}
		q := "?user_id=" + url.QueryEscape(string(ghost))
		r = s.raw(t, "POST", "/_matrix/client/v3/join/"+url.PathEscape(string(room.RoomID))+q, asToken, []byte(`{}`))
		if r.Status != http.StatusOK {
			t.Fatalf("ghost join: %d %s", r.Status, r.Body)
		}
		if _, err := alice.SendText(ctx, room.RoomID, "hello bridge"); err != nil {
			t.Fatal(err)
		}
		as.waitFor(t, "join and message", 10*time.Second, func() bool {
			var joined, msg bool
			for _, ev := range as.eventsLocked() {
				if ev.Type == "m.room.member" && ev.StateKey != nil && *ev.StateKey == string(ghost) && ev.RoomID == string(room.RoomID) {
					joined = true
				}
				if ev.Type == "m.room.message" && ev.Sender == string(alice.UserID) && body(ev) == "hello bridge" {
					msg = true
				}
			}
			return joined && msg
		})
		if _, err := alice.UserTyping(ctx, room.RoomID, true, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		as.waitFor(t, "m.typing", 10*time.Second, func() bool {
			for _, ev := range as.ephemeralLocked() {
				if ev.Type == "m.typing" && ev.RoomID == string(room.RoomID) &&
					slices.Contains(typingUsers(ev), string(alice.UserID)) {
					return true
				}
			}
			return false
		})

		// 3. The ghost sends with a timestamp override.
		path := fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/t1%s&ts=1600000000000", url.PathEscape(string(room.RoomID)), q)
		r = s.raw(t, "PUT", path, asToken, []byte(`{"msgtype":"m.text","body":"from the ghost"}`))
		var sent struct {
			EventID id.EventID `json:"event_id"`
		}
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &sent) != nil || sent.EventID == "" {
			t.Fatalf("ghost send: %d %s", r.Status, r.Body)
		}
		resp := alice.syncUntil(t, "ghost message", func(resp *mautrix.RespSync) bool {
			return byID(timeline(resp, room.RoomID), sent.EventID) != nil
		})
		ev := byID(timeline(resp, room.RoomID), sent.EventID)
		if ev.Sender != ghost || ev.Timestamp != 1600000000000 {
			t.Errorf("ghost message: sender %s ts %d, want %s 1600000000000", ev.Sender, ev.Timestamp, ghost)
		}

		// 4. Namespace and token checks.
		s.raw(t, "GET", "/_matrix/client/v3/account/whoami?user_id="+url.QueryEscape(string(alice.UserID)), asToken, nil).
			wantError(t, "user_id outside namespace", http.StatusForbidden, "M_FORBIDDEN")
		s.raw(t, "GET", "/_matrix/client/v3/account/whoami"+q, "wrong-token", nil).
			wantError(t, "wrong as_token", http.StatusUnauthorized, "M_UNKNOWN_TOKEN")

		// 5. User query for an unknown ghost.
		bob := id.NewUserID("bridge_bob", ServerName)
		_, _ = alice.GetProfile(ctx, bob)
		_, _ = alice.InviteUser(ctx, room.RoomID, &mautrix.ReqInviteUser{UserID: bob})
		time.Sleep(500 * time.Millisecond)
		as.mu.Lock()
		queried := slices.Contains(as.queries, string(bob))
		as.mu.Unlock()
		if !queried {
			t.Errorf("looking up the unknown ghost %s did not query the appservice", bob)
		}

		// 6. To-device to the ghost's device (MSC4190 device creation).
		const ghostDevice = "GHOSTDEV"
		r = s.raw(t, "PUT", "/_matrix/client/v3/devices/"+ghostDevice+q, asToken, []byte(`{"display_name":"ghost"}`))
		if r.Status != http.StatusOK && r.Status != http.StatusCreated {
			t.Fatalf("create ghost device: %d %s", r.Status, r.Body)
		}
		sendToDevice(t, alice, ghost, ghostDevice, "td-live")
		as.waitFor(t, "live to-device", 10*time.Second, func() bool {
			return countToDevice(as.toDeviceLocked(), ghost, ghostDevice)["td-live"] == 1
		})

		// 7. Durability across AS downtime and a homeserver SIGKILL.
		as.stop()
		as.mu.Lock()
		before := len(as.eventsLocked())
		as.mu.Unlock()
		for i := range 500 {
			if _, err := alice.SendText(ctx, room.RoomID, fmt.Sprintf("m%d", i)); err != nil {
				t.Fatalf("send m%d: %v", i, err)
			}
		}
		for i := range 20 {
			sendToDevice(t, alice, ghost, ghostDevice, fmt.Sprintf("td%d", i))
		}
		s.kill9(t)
		s.relaunch(t)
		as.start(t)
		s.raw(t, "POST", "/_matrix/client/v1/appservice/"+asID+"/ping", asToken, []byte(`{"transaction_id":"ping-2"}`))
		as.waitFor(t, "500 messages and 20 to-device", 40*time.Second, func() bool {
			n := 0
			for _, ev := range as.eventsLocked()[before:] {
				if ev.Type == "m.room.message" && ev.Sender == string(alice.UserID) {
					n++
				}
			}
			td := countToDevice(as.toDeviceLocked(), ghost, ghostDevice)
			return n >= 500 && len(td) >= 21
		})
		time.Sleep(time.Second) // let any duplicate arrive
		as.mu.Lock()
		defer as.mu.Unlock()
		var bodies []string
		for _, ev := range as.eventsLocked()[before:] {
			if ev.Type == "m.room.message" && ev.Sender == string(alice.UserID) {
				bodies = append(bodies, body(ev))
			}
		}
		if len(bodies) != 500 {
			t.Errorf("got %d messages after the crash, want exactly 500", len(bodies))
		}
		for i, b := range bodies {
			if b != fmt.Sprintf("m%d", i) {
				t.Fatalf("message %d is %q, want m%d (order or duplicates broken)", i, b, i)
			}
		}
		td := countToDevice(as.toDeviceLocked(), ghost, ghostDevice)
		for i := range 20 {
			if k := fmt.Sprintf("td%d", i); td[k] != 1 {
				t.Errorf("to-device %s delivered %d times, want 1", k, td[k])
			}
		}
		if as.badAuths != 0 {
			t.Errorf("%d requests to the appservice without the hs_token", as.badAuths)
		}
	})
}

// sendToDevice sends one custom to-device message tagged with tag.
func sendToDevice(t *testing.T, u *user, to id.UserID, dev id.DeviceID, tag string) {
	t.Helper()
	typ := event.Type{Type: "com.example.e2e", Class: event.ToDeviceEventType}
	req := &mautrix.ReqSendToDevice{Messages: map[id.UserID]map[id.DeviceID]*event.Content{
		to: {dev: {Raw: map[string]any{"tag": tag}}},
	}}
	if _, err := u.SendToDevice(t.Context(), typ, req); err != nil {
		t.Fatalf("sendToDevice %s: %v", tag, err)
	}
}

// countToDevice counts received to-device messages for (to, dev) by tag.
func countToDevice(evs []asEvent, to id.UserID, dev id.DeviceID) map[string]int {
	out := map[string]int{}
	for _, ev := range evs {
		if ev.ToUser != string(to) || ev.ToDevice != string(dev) {
			continue
		}
		var c struct {
			Tag string `json:"tag"`
		}
		_ = json.Unmarshal(ev.Content, &c)
		out[c.Tag]++
	}
	return out
}

func typingUsers(ev asEvent) []string {
	var c struct {
		UserIDs []string `json:"user_ids"`
	}
	_ = json.Unmarshal(ev.Content, &c)
	return c.UserIDs
}

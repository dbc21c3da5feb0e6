package client

import (
	"net/http"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

func TestAccountDataEndpoints(t *testing.T) {
	forEachSyncDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		global := syncPath("/user/%s/account_data/%s", bob.String(), "org.example.x")
		inRoom := syncPath("/user/%s/rooms/%s/account_data/%s", bob.String(), room.String(), "m.tag")
		e.do("GET", global, bob, nil).fails(t, 404, "M_NOT_FOUND")
		e.do("PUT", global, bob, map[string]any{"a": 1}).ok(t)
		if got := e.do("GET", global, bob, nil).ok(t); got.Get("a").Int() != 1 {
			t.Errorf("global: %s", got.Raw)
		}
		e.do("PUT", inRoom, bob, map[string]any{"tags": map[string]any{}}).ok(t)
		if got := e.do("GET", inRoom, bob, nil).ok(t); !got.Get("tags").IsObject() {
			t.Errorf("room: %s", got.Raw)
		}
		e.do("GET", global, alice, nil).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("PUT", global, alice, map[string]any{}).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("PUT", inRoom, alice, map[string]any{}).fails(t, http.StatusForbidden, "M_FORBIDDEN")
		e.do("PUT", syncPath("/user/%s/account_data/m.push_rules", bob.String()), bob, map[string]any{}).
			fails(t, http.StatusMethodNotAllowed, "M_BAD_JSON")
		e.do("PUT", syncPath("/user/%s/rooms/%s/account_data/m.fully_read", bob.String(), room.String()), bob, map[string]any{}).
			fails(t, http.StatusMethodNotAllowed, "M_BAD_JSON")
		e.do("PUT", global, bob, `[1,2]`).fails(t, 400, "M_BAD_JSON")
		e.do("PUT", global, bob, `{oops`).fails(t, 400, "M_NOT_JSON")
		e.do("PUT", syncPath("/user/%s/rooms/%s/account_data/x", bob.String(), "nope"), bob, map[string]any{}).
			fails(t, 400, "M_INVALID_PARAM")
		// m.push_rules is readable through this API.
		if got := e.do("GET", syncPath("/user/%s/account_data/m.push_rules", bob.String()), bob, nil).ok(t); !got.Get("global.underride").IsArray() {
			t.Errorf("m.push_rules: %s", got.Raw)
		}
	})
}

func TestTypingReceiptsAndMarkersEndpoints(t *testing.T) {
	forEachSyncDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		r := room.String()
		ev := e.Text(room, alice, "read me")
		typing := syncPath("/rooms/%s/typing/%s", r, bob.String())
		e.do("PUT", typing, bob, map[string]any{"typing": true, "timeout": 10000}).ok(t)
		e.do("PUT", typing, alice, map[string]any{"typing": true}).fails(t, 403, "M_FORBIDDEN")
		e.do("PUT", syncPath("/rooms/%s/typing/%s", r, carol.String()), carol, map[string]any{"typing": true}).fails(t, 403, "M_FORBIDDEN")
		e.do("PUT", typing, bob, map[string]any{}).fails(t, 400, "M_BAD_JSON")
		sync := e.do("GET", "/_matrix/client/v3/sync", alice, nil).ok(t)
		if got := sync.Get("rooms.join." + syncKey(r) + ".ephemeral.events.#(type==\"m.typing\").content.user_ids.0").Str; got != bob.String() {
			t.Errorf("typing not in alice's sync: %s", sync.Get("rooms.join").Raw)
		}

		receipt := syncPath("/rooms/%s/receipt/%s/%s", r, "m.read", ev.ID.String())
		e.do("POST", receipt, bob, map[string]any{}).ok(t)
		e.do("POST", syncPath("/rooms/%s/receipt/%s/%s", r, "m.seen", ev.ID.String()), bob, map[string]any{}).fails(t, 400, "M_INVALID_PARAM")
		e.do("POST", receipt, bob, map[string]any{"thread_id": "nonsense"}).fails(t, 400, "M_INVALID_PARAM")
		e.do("POST", receipt, carol, map[string]any{}).fails(t, 403, "M_FORBIDDEN")
		e.do("POST", syncPath("/rooms/%s/receipt/%s/%s", r, "m.read", "$missing"), bob, map[string]any{}).fails(t, 404, "M_NOT_FOUND")
		e.do("POST", syncPath("/rooms/%s/receipt/%s/%s", r, "m.fully_read", ev.ID.String()), bob, map[string]any{}).ok(t)
		markers := e.do("GET", syncPath("/user/%s/rooms/%s/account_data/m.fully_read", bob.String(), r), bob, nil).ok(t)
		if markers.Get("event_id").Str != ev.ID.String() {
			t.Errorf("m.fully_read: %s", markers.Raw)
		}
		e.do("POST", syncPath("/rooms/%s/read_markers", r), bob, map[string]any{
			"m.fully_read": ev.ID.String(), "m.read.private": ev.ID.String()}).ok(t)
		e.do("POST", syncPath("/rooms/%s/read_markers", r), bob, map[string]any{"m.fully_read": 5}).fails(t, 400, "M_BAD_JSON")
		bobSync := e.do("GET", "/_matrix/client/v3/sync", bob, nil).ok(t).Get("rooms.join." + syncKey(r))
		if bobSync.Get("unread_notifications.notification_count").Int() != 0 {
			t.Errorf("unread after receipts: %s", bobSync.Get("unread_notifications").Raw)
		}
	})
}

func TestPresenceAndPushRuleEndpoints(t *testing.T) {
	forEachSyncDB(t, func(t *testing.T, e *syncEnv) {
		alice, bob, carol := e.User("alice"), e.User("bob"), e.User("carol")
		e.Room(alice, rooms.CreateRequest{}, bob)
		status := syncPath("/presence/%s/status", bob.String())
		e.do("PUT", status, bob, map[string]any{"presence": "online", "status_msg": "hi"}).ok(t)
		e.do("PUT", status, bob, map[string]any{"presence": "asleep"}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", status, alice, map[string]any{"presence": "online"}).fails(t, 403, "M_FORBIDDEN")
		got := e.do("GET", status, alice, nil).ok(t)
		if got.Get("presence").Str != "online" || got.Get("status_msg").Str != "hi" || !got.Get("currently_active").Bool() {
			t.Errorf("presence: %s", got.Raw)
		}
		e.do("GET", status, carol, nil).fails(t, 403, "M_FORBIDDEN")

		rules := e.do("GET", "/_matrix/client/v3/pushrules/", bob, nil).ok(t)
		if !rules.Get("global.override.#(rule_id==\".m.rule.master\")").Exists() {
			t.Fatalf("pushrules: %s", rules.Raw)
		}
		e.do("GET", "/_matrix/client/v3/pushrules/global/", bob, nil).ok(t)
		rule := "/_matrix/client/v3/pushrules/global/content/cake"
		e.do("PUT", rule, bob, map[string]any{"pattern": "cake", "actions": []any{"notify"}}).ok(t)
		if got := e.do("GET", rule, bob, nil).ok(t); got.Get("pattern").Str != "cake" || !got.Get("enabled").Bool() {
			t.Errorf("rule: %s", got.Raw)
		}
		e.do("PUT", rule+"/enabled", bob, map[string]any{"enabled": false}).ok(t)
		if e.do("GET", rule+"/enabled", bob, nil).ok(t).Get("enabled").Bool() {
			t.Error("rule still enabled")
		}
		e.do("PUT", rule+"/actions", bob, map[string]any{"actions": []any{"notify", map[string]any{"set_tweak": "sound", "value": "bell"}}}).ok(t)
		if got := e.do("GET", rule+"/actions", bob, nil).ok(t); got.Get("actions.1.value").Str != "bell" {
			t.Errorf("actions: %s", got.Raw)
		}
		e.do("PUT", "/_matrix/client/v3/pushrules/global/content/bad", bob, map[string]any{"actions": []any{"notify"}}).fails(t, 400, "M_BAD_JSON")
		e.do("PUT", "/_matrix/client/v3/pushrules/global/sideways/x", bob, map[string]any{"actions": []any{}}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", "/_matrix/client/v3/pushrules/global/override/.m.rule.custom", bob, map[string]any{"actions": []any{}}).fails(t, 400, "M_INVALID_PARAM")
		e.do("PUT", "/_matrix/client/v3/pushrules/global/override/x?before=nope", bob, map[string]any{"actions": []any{}}).fails(t, 400, "M_UNKNOWN")
		e.do("PUT", "/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled", bob, map[string]any{"enabled": true}).ok(t)
		e.do("DELETE", rule, bob, nil).ok(t)
		e.do("GET", rule, bob, nil).fails(t, 404, "M_NOT_FOUND")
		e.do("DELETE", "/_matrix/client/v3/pushrules/global/override/.m.rule.master", bob, nil).fails(t, 400, "M_UNKNOWN")
		// The change reaches bob's other devices as account data.
		sync := e.do("GET", "/_matrix/client/v3/sync", bob, nil).ok(t)
		if !sync.Get("account_data.events.#(type==\"m.push_rules\").content.global.override.#(rule_id==\".m.rule.master\").enabled").Bool() {
			t.Errorf("m.push_rules in sync: %s", sync.Get("account_data").Raw)
		}
	})
}

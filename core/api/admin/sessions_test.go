package admin

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// loginFrom logs in with a password sending userAgent, and returns the
// access token and device ID.
func (e *env) loginFrom(user, password, userAgent string) (string, string) {
	e.t.Helper()
	data, _ := json.Marshal(map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": user}, "password": password,
	})
	req, _ := http.NewRequest("POST", e.srv.URL+"/_matrix/client/v3/login", bytes.NewReader(data))
	req.Header.Set("User-Agent", userAgent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.AccessToken == "" {
		e.t.Fatalf("login %s: %d %v", user, resp.StatusCode, err)
	}
	return body.AccessToken, body.DeviceID
}

func TestAdminWhoisAndDevice(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, "s3cret")
		root := e.register("root", true)
		alice := e.register("alice", false)
		e.register("bob", false)
		bobTok, bobDevice := e.loginFrom("bob", "pw", "TestPhone/1.0")
		serverIP, _, _ := net.SplitHostPort(e.srv.Listener.Addr().String())

		// The admin sees where bob's new session came from, the way
		// synapse-admin reads it.
		status, body := e.do("GET", "/_synapse/admin/v1/whois/@bob:example.org", root, nil)
		var whois struct {
			UserID  string `json:"user_id"`
			Devices map[string]struct {
				Sessions []struct {
					Connections []struct {
						IP        string  `json:"ip"`
						LastSeen  int64   `json:"last_seen"`
						UserAgent *string `json:"user_agent"`
					} `json:"connections"`
				} `json:"sessions"`
			} `json:"devices"`
		}
		raw, _ := json.Marshal(body)
		_ = json.Unmarshal(raw, &whois)
		if status != 200 || whois.UserID != "@bob:example.org" || len(whois.Devices[""].Sessions) != 1 {
			t.Fatalf("whois: %d %v", status, body)
		}
		var agents []string
		for _, c := range whois.Devices[""].Sessions[0].Connections {
			if c.IP != serverIP || c.LastSeen < 1e12 || c.UserAgent == nil {
				t.Fatalf("connection: %+v", c)
			}
			agents = append(agents, *c.UserAgent)
		}
		if !slices.Contains(agents, "TestPhone/1.0") {
			t.Fatalf("whois user agents: %v", agents)
		}
		// Users may ask about themselves, not about others.
		if status, body := e.do("GET", "/_synapse/admin/v1/whois/@alice:example.org", alice, nil); status != 200 || body["user_id"] != "@alice:example.org" {
			t.Fatalf("self whois: %d %v", status, body)
		}
		if status, body := e.do("GET", "/_synapse/admin/v1/whois/@bob:example.org", alice, nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("whois of another user by non-admin: %d %v", status, body)
		}

		// One device, as the admin sees it.
		devicePath := "/_synapse/admin/v2/users/@bob:example.org/devices/" + url.PathEscape(bobDevice)
		status, body = e.do("GET", devicePath, root, nil)
		if status != 200 || body["device_id"] != bobDevice || body["user_id"] != "@bob:example.org" ||
			body["last_seen_user_agent"] != "TestPhone/1.0" || body["last_seen_ip"] != serverIP {
			t.Fatalf("device: %d %v", status, body)
		}
		if status, body := e.do("GET", devicePath, alice, nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("non-admin device: %d %v", status, body)
		}
		// Deleted, the device is gone and its token with it.
		if status, _ := e.do("DELETE", devicePath, root, nil); status != 200 {
			t.Fatalf("delete device: %d", status)
		}
		if status, body := e.do("GET", devicePath, root, nil); status != 404 || body["errcode"] != "M_NOT_FOUND" {
			t.Fatalf("deleted device: %d %v", status, body)
		}
		if status := e.whoami(bobTok); status != 401 {
			t.Fatalf("token of deleted device: %d", status)
		}

		for _, c := range []struct {
			path    string
			status  int
			errcode string
		}{
			{"/_synapse/admin/v1/whois/@nobody:example.org", 404, "M_NOT_FOUND"},
			{"/_synapse/admin/v1/whois/@bob:other.org", 400, ""},
			{"/_synapse/admin/v1/whois/bob", 400, "M_INVALID_PARAM"},
			{"/_synapse/admin/v2/users/@nobody:example.org/devices/X", 404, "M_NOT_FOUND"},
			{"/_synapse/admin/v2/users/@bob:other.org/devices/X", 400, ""},
			{"/_synapse/admin/v2/users/bob/devices/X", 400, "M_INVALID_PARAM"},
		} {
			if status, body := e.do("GET", c.path, root, nil); status != c.status || (c.errcode != "" && body["errcode"] != c.errcode) {
				t.Errorf("GET %s: %d %v", c.path, status, body)
			}
		}
	})
}

func TestAdminForceJoin(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, "s3cret")
		root := e.register("root", true)
		alice := e.register("alice", false)
		e.register("bob", false)
		e.register("carol", false)
		staff := e.createRoom(root, map[string]any{"name": "Staff", "preset": "private_chat"})
		lobby := e.createRoom(alice, map[string]any{"name": "Lobby", "preset": "public_chat", "room_alias_name": "lobby"})
		secret := e.createRoom(alice, map[string]any{"name": "Secret", "preset": "private_chat"})
		members := func(room string) []string {
			t.Helper()
			_, body := e.do("GET", "/_synapse/admin/v1/rooms/"+room+"/members", root, nil)
			return names(body["members"])
		}

		if status, body := e.do("POST", "/_synapse/admin/v1/join/"+staff, alice, map[string]any{"user_id": "@alice:example.org"}); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("non-admin: %d %v", status, body)
		}
		// An invite-only room the admin is in: the admin invites, bob joins.
		status, body := e.do("POST", "/_synapse/admin/v1/join/"+staff, root, map[string]any{"user_id": "@bob:example.org"})
		if status != 200 || body["room_id"] != staff || !slices.Equal(members(staff), []string{"@bob:example.org", "@root:example.org"}) {
			t.Fatalf("join private room: %d %v, members %v", status, body, members(staff))
		}
		// A public room by alias, which the admin need not be in.
		status, body = e.do("POST", "/_synapse/admin/v1/join/"+url.PathEscape("#lobby:example.org"), root, map[string]any{"user_id": "@bob:example.org"})
		if status != 200 || body["room_id"] != lobby || !slices.Contains(members(lobby), "@bob:example.org") {
			t.Fatalf("join by alias: %d %v, members %v", status, body, members(lobby))
		}
		// An invite-only room the admin is not in cannot be joined.
		if status, body := e.do("POST", "/_synapse/admin/v1/join/"+secret, root, map[string]any{"user_id": "@bob:example.org"}); status != 403 || slices.Contains(members(secret), "@bob:example.org") {
			t.Fatalf("join private room without the admin: %d %v", status, body)
		}
		// Nor can a blocked room.
		e.do("PUT", "/_synapse/admin/v1/rooms/"+lobby+"/block", root, map[string]any{"block": true})
		if status, body := e.do("POST", "/_synapse/admin/v1/join/"+lobby, root, map[string]any{"user_id": "@carol:example.org"}); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("join blocked room: %d %v", status, body)
		}

		for _, c := range []struct {
			room    string
			body    any
			status  int
			errcode string
		}{
			{staff, map[string]any{}, 400, "M_MISSING_PARAM"},
			{staff, "{", 400, "M_NOT_JSON"},
			{staff, map[string]any{"user_id": 7}, 400, "M_BAD_JSON"},
			{staff, map[string]any{"user_id": "carol"}, 400, "M_INVALID_PARAM"},
			{staff, map[string]any{"user_id": "@carol:other.org"}, 400, ""},
			{staff, map[string]any{"user_id": "@nobody:example.org"}, 404, "M_NOT_FOUND"},
			{"!nope:example.org", map[string]any{"user_id": "@carol:example.org"}, 404, "M_NOT_FOUND"},
			{url.PathEscape("#nope:example.org"), map[string]any{"user_id": "@carol:example.org"}, 404, "M_NOT_FOUND"},
			{"notaroom", map[string]any{"user_id": "@carol:example.org"}, 400, "M_INVALID_PARAM"},
		} {
			status, body := e.do("POST", "/_synapse/admin/v1/join/"+c.room, root, c.body)
			if status != c.status || (c.errcode != "" && body["errcode"] != c.errcode) {
				t.Errorf("join %s %v: %d %v", c.room, c.body, status, body)
			}
		}
	})
}

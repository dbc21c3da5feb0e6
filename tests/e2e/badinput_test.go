package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
)

// TestBadInput sends what broken clients and attackers send and checks
// each answer is the spec's Matrix error: the right 4xx status, errcode,
// and a JSON body. The harness separately fails on any 5xx.
func TestBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		alice := s.register(t, "alice")
		mallory := s.register(t, "mallory")
		created, err := alice.CreateRoom(t.Context(), &mautrix.ReqCreateRoom{Preset: "private_chat"})
		if err != nil {
			t.Fatalf("createRoom: %v", err)
		}
		room := url.PathEscape(string(created.RoomID))
		send := "/_matrix/client/v3/rooms/" + room + "/send/m.room.message/"
		tags := "/_matrix/client/v3/user/" + url.PathEscape(string(alice.UserID)) + "/rooms/" + room + "/tags"
		tok := alice.AccessToken

		cases := []struct {
			name         string
			method, path string
			token        string
			body         string
			status       int
			errcodes     []string
		}{
			{"malformed JSON", "PUT", send + "t1", tok, `{"msgtype": "m.text", "body":`, 400, []string{"M_NOT_JSON"}},
			{"malformed JSON to createRoom", "POST", "/_matrix/client/v3/createRoom", tok, `{name: journey}`, 400, []string{"M_NOT_JSON"}},
			{"content not an object", "PUT", send + "t2", tok, `["m.text", "hi"]`, 400, []string{"M_BAD_JSON"}},
			{"wrong type for name", "POST", "/_matrix/client/v3/createRoom", tok, `{"name": 42}`, 400, []string{"M_BAD_JSON"}},
			{"wrong type for typing", "PUT", "/_matrix/client/v3/rooms/" + room + "/typing/" + url.PathEscape(string(alice.UserID)), tok, `{"typing": "yes"}`, 400, []string{"M_BAD_JSON"}},
			{"wrong type for invite user_id", "POST", "/_matrix/client/v3/rooms/" + room + "/invite", tok, `{"user_id": ["@bob:localhost"]}`, 400, []string{"M_BAD_JSON"}},
			{"event over 64 KiB", "PUT", send + "t3", tok, `{"msgtype": "m.text", "body": "` + strings.Repeat("x", 70000) + `"}`, 413, []string{"M_TOO_LARGE"}},
			// Just over 1 MiB: a server that stops reading at its limit still
			// drains this much, so the client reliably sees the 413.
			{"body over 1 MiB", "PUT", send + "t4", tok, `{"msgtype": "m.text", "body": "` + strings.Repeat("y", 1<<20+64<<10) + `"}`, 413, []string{"M_TOO_LARGE"}},
			{"missing token", "GET", "/_matrix/client/v3/account/whoami", "", "", 401, []string{"M_MISSING_TOKEN"}},
			{"wrong token", "GET", "/_matrix/client/v3/account/whoami", "syt_not_a_real_token", "", 401, []string{"M_UNKNOWN_TOKEN"}},
			{"unknown endpoint", "GET", "/_matrix/client/v3/no/such/endpoint", tok, "", 404, []string{"M_UNRECOGNIZED"}},
			{"unknown API version", "GET", "/_matrix/client/v9/account/whoami", tok, "", 404, []string{"M_UNRECOGNIZED"}},
			{"wrong method", "DELETE", "/_matrix/client/v3/account/whoami", tok, "", 405, []string{"M_UNRECOGNIZED"}},
			{"non-member send", "PUT", send + "t5", mallory.AccessToken, `{"msgtype": "m.text", "body": "let me in"}`, 403, []string{"M_FORBIDDEN"}},
			{"non-member reads state", "GET", "/_matrix/client/v3/rooms/" + room + "/state", mallory.AccessToken, "", 403, []string{"M_FORBIDDEN"}},
			{"non-member reads messages", "GET", "/_matrix/client/v3/rooms/" + room + "/messages?dir=b", mallory.AccessToken, "", 403, []string{"M_FORBIDDEN"}},
			{"invite a malformed user ID", "POST", "/_matrix/client/v3/rooms/" + room + "/invite", tok, `{"user_id": "bob"}`, 400, []string{"M_INVALID_PARAM", "M_BAD_JSON"}},
			{"messages with a bad dir", "GET", "/_matrix/client/v3/rooms/" + room + "/messages?dir=sideways", tok, "", 400, []string{"M_INVALID_PARAM"}},
			{"messages with a bad limit", "GET", "/_matrix/client/v3/rooms/" + room + "/messages?dir=b&limit=many", tok, "", 400, []string{"M_INVALID_PARAM"}},
			{"event that does not exist", "GET", "/_matrix/client/v3/rooms/" + room + "/event/%24nope", tok, "", 404, []string{"M_NOT_FOUND"}},
			{"join an unknown alias", "POST", "/_matrix/client/v3/join/%23nowhere%3Alocalhost", tok, `{}`, 404, []string{"M_NOT_FOUND"}},
			{"login with a wrong password", "POST", "/_matrix/client/v3/login", "", `{"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"}, "password": "nope"}`, 403, []string{"M_FORBIDDEN"}},
			{"login with an unknown type", "POST", "/_matrix/client/v3/login", "", `{"type": "m.login.carrier_pigeon"}`, 400, []string{"M_UNKNOWN", "M_INVALID_PARAM", "M_BAD_JSON"}},
			{"tag order of the wrong type", "PUT", tags + "/u.work", tok, `{"order": "first"}`, 400, []string{"M_BAD_JSON"}},
			{"tag order out of range", "PUT", tags + "/u.work", tok, `{"order": 7}`, 400, []string{"M_INVALID_PARAM"}},
			{"tag name over 255 bytes", "PUT", tags + "/" + strings.Repeat("t", 256), tok, `{}`, 400, []string{"M_INVALID_PARAM"}},
			{"someone else's tags", "GET", tags, mallory.AccessToken, "", 403, []string{"M_FORBIDDEN"}},
			{"hierarchy of a room one cannot see", "GET", "/_matrix/client/v1/rooms/" + room + "/hierarchy", mallory.AccessToken, "", 403, []string{"M_FORBIDDEN"}},
			{"hierarchy with a zero limit", "GET", "/_matrix/client/v1/rooms/" + room + "/hierarchy?limit=0", tok, "", 400, []string{"M_INVALID_PARAM"}},
			{"hierarchy with a bad token", "GET", "/_matrix/client/v1/rooms/" + room + "/hierarchy?from=nonsense", tok, "", 400, []string{"M_INVALID_PARAM"}},
			{"timestamp_to_event without ts", "GET", "/_matrix/client/v1/rooms/" + room + "/timestamp_to_event?dir=f", tok, "", 400, []string{"M_MISSING_PARAM"}},
			{"timestamp_to_event with a bad dir", "GET", "/_matrix/client/v1/rooms/" + room + "/timestamp_to_event?ts=1&dir=up", tok, "", 400, []string{"M_INVALID_PARAM"}},
			{"timestamp_to_event by a non-member", "GET", "/_matrix/client/v1/rooms/" + room + "/timestamp_to_event?ts=1&dir=f", mallory.AccessToken, "", 403, []string{"M_FORBIDDEN"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var body []byte
				if c.body != "" {
					body = []byte(c.body)
				}
				s.raw(t, c.method, c.path, c.token, body).wantError(t, c.name, c.status, c.errcodes...)
			})
		}

		// Room IDs that are not room IDs, and well-formed ones that do not exist.
		for _, bad := range []string{"not-a-room", "@alice:localhost", "%23alias%3Alocalhost"} {
			t.Run("invalid room ID "+bad, func(t *testing.T) {
				r := s.raw(t, "PUT", "/_matrix/client/v3/rooms/"+bad+"/send/m.room.message/t6", tok, []byte(`{"msgtype": "m.text", "body": "x"}`))
				code := r.matrixError(t, "send to "+bad)
				ok := (r.Status == 400 && (code == "M_INVALID_PARAM" || code == "M_BAD_JSON")) || (r.Status == 404 && code == "M_NOT_FOUND")
				if !ok {
					t.Errorf("send to room %q: got %d %s, want 400 M_INVALID_PARAM or 404 M_NOT_FOUND", bad, r.Status, code)
				}
			})
		}
		t.Run("unknown room", func(t *testing.T) {
			r := s.raw(t, "PUT", "/_matrix/client/v3/rooms/%21doesnotexist%3Alocalhost/send/m.room.message/t7", tok, []byte(`{"msgtype": "m.text", "body": "x"}`))
			code := r.matrixError(t, "send to an unknown room")
			if !(r.Status == 403 && code == "M_FORBIDDEN") && !(r.Status == 404 && code == "M_NOT_FOUND") {
				t.Errorf("send to an unknown room: got %d %s, want 403 M_FORBIDDEN or 404 M_NOT_FOUND", r.Status, code)
			}
		})

		// A rejected event must not have been stored.
		t.Run("nothing stored from rejected sends", func(t *testing.T) {
			for _, ev := range allMessages(t, alice, created.RoomID) {
				t.Errorf("rejected input stored an event: %s %s", ev.ID, ev.Content.VeryRaw)
			}
		})

		// Last, as some garbage is valid somewhere ({} is an empty message).
		t.Run("garbage never gets a 5xx", func(t *testing.T) { garbage(t, s, tok, room) })
	})
}

// garbage throws bodies of every wrong shape at endpoints that parse
// JSON. The answers may differ, but each must be a Matrix 4xx.
func garbage(t *testing.T, s *server, tok, room string) {
	bodies := []string{
		``, `null`, `0`, `"str"`, `[]`, `{}`, `{"a":`, "\x00\xff\xfe", `{"a": 1e999999}`,
		`{"msgtype": null, "body": null}`, `{"body": {"nested": [1, 2, {"deep": true}]}}`,
		`{"user_id": ""}`, `{"user_id": "@:"}`, `{"type": 7, "identifier": "x"}`, `{"preset": "nonsense", "invite": "notalist"}`,
		`{"room_version": "999"}`, `{"initial_state": [{"type": 1}]}`, `{"visibility": ["public"]}`,
		`{"filter": "x"}`, `{"auth": "x", "username": 5}`, `{"username": "` + strings.Repeat("z", 300) + `", "password": "p"}`,
		`{"username": "UPPER case", "password": "p", "auth": {"type": "m.login.dummy"}}`,
	}
	enc := url.PathEscape
	endpoints := []struct{ method, path, token string }{
		{"POST", "/_matrix/client/v3/createRoom", tok},
		{"PUT", "/_matrix/client/v3/rooms/" + room + "/send/m.room.message/g", tok},
		{"PUT", "/_matrix/client/v3/rooms/" + room + "/state/m.room.name/", tok},
		{"PUT", "/_matrix/client/v3/rooms/" + room + "/state/m.room.power_levels/", tok},
		{"PUT", "/_matrix/client/v3/rooms/" + room + "/state/m.room.member/" + enc("@alice:localhost"), tok},
		{"POST", "/_matrix/client/v3/rooms/" + room + "/invite", tok},
		{"POST", "/_matrix/client/v3/rooms/" + room + "/kick", tok},
		{"POST", "/_matrix/client/v3/rooms/" + room + "/ban", tok},
		{"PUT", "/_matrix/client/v3/rooms/" + room + "/typing/" + enc("@alice:localhost"), tok},
		{"POST", "/_matrix/client/v3/rooms/" + room + "/receipt/m.read/%24nope", tok},
		{"PUT", "/_matrix/client/v3/rooms/" + room + "/redact/%24nope/g", tok},
		{"PUT", "/_matrix/client/v3/profile/" + enc("@alice:localhost") + "/displayname", tok},
		{"POST", "/_matrix/client/v3/user/" + enc("@alice:localhost") + "/filter", tok},
		{"POST", "/_matrix/client/v3/login", ""},
		{"POST", "/_matrix/client/v3/register", ""},
		{"POST", "/_matrix/client/v3/join/" + enc("#x:localhost"), tok},
		{"PUT", "/_matrix/client/v3/user/" + enc("@alice:localhost") + "/rooms/" + room + "/tags/u.garbage", tok},
	}
	n := 0
	for _, e := range endpoints {
		for i, b := range bodies {
			path := e.path
			if strings.HasSuffix(path, "/g") {
				path += string(rune('a' + i))
			}
			r := s.raw(t, e.method, path, e.token, []byte(b))
			if r.Status >= 200 && r.Status < 300 {
				continue // Some garbage is valid input somewhere, e.g. {} for createRoom.
			}
			n++
			if r.Status == http.StatusUnauthorized && e.path == "/_matrix/client/v3/register" {
				continue // The UIA challenge is a 401 with flows, not an errcode.
			}
			if r.Status < 400 || r.Status > 499 {
				t.Errorf("%s %s with %.40q: status %d", e.method, e.path, b, r.Status)
				continue
			}
			r.matrixError(t, e.method+" "+e.path+" with "+b[:min(len(b), 40)])
		}
	}
	for _, q := range []string{"since=garbage", "timeout=-5", "timeout=abc", "filter=%7Bbad", "filter=nosuchfilter", "full_state=maybe", "set_presence=sleepy"} {
		r := s.raw(t, "GET", "/_matrix/client/v3/sync?"+q, tok, nil)
		if r.Status >= 500 {
			t.Errorf("/sync?%s: status %d", q, r.Status)
		} else if r.Status >= 400 {
			r.matrixError(t, "/sync?"+q)
		}
	}
	for _, q := range []string{
		"hierarchy?limit=-1", "hierarchy?limit=x", "hierarchy?max_depth=-9", "hierarchy?suggested_only=1", "hierarchy?from=%00",
		"hierarchy?from=" + strings.Repeat("A", 4000), "timestamp_to_event", "timestamp_to_event?ts=1e99&dir=f",
		"timestamp_to_event?ts=9223372036854775807&dir=f", "timestamp_to_event?ts=-1&dir=b", "timestamp_to_event?ts=0&dir=",
	} {
		path := "/_matrix/client/v1/rooms/" + room + "/" + q
		r := s.raw(t, "GET", path, tok, nil)
		if r.Status >= 500 {
			t.Errorf("%s: status %d", path, r.Status)
		} else if r.Status >= 400 {
			r.matrixError(t, path)
		}
	}
	t.Logf("%d garbage requests rejected with Matrix errors", n)
}

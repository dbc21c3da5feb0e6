package admin

import (
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestAdminEventReports(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db, "s3cret")
		root := e.register("root", true)
		alice := e.register("alice", false)
		bob := e.register("bob", false)
		room := e.createRoom(alice, map[string]any{"name": "Town Square", "preset": "public_chat"})
		e.do("POST", "/_matrix/client/v3/join/"+room, bob, nil)
		status, body := e.do("PUT", "/_matrix/client/v3/rooms/"+room+"/send/m.room.message/t1", bob, map[string]any{"msgtype": "m.text", "body": "buy cheap pills"})
		eventID, _ := body["event_id"].(string)
		if status != 200 || eventID == "" {
			t.Fatalf("send: %d %v", status, body)
		}
		if status, body := e.do("POST", "/_matrix/client/v3/rooms/"+room+"/report/"+eventID, alice, map[string]any{"reason": "spam", "score": -100}); status != 200 {
			t.Fatalf("report: %d %v", status, body)
		}

		if status, body := e.do("GET", "/_synapse/admin/v1/event_reports", alice, nil); status != 403 || body["errcode"] != "M_FORBIDDEN" {
			t.Fatalf("non-admin list: %d %v", status, body)
		}
		status, body = e.do("GET", "/_synapse/admin/v1/event_reports", root, nil)
		list, _ := body["event_reports"].([]any)
		if status != 200 || body["total"] != float64(1) || len(list) != 1 {
			t.Fatalf("list: %d %v", status, body)
		}
		rep := list[0].(map[string]any)
		if rep["event_id"] != eventID || rep["room_id"] != room || rep["user_id"] != "@alice:example.org" ||
			rep["sender"] != "@bob:example.org" || rep["reason"] != "spam" || rep["score"] != float64(-100) ||
			rep["name"] != "Town Square" || rep["received_ts"].(float64) < 1e12 {
			t.Fatalf("report entry: %v", rep)
		}
		reportID, _ := rep["id"].(string)
		for query, want := range map[string]float64{"user_id=alice": 1, "user_id=bob": 0, "room_id=" + room: 1,
			"room_id=!other:example.org": 0, "sender_user_id=@bob:example.org": 1,
			"sender_user_id=@alice:example.org": 0, "dir=f&limit=0": 1} {
			if _, body := e.do("GET", "/_synapse/admin/v1/event_reports?"+query, root, nil); body["total"] != want {
				t.Errorf("%s: %v", query, body)
			}
		}
		status, body = e.do("GET", "/_synapse/admin/v1/event_reports/"+reportID, root, nil)
		ev, _ := body["event_json"].(map[string]any)
		if status != 200 || body["reason"] != "spam" || ev == nil || ev["content"].(map[string]any)["body"] != "buy cheap pills" {
			t.Fatalf("get report: %d %v", status, body)
		}
		if status, _ := e.do("DELETE", "/_synapse/admin/v1/event_reports/"+reportID, alice, nil); status != 403 {
			t.Fatalf("non-admin delete: %d", status)
		}
		if status, _ := e.do("DELETE", "/_synapse/admin/v1/event_reports/"+reportID, root, nil); status != 200 {
			t.Fatalf("delete: %d", status)
		}
		for _, method := range []string{"GET", "DELETE"} {
			if status, body := e.do(method, "/_synapse/admin/v1/event_reports/"+reportID, root, nil); status != 404 || body["errcode"] != "M_NOT_FOUND" {
				t.Fatalf("%s deleted report: %d %v", method, status, body)
			}
		}
		if _, body := e.do("GET", "/_synapse/admin/v1/event_reports", root, nil); body["total"] != float64(0) {
			t.Fatalf("list after delete: %v", body)
		}
		for _, q := range []string{"dir=x", "limit=-1", "from=abc"} {
			if status, body := e.do("GET", "/_synapse/admin/v1/event_reports?"+q, root, nil); status != 400 || body["errcode"] != "M_INVALID_PARAM" {
				t.Errorf("%s: %d %v", q, status, body)
			}
		}
	})
}

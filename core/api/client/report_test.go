package client

import (
	"database/sql"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestReports(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newExtrasEnv(t, db, false)
		alice, bob, mallory := e.user("alice", false), e.user("bob", false), e.user("mallory", false)
		roomID := e.room(alice, rooms.CreateRequest{Preset: "public_chat"}, mallory)
		other := e.room(alice, rooms.CreateRequest{Preset: "public_chat"})
		spam := e.send(roomID, mallory, "m.room.message", map[string]any{"msgtype": "m.text", "body": "buy now"})
		elsewhere := e.send(other, alice, "m.room.message", map[string]any{"msgtype": "m.text", "body": "hi"})
		report := "/_matrix/client/v3/rooms/" + string(roomID) + "/report/"

		e.do("POST", report+string(spam), alice, map[string]any{"reason": "spam", "score": -100}).ok(t)
		e.do("POST", report+string(spam), alice, map[string]any{}).ok(t)
		var room, ev, user string
		var reason sql.NullString
		var score sql.NullInt64
		var ts int64
		err := db.QueryRow(e.ctx, `SELECT room_id, event_id, user_id, reason, score, created_ts FROM event_reports WHERE reason IS NOT NULL`).
			Scan(&room, &ev, &user, &reason, &score, &ts)
		if err != nil {
			t.Fatal(err)
		}
		if room != string(roomID) || ev != string(spam) || user != string(alice) || reason.String != "spam" || score.Int64 != -100 || ts == 0 {
			t.Fatalf("stored report: %s %s %s %v %v %d", room, ev, user, reason, score, ts)
		}
		var n int
		if err := db.QueryRow(e.ctx, `SELECT COUNT(*) FROM event_reports WHERE reason IS NULL AND score IS NULL`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("report without reason: %d %v", n, err)
		}

		e.do("POST", report+string(spam), bob, map[string]any{"reason": "x"}).fails(t, 403, "M_FORBIDDEN")
		e.do("POST", report+"$unknown", alice, map[string]any{"reason": "x"}).fails(t, 404, "M_NOT_FOUND")
		e.do("POST", report+string(elsewhere), alice, map[string]any{"reason": "x"}).fails(t, 404, "M_NOT_FOUND")
		e.do("POST", report+"bad", alice, map[string]any{}).fails(t, 400, "M_INVALID_PARAM")
		e.do("POST", report+string(spam), alice, map[string]any{"score": 5}).fails(t, 400, "M_INVALID_PARAM")
		e.do("POST", report+string(spam), alice, map[string]any{"score": -101}).fails(t, 400, "M_INVALID_PARAM")
		e.do("POST", report+string(spam), alice, map[string]any{"score": "bad"}).fails(t, 400, "M_BAD_JSON")
		e.do("POST", report+string(spam), alice, map[string]any{"reason": 7}).fails(t, 400, "M_BAD_JSON")
		e.do("POST", "/_matrix/client/v3/rooms/!unknown:test.local/report/"+string(spam), alice, map[string]any{}).fails(t, 404, "M_NOT_FOUND")

		// Room reports: anyone may report a room that exists.
		roomReport := "/_matrix/client/v3/rooms/" + string(roomID) + "/report"
		e.do("POST", roomReport, bob, map[string]any{"reason": "whole room is spam"}).ok(t)
		if err := db.QueryRow(e.ctx, `SELECT room_id, user_id, reason FROM room_reports`).Scan(&room, &user, &reason); err != nil {
			t.Fatal(err)
		}
		if room != string(roomID) || user != string(bob) || reason.String != "whole room is spam" {
			t.Fatalf("room report: %s %s %v", room, user, reason)
		}
		e.do("POST", roomReport, bob, map[string]any{}).fails(t, 400, "M_BAD_JSON")
		e.do("POST", "/_matrix/client/v3/rooms/!unknown:test.local/report", bob, map[string]any{"reason": "x"}).fails(t, 404, "M_NOT_FOUND")
		e.do("POST", "/_matrix/client/v3/rooms/bad/report", bob, map[string]any{"reason": "x"}).fails(t, 400, "M_INVALID_PARAM")
	})
}

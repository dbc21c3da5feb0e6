package sync_test

import (
	"testing"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// elementXBody is the room list request Element X starts with: the 20
// newest rooms, one timeline event each, its usual required state.
const elementXBody = `{"conn_id":"room-list","lists":{"all_rooms":{"ranges":[[0,19]],"timeline_limit":1,
	"required_state":[["m.room.name",""],["m.room.encryption",""],["m.room.member","$LAZY"],["m.room.member","$ME"],
	["m.room.topic",""],["m.room.avatar",""],["m.room.canonical_alias",""],["m.room.power_levels",""],["m.call.member","*"],
	["m.room.join_rules",""],["m.room.tombstone",""],["m.room.create",""],["m.room.history_visibility",""],
	["m.space.parent","*"],["m.space.child","*"]]}},
	"extensions":{"account_data":{"enabled":true},"receipts":{"enabled":true,"rooms":["*"]},"typing":{"enabled":true}}}`

func slidingReq(b *testing.B, user id.UserID, pos string) *gsync.SlidingRequest {
	req := &gsync.SlidingRequest{UserID: user, DeviceID: "DEV", Pos: pos, SetPresence: "offline"}
	if err := gsync.ParseSlidingBody([]byte(elementXBody), req); err != nil {
		b.Fatal(err)
	}
	return req
}

// BenchmarkSlidingInitial100x5 is the first request of a connection for a
// user in 100 rooms of 5 messages each.
func BenchmarkSlidingInitial100x5(b *testing.B) {
	e := newEnv(b, storagetest.NewSQLite(b))
	_, bob, _ := benchRooms(b, e, 100, 5)
	sl := gsync.NewSliding(e.Sync, nil)
	b.ResetTimer()
	var size int
	for i := 0; i < b.N; i++ {
		body, err := sl.Sync(e.Ctx, slidingReq(b, bob, ""))
		if err != nil {
			b.Fatal(err)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "bytes/resp")
}

// BenchmarkSlidingIdle100x5 is an incremental request with nothing new
// (timeout 0): what every wake-up of a long poll costs.
func BenchmarkSlidingIdle100x5(b *testing.B) {
	e := newEnv(b, storagetest.NewSQLite(b))
	_, bob, _ := benchRooms(b, e, 100, 5)
	sl := gsync.NewSliding(e.Sync, nil)
	body, err := sl.Sync(e.Ctx, slidingReq(b, bob, ""))
	if err != nil {
		b.Fatal(err)
	}
	pos := gjson.GetBytes(body, "pos").Str
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body, err := sl.Sync(e.Ctx, slidingReq(b, bob, pos))
		if err != nil {
			b.Fatal(err)
		}
		pos = gjson.GetBytes(body, "pos").Str
	}
}

// BenchmarkSlidingMessage100x5 is an incremental request carrying one new
// message in one of 100 rooms (the send is not timed).
func BenchmarkSlidingMessage100x5(b *testing.B) {
	e := newEnv(b, storagetest.NewSQLite(b))
	alice, bob, rooms := benchRooms(b, e, 100, 5)
	sl := gsync.NewSliding(e.Sync, nil)
	body, err := sl.Sync(e.Ctx, slidingReq(b, bob, ""))
	if err != nil {
		b.Fatal(err)
	}
	pos := gjson.GetBytes(body, "pos").Str
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e.Text(rooms[i%len(rooms)], alice, "news")
		b.StartTimer()
		body, err := sl.Sync(e.Ctx, slidingReq(b, bob, pos))
		if err != nil {
			b.Fatal(err)
		}
		if len(gjson.GetBytes(body, "rooms").Map()) != 1 {
			b.Fatalf("want one room: %s", body)
		}
		pos = gjson.GetBytes(body, "pos").Str
	}
}

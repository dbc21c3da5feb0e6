package bundle_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/relations/bundle"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/sync/synctest"
)

// The behaviour is tested through the endpoints that use this package
// (core/sync aggregations_test.go, core/api/client /threads); these
// benchmarks watch its cost on SQLite.

// BenchmarkLoadPlainTimeline is the initial /sync case: 20 rooms x 10
// messages with no relations at all.
func BenchmarkLoadPlainTimeline(b *testing.B) {
	db := storagetest.NewSQLite(b)
	e := synctest.New(b, db)
	alice, bob := e.User("alice"), e.User("bob")
	req := &bundle.Request{Viewer: bob.String(), Scopes: map[string]bundle.Scope{}}
	for i := 0; i < 20; i++ {
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		for j := 0; j < 10; j++ {
			ev := e.Text(room, alice, fmt.Sprintf("message %d in %d", j, i))
			req.Parents = append(req.Parents, bundle.Parent{EventID: ev.ID.String(), RoomID: room.String(), Sender: alice.String(), Type: "m.room.message"})
		}
		req.Scopes[room.String()] = bundle.Scope{Upto: 1 << 62}
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got, err := bundle.Load(ctx, db, req); err != nil || len(got) != 0 {
			b.Fatal(err, len(got))
		}
	}
}

// BenchmarkLoadLongThreads is a page of 20 thread roots with 500 replies
// each: the thread counts should come from the events_thread_replies index
// without a table lookup per reply.
func BenchmarkLoadLongThreads(b *testing.B) {
	db := storagetest.NewSQLite(b)
	e := synctest.New(b, db)
	alice, bob := e.User("alice"), e.User("bob")
	room := e.Room(alice, rooms.CreateRequest{}, bob)
	req := &bundle.Request{Viewer: bob.String(), Scopes: map[string]bundle.Scope{room.String(): {Upto: 1 << 62}}}
	for i := 0; i < 20; i++ {
		root := e.Text(room, alice, "root")
		req.Parents = append(req.Parents, bundle.Parent{EventID: root.ID.String(), RoomID: room.String(), Sender: alice.String(), Type: "m.room.message"})
		for j := 0; j < 500; j++ {
			e.Send(room, bob, "m.room.message", map[string]any{"msgtype": "m.text", "body": "reply",
				"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root.ID}})
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if got, err := bundle.Load(ctx, db, req); err != nil || len(got) != 20 {
			b.Fatal(err, len(got))
		}
	}
}

package search_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/search"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/sync/synctest"
)

// BenchmarkSendIndexed measures what the persist hook adds to sending a
// message on SQLite: compare indexed with plain (the hook not registered),
// sequentially and from 8 senders sharing commits.
func BenchmarkSendIndexed(b *testing.B) {
	for _, c := range []struct {
		name     string
		indexed  bool
		parallel bool
	}{{"plain", false, false}, {"indexed", true, false}, {"plain-parallel8", false, true}, {"indexed-parallel8", true, true}} {
		indexed := c.indexed
		b.Run(c.name, func(b *testing.B) {
			e := synctest.New(b, storagetest.NewSQLite(b))
			if indexed {
				e.Rooms.AddPersistHook(search.New(e.DB, e.Sync, zerolog.Nop()).PersistHook)
			}
			alice := e.User("alice")
			room := e.Room(alice, rooms.CreateRequest{})
			req := rooms.SendRequest{RoomID: room, Sender: alice, Type: "m.room.message",
				Content: json.RawMessage(`{"msgtype":"m.text","body":"hello world, how are the martians today?"}`)}
			b.ResetTimer()
			if c.parallel {
				b.SetParallelism(4) // 8 goroutines on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := e.Rooms.Send(e.Ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				})
				return
			}
			for i := 0; i < b.N; i++ {
				if _, err := e.Rooms.Send(e.Ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSearch searches a room of 5000 messages, 1000 of which hold
// the word searched, for the first page of 10 in each order.
func BenchmarkSearch(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchSearch(b, storagetest.NewSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchSearch(b, storagetest.NewPostgres(b)) })
}

func benchSearch(b *testing.B, db *storage.DB) {
	e := synctest.New(b, db)
	svc := search.New(db, e.Sync, zerolog.Nop())
	e.Rooms.AddPersistHook(svc.PersistHook)
	alice := e.User("alice")
	room := e.Room(alice, rooms.CreateRequest{})
	for i := range 5000 {
		body := fmt.Sprintf("message %d about nothing in particular, filler words", i)
		if i%5 == 0 {
			body = fmt.Sprintf("message %d about the martians and more", i)
		}
		if _, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: alice, Type: "m.room.message",
			Content: json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body))}); err != nil {
			b.Fatal(err)
		}
	}
	for _, order := range []string{"rank", "recent"} {
		b.Run(order, func(b *testing.B) {
			term, ord := "martians", order
			req := &search.Request{UserID: alice, DeviceID: "DEV", Body: &search.Body{SearchCategories: &search.Categories{
				RoomEvents: &search.RoomEvents{SearchTerm: &term, OrderBy: &ord}}}}
			for i := 0; i < b.N; i++ {
				if _, err := svc.Search(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

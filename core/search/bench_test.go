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

// BenchmarkSendIndexed measures what search adds to sending a message on
// SQLite: compare indexed (the redaction hook registered, the background
// indexer running and woken by commits, as serve wires it) with plain
// (no search at all), sequentially and from 8 senders sharing commits.
// The indexer's work is not on the send path but shares the two cores and
// the writer, so it shows in the indexed figures.
func BenchmarkSendIndexed(b *testing.B) {
	for _, c := range []struct {
		name     string
		indexed  bool
		parallel bool
	}{{"plain", false, false}, {"indexed", true, false}, {"plain-parallel8", false, true}, {"indexed-parallel8", true, true}} {
		indexed := c.indexed
		b.Run(c.name, func(b *testing.B) {
			e := synctest.New(b, storagetest.NewSQLite(b))
			var svc *search.Service
			if indexed {
				svc = search.New(e.DB, e.Sync, zerolog.Nop())
				e.Rooms.AddPersistHook(svc.PersistHook)
				e.Writer.Subscribe(svc.OnCommit)
				svc.Start()
				b.Cleanup(svc.Close)
			}
			alice := e.User("alice")
			room := e.Room(alice, rooms.CreateRequest{})
			// A search for a word nobody sent indexes what the
			// background indexer has not reached yet, so the timed
			// work includes indexing every message sent.
			none := "zyzzyva"
			drain := &search.Request{UserID: alice, DeviceID: "DEV", Body: &search.Body{SearchCategories: &search.Categories{
				RoomEvents: &search.RoomEvents{SearchTerm: &none}}}}
			defer func() {
				if svc != nil && !b.Failed() {
					if _, err := svc.Search(context.Background(), drain); err != nil {
						b.Error(err)
					}
				}
			}()
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

// BenchmarkIndexBacklog measures the indexer alone: b.N messages are sent
// with no indexer running, then one search indexes them all (batches of
// indexBatchSize); ns/op is the cost of indexing one message.
func BenchmarkIndexBacklog(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchBacklog(b, storagetest.NewSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchBacklog(b, storagetest.NewPostgres(b)) })
}

func benchBacklog(b *testing.B, db *storage.DB) {
	e := synctest.New(b, db)
	svc := search.New(db, e.Sync, zerolog.Nop())
	e.Rooms.AddPersistHook(svc.PersistHook)
	alice := e.User("alice")
	room := e.Room(alice, rooms.CreateRequest{})
	for i := 0; i < b.N; i++ {
		if _, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: alice, Type: "m.room.message",
			Content: json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":"message %d about the martians"}`, i))}); err != nil {
			b.Fatal(err)
		}
	}
	none := "zyzzyva"
	req := &search.Request{UserID: alice, DeviceID: "DEV", Body: &search.Body{SearchCategories: &search.Categories{
		RoomEvents: &search.RoomEvents{SearchTerm: &none}}}}
	b.ResetTimer()
	if _, err := svc.Search(context.Background(), req); err != nil {
		b.Fatal(err)
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
	// Index the messages before timing (a search does).
	term := "martians"
	warm := &search.Request{UserID: alice, DeviceID: "DEV", Body: &search.Body{SearchCategories: &search.Categories{
		RoomEvents: &search.RoomEvents{SearchTerm: &term}}}}
	if _, err := svc.Search(context.Background(), warm); err != nil {
		b.Fatal(err)
	}
	// after-send sends a message before each search, which then indexes
	// it first (read-your-writes): its ns/op less recent's and a plain
	// send's is what catching up one event costs a search.
	for _, order := range []string{"rank", "recent", "recent-after-send"} {
		b.Run(order, func(b *testing.B) {
			term, ord := "martians", order
			send := order == "recent-after-send"
			if send {
				ord = "recent"
			}
			req := &search.Request{UserID: alice, DeviceID: "DEV", Body: &search.Body{SearchCategories: &search.Categories{
				RoomEvents: &search.RoomEvents{SearchTerm: &term, OrderBy: &ord}}}}
			for i := 0; i < b.N; i++ {
				if send {
					if _, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: alice, Type: "m.room.message",
						Content: json.RawMessage(`{"msgtype":"m.text","body":"unrelated chatter"}`)}); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := svc.Search(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

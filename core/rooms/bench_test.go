package rooms_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// BenchmarkSend measures building, signing, authorising and committing one
// message, sequentially and from parallel senders into one room.
func BenchmarkSend(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "sequential"
		if parallel {
			name = "parallel8"
		}
		b.Run(name, func(b *testing.B) {
			db := storagetest.NewSQLite(b)
			rs, _ := newService(&testing.T{}, db)
			ctx := context.Background()
			roomID, _, err := rs.CreateRoom(ctx, alice, &rooms.CreateRequest{Preset: "public_chat"})
			if err != nil {
				b.Fatal(err)
			}
			req := rooms.SendRequest{RoomID: roomID, Sender: alice, Type: "m.room.message",
				Content: json.RawMessage(`{"msgtype":"m.text","body":"hello world"}`)}
			b.ResetTimer()
			if !parallel {
				for i := 0; i < b.N; i++ {
					if _, err := rs.Send(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(4) // 8 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := rs.Send(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

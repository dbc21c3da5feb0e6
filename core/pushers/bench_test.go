package pushers

import (
	"fmt"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// BenchmarkSendCommitPath measures what pushers add to a message send on
// SQLite: nothing queued (no member has a pusher) against one queue row per
// message. Delivery is stopped so only the commit path is timed.
func BenchmarkSendCommitPath(b *testing.B) {
	for _, withPusher := range []bool{false, true} {
		b.Run(fmt.Sprintf("pusher=%v", withPusher), func(b *testing.B) {
			e := newEnv(b, storagetest.NewSQLite(b), testOptions())
			e.p.Close()
			alice, bob := e.User("alice"), e.User("bob")
			room := e.Room(alice, rooms.CreateRequest{}, bob)
			if withPusher {
				if err := e.p.Set(e.Ctx, bob, "PHONE", httpPusher("k", "https://push.example.org"+NotifyPath, nil)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.Text(room, alice, "hello")
			}
		})
	}
}

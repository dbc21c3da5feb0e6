package sync_test

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// benchRooms builds rooms where alice sends n messages and bob is joined.
func benchRooms(b *testing.B, e *env, count, n int) (alice, bob id.UserID, roomIDs []id.RoomID) {
	alice, bob = e.User("alice"), e.User("bob")
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("room %d", i)
		room := e.Room(alice, rooms.CreateRequest{Name: &name}, bob)
		for j := 0; j < n; j++ {
			e.Text(room, alice, fmt.Sprintf("message %d in %d", j, i))
		}
		roomIDs = append(roomIDs, room)
	}
	return alice, bob, roomIDs
}

// BenchmarkInitialSync20x50 is an initial /sync of a user in 20 rooms of
// 50 messages each, with the default filter (10 events per timeline).
func BenchmarkInitialSync20x50(b *testing.B) {
	e := newEnv(b, storagetest.NewSQLite(b))
	_, bob, _ := benchRooms(b, e, 20, 50)
	req := &gsync.Request{UserID: bob, DeviceID: "DEV", SetPresence: "offline", Filter: &gsync.Filter{}}
	b.ResetTimer()
	var size int
	for i := 0; i < b.N; i++ {
		body, err := e.Sync.Sync(e.Ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "bytes/resp")
}

// BenchmarkInitialSync20x50Lazy is the same with lazy-loaded members.
func BenchmarkInitialSync20x50Lazy(b *testing.B) {
	e := newEnv(b, storagetest.NewSQLite(b))
	_, bob, _ := benchRooms(b, e, 20, 50)
	f, err := gsync.ParseFilter([]byte(`{"room":{"state":{"lazy_load_members":true}}}`))
	if err != nil {
		b.Fatal(err)
	}
	req := &gsync.Request{UserID: bob, DeviceID: "DEV", SetPresence: "offline", Filter: f}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Sync.Sync(e.Ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIncrementalWake measures how long a long-polling /sync takes to
// return after another user's send returns: the p50 and p99 of that delay
// are reported as wake-p50-ms and wake-p99-ms.
func BenchmarkIncrementalWake(b *testing.B) {
	e := newEnv(b, storagetest.NewSQLite(b))
	alice, bob, roomIDs := benchRooms(b, e, 20, 5)
	room := roomIDs[0]
	since := gsync.FormatToken(e.Writer.Pos())
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pos, _ := gsync.ParseToken(since)
		req := &gsync.Request{UserID: bob, DeviceID: "DEV", SetPresence: "offline", Filter: &gsync.Filter{},
			Since: pos, Timeout: 30 * time.Second}
		done := make(chan time.Time, 1)
		var body []byte
		go func() {
			var err error
			body, err = e.Sync.Sync(e.Ctx, req)
			if err != nil {
				b.Error(err)
			}
			done <- time.Now()
		}()
		time.Sleep(200 * time.Microsecond) // let the sync start waiting
		e.Text(room, alice, "ping")
		sent := time.Now()
		lat = append(lat, (<-done).Sub(sent))
		since = nextBatch(body)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "wake-p50-ms")
	b.ReportMetric(ms(lat[len(lat)*90/100]), "wake-p90-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "wake-p99-ms")
}

func nextBatch(body []byte) string {
	const prefix = `{"next_batch":"`
	rest := body[len(prefix):]
	for i, c := range rest {
		if c == '"' {
			return string(rest[:i])
		}
	}
	return ""
}

// BenchmarkSendWithPushHook measures message throughput into a room of 10
// members with the push rule hook evaluating every event for 9 of them
// (sequential and from 8 parallel senders, which share group commits).
func BenchmarkSendWithPushHook(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "sequential"
		if parallel {
			name = "parallel8"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, storagetest.NewSQLite(b))
			if os.Getenv("GATEHOUSE_BENCH_NO_PUSH") != "" {
				e.Push.Disabled = true
			}
			alice := e.User("alice")
			var others []id.UserID
			for i := 0; i < 9; i++ {
				others = append(others, e.User(fmt.Sprintf("member%d", i)))
			}
			room := e.Room(alice, rooms.CreateRequest{}, others...)
			req := rooms.SendRequest{RoomID: room, Sender: alice, Type: "m.room.message",
				Content: []byte(`{"msgtype":"m.text","body":"hello world"}`)}
			b.ResetTimer()
			start := time.Now()
			if parallel {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := e.Rooms.Send(e.Ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for i := 0; i < b.N; i++ {
					if _, err := e.Rooms.Send(e.Ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

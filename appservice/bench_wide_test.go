package appservice

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// BenchmarkDeliveryThroughputWide is BenchmarkDeliveryThroughput with
// more concurrent senders spread over more bridged rooms (senders/rooms),
// to see whether delivery keeps up when commits are not limited by a few
// rooms' ordering: events arrive faster than one transaction's round trip
// and must be batched. Reports delivered and produced events per second,
// the mean transaction size, and the commit-to-appservice latency.
func BenchmarkDeliveryThroughputWide(b *testing.B) {
	for _, shape := range [][2]int{{32, 8}, {128, 64}, {256, 128}} {
		senders, nrooms := shape[0], shape[1]
		b.Run(fmt.Sprintf("%d-senders-%d-rooms", senders, nrooms), func(b *testing.B) {
			forEachBenchDB(b, func(b *testing.B, db *storage.DB) {
				c, probe, rs := benchCore(b, db)
				for len(rs) < nrooms {
					rs = append(rs, bridgedRoom(b, c))
				}
				probe.waitCount(b, int64(nrooms-8)) // the other ghosts' joins
				probe.count.Store(0)
				var mu sync.Mutex
				events := make([]id.EventID, 0, b.N)
				var next atomic.Int64
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for g := range senders {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							ev, err := c.rooms.Send(context.Background(), rooms.SendRequest{RoomID: rs[g%len(rs)], Sender: alice,
								Type: "m.room.message", Content: mustJSON(map[string]string{"msgtype": "m.text", "body": "load"})})
							if err != nil {
								b.Error(err)
								return
							}
							mu.Lock()
							events = append(events, ev.ID)
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				produced := time.Since(start)
				probe.waitCount(b, int64(b.N))
				b.StopTimer()
				elapsed := time.Unix(0, probe.last.Load()).Sub(start)
				lat := probe.latencies(events)
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "delivered/s")
				b.ReportMetric(float64(b.N)/produced.Seconds(), "produced/s")
				b.ReportMetric(float64(b.N)/float64(max(transactions(probe, events), 1)), "events/txn")
				b.ReportMetric(pct(lat, 0.50), "p50-µs")
				b.ReportMetric(pct(lat, 0.99), "p99-µs")
			})
		})
	}
}

// transactions counts the transactions that carried events: the probe
// stamps every event of one transaction with the same receipt time.
func transactions(p *latencyProbe, events []id.EventID) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[time.Time]bool{}
	for _, e := range events {
		if r, ok := p.received[e]; ok {
			seen[r] = true
		}
	}
	return len(seen)
}

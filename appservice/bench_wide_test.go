package appservice

import (
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

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
			forEachBenchDB(b, func(b *testing.B, db *storage.DB) { deliveryThroughput(b, db, senders, nrooms) })
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

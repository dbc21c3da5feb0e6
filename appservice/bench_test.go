package appservice

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// latencyProbe records when each event committed (a writer hook, the
// moment the event is persisted and visible) and when the appservice
// received it.
type latencyProbe struct {
	mu        sync.Mutex
	committed map[id.EventID]time.Time
	received  map[id.EventID]time.Time
	count     atomic.Int64
	last      atomic.Int64 // unix nanos of the last receipt
}

func newProbe() *latencyProbe {
	return &latencyProbe{committed: map[id.EventID]time.Time{}, received: map[id.EventID]time.Time{}}
}

func (p *latencyProbe) onCommit(changes []stream.Change) {
	now := time.Now()
	p.mu.Lock()
	for _, c := range changes {
		if ev, ok := c.Data.(*rooms.Event); ok && c.Kind == stream.KindEvent {
			p.committed[ev.ID] = now
		}
	}
	p.mu.Unlock()
}

// ServeHTTP is an appservice that answers at once.
func (p *latencyProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now()
	ids := gjson.GetBytes(body, "events.#.event_id").Array()
	p.mu.Lock()
	for _, e := range ids {
		p.received[id.EventID(e.Str)] = now
	}
	p.mu.Unlock()
	p.count.Add(int64(len(ids)))
	p.last.Store(now.UnixNano())
	_, _ = w.Write([]byte("{}"))
}

func (p *latencyProbe) waitCount(b *testing.B, n int64) {
	deadline := time.Now().Add(60 * time.Second)
	for p.count.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d events delivered", p.count.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// latencies of the events sent, in microseconds, sorted.
func (p *latencyProbe) latencies(events []id.EventID) []float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []float64
	for _, e := range events {
		c, ok1 := p.committed[e]
		r, ok2 := p.received[e]
		if ok1 && ok2 {
			out = append(out, float64(r.Sub(c).Microseconds()))
		}
	}
	slices.Sort(out)
	return out
}

func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func benchCore(b *testing.B, db *storage.DB) (*core, *latencyProbe, []id.RoomID) {
	probe := newProbe()
	srv := httptest.NewServer(probe)
	b.Cleanup(srv.Close)
	reg := bridgeReg(b, srv.URL)
	c := newCoreFull(b, db, []*registration.Registration{reg}, nil, anyLocal{}, func(w *stream.Writer, _ *rooms.Service) PusherOptions {
		w.Subscribe(probe.onCommit) // before the pusher's hook: commit time first
		return PusherOptions{}
	})
	var rs []id.RoomID
	for range 8 {
		rs = append(rs, bridgedRoom(b, c))
	}
	probe.waitCount(b, 8) // the ghosts' joins
	probe.count.Store(0)
	return c, probe, rs
}

// BenchmarkDeliveryLatency sends events one at a time, each after the
// previous one committed and a millisecond passed, and reports how long
// each took from commit to the appservice (p50/p99, microseconds).
func BenchmarkDeliveryLatency(b *testing.B) {
	forEachBenchDB(b, func(b *testing.B, db *storage.DB) {
		c, probe, rs := benchCore(b, db)
		events := make([]id.EventID, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			events = append(events, c.send(b, rs[i%len(rs)], alice, "latency").ID)
			time.Sleep(time.Millisecond)
		}
		probe.waitCount(b, int64(b.N))
		b.StopTimer()
		lat := probe.latencies(events)
		b.ReportMetric(pct(lat, 0.50), "p50-µs")
		b.ReportMetric(pct(lat, 0.99), "p99-µs")
	})
}

// BenchmarkDeliveryThroughput has 32 senders in 8 rooms produce events as
// fast as the homeserver commits them and reports delivered events per
// second, with the commit-to-appservice latency under that load.
func BenchmarkDeliveryThroughput(b *testing.B) {
	forEachBenchDB(b, func(b *testing.B, db *storage.DB) { deliveryThroughput(b, db, 32, 8) })
}

// deliveryThroughput has senders goroutines send b.N events spread over
// nrooms bridged rooms and reports delivered and produced events per
// second, the mean transaction size and the commit-to-appservice latency.
func deliveryThroughput(b *testing.B, db *storage.DB, senders, nrooms int) {
	c, probe, rs := benchCore(b, db)
	if len(rs) < nrooms {
		for len(rs) < nrooms {
			rs = append(rs, bridgedRoom(b, c))
		}
		probe.waitCount(b, int64(nrooms-8)) // the other ghosts' joins
		probe.count.Store(0)
	}
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
}

func forEachBenchDB(b *testing.B, fn func(b *testing.B, db *storage.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storagetest.NewSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, storagetest.NewPostgres(b)) })
}

// BenchmarkDeliveryBacklog measures the pusher alone: b.N events pile up
// while the appservice is down (not timed), then it comes up and the
// backlog drains in batches. Reports delivered events per second.
func BenchmarkDeliveryBacklog(b *testing.B) {
	forEachBenchDB(b, func(b *testing.B, db *storage.DB) {
		probe := newProbe()
		var up atomic.Bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !up.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			probe.ServeHTTP(w, r)
		}))
		b.Cleanup(srv.Close)
		reg := bridgeReg(b, srv.URL)
		c := newCore(b, db, []*registration.Registration{reg}, PusherOptions{MinBackoff: time.Second, MaxBackoff: time.Second})
		room := bridgedRoom(b, c)
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 16 {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					c.send(b, room, alice, "backlog")
				}
			})
		}
		wg.Wait()
		b.ResetTimer()
		start := time.Now()
		up.Store(true)
		c.p.Poke(reg.ID)                 // what the bridge's startup ping does
		probe.waitCount(b, int64(b.N)+1) // + the ghost's join
		b.StopTimer()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "delivered/s")
	})
}

// BenchmarkCommitOverhead compares how fast 32 senders commit events with
// no appservice and with a bridge interested in every event (the persist
// hook queues each one in the commit transaction).
func BenchmarkCommitOverhead(b *testing.B) {
	for _, withAS := range []bool{false, true} {
		name := "no-appservice"
		if withAS {
			name = "bridged"
		}
		b.Run(name, func(b *testing.B) {
			forEachBenchDB(b, func(b *testing.B, db *storage.DB) {
				var regs []*registration.Registration
				if withAS {
					regs = append(regs, bridgeReg(b, "http://127.0.0.1:1")) // down: nothing but queueing
				}
				c := newCore(b, db, regs, PusherOptions{MinBackoff: time.Minute, MaxBackoff: time.Minute})
				var rs []id.RoomID
				for range 8 {
					rs = append(rs, bridgedRoom(b, c))
				}
				var next atomic.Int64
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for g := range 32 {
					wg.Go(func() {
						for next.Add(1) <= int64(b.N) {
							c.send(b, rs[g%len(rs)], alice, "load")
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "committed/s")
			})
		})
	}
}

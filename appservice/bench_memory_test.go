package appservice

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/registration"
)

var (
	heapProfiles = flag.String("appservice.heapprofiles", "",
		"directory where BenchmarkBacklogMemory writes a heap profile after each phase (compare with go tool pprof -diff_base)")
	backlogPhases = flag.String("appservice.backlogphases", "",
		"comma-separated totals of queued messages after each BenchmarkBacklogMemory phase (default 5000,20000,50000)")
	downAttempts = flag.Int("appservice.downattempts", 5_000,
		"failed attempts BenchmarkBacklogMemory makes with the queue full before the appservice comes up")
)

// switchAS is an appservice that is down until comeUp: it refuses
// connections (nothing listens on its address) or answers 503. Once up it
// answers at once and counts, per transaction ID accepted the first time,
// the benchmark's messages and to-device messages it received. It keeps
// nothing per attempt, so its own memory does not grow while it is down.
type switchAS struct {
	refuse bool
	addr   string
	srv    *http.Server
	up     atomic.Bool

	mu       sync.Mutex
	seen     map[string]bool
	messages int
	toDevice int
	changed  chan struct{}
}

func newSwitchAS(b *testing.B, refuse bool) *switchAS {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &switchAS{refuse: refuse, addr: ln.Addr().String(), seen: map[string]bool{}, changed: make(chan struct{}, 1)}
	s.srv = &http.Server{Handler: s}
	if refuse {
		_ = ln.Close() // the port stays free: connections are refused until comeUp
	} else {
		go func() { _ = s.srv.Serve(ln) }()
	}
	b.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *switchAS) url() string { return "http://" + s.addr }

func (s *switchAS) comeUp(b *testing.B) {
	s.up.Store(true)
	if !s.refuse {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger for a moment
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		b.Fatalf("listen again on %s: %v", s.addr, err)
	}
	go func() { _ = s.srv.Serve(ln) }()
}

func (s *switchAS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	txnID, ok := strings.CutPrefix(r.URL.Path, "/_matrix/app/v1/transactions/")
	if !s.up.Load() {
		http.Error(w, "bridge is restarting", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		_, _ = w.Write([]byte("{}"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	msgs := 0
	for _, ev := range gjson.GetBytes(body, "events").Array() {
		if ev.Get("content.body").Str == "mem" {
			msgs++
		}
	}
	toDev := len(gjson.GetBytes(body, "to_device").Array())
	s.mu.Lock()
	if !s.seen[txnID] {
		s.seen[txnID] = true
		s.messages += msgs
		s.toDevice += toDev
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	_, _ = w.Write([]byte("{}"))
}

func (s *switchAS) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messages, s.toDevice
}

// countingTransport counts the pusher's transaction attempts, whichever
// way they fail.
type countingTransport struct {
	base     http.RoundTripper
	attempts atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/_matrix/app/v1/transactions/") {
		t.attempts.Add(1)
	}
	return t.base.RoundTrip(r)
}

// memSample is the process's memory after a forced collection.
type memSample struct {
	heapInuse, heapAlloc, rss uint64
	goroutines                int
}

func sampleMem() memSample {
	runtime.GC()
	debug.FreeOSMemory() // a second collection, and freed spans go back to the OS so RSS can shrink
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heapInuse: ms.HeapInuse, heapAlloc: ms.HeapAlloc, rss: readRSS(), goroutines: runtime.NumGoroutine()}
}

// readRSS returns VmRSS in bytes (0 where /proc is missing).
func readRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func writeHeapProfile(b *testing.B, name string) {
	if *heapProfiles == "" {
		return
	}
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		b.Fatal(err)
	}
	name = strings.NewReplacer("/", "_", " ", "_").Replace(name)
	if err := os.WriteFile(filepath.Join(*heapProfiles, name+".pb.gz"), buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
}

// memPhases are the totals of queued messages after each phase; every
// tenth message also queues a to-device message.
func memPhases(b *testing.B) []int {
	if *backlogPhases != "" {
		var out []int
		for f := range strings.SplitSeq(*backlogPhases, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 || len(out) > 0 && n <= out[len(out)-1] {
				b.Fatalf("-appservice.backlogphases: %q is not an increasing list of counts", *backlogPhases)
			}
			out = append(out, n)
		}
		if len(out) < 2 {
			b.Fatal("-appservice.backlogphases needs at least two phases")
		}
		return out
	}
	if testing.Short() {
		return []int{1_000, 4_000, 10_000}
	}
	return []int{5_000, 20_000, 50_000}
}

// BenchmarkBacklogMemory checks the issue's "memory flat while an
// appservice is down for an hour: the queue lives in the database, not in
// RAM". With the appservice down (refusing connections, or answering 503),
// 16 senders in 8 bridged rooms produce messages, and to-device messages
// for the bridge's ghost, in phases; after each phase the live heap and
// RSS are read after a forced collection. Then, with a backoff of a few
// milliseconds, the pusher fails thousands more attempts (an hour of real
// backoff is about 70), and memory is read again. Finally the appservice
// comes up and everything queued must arrive. It runs once whatever b.N
// is and reports:
//
//	heap-B/10k-queued   live heap growth per 10,000 queued messages, first phase to last
//	rss-B/10k-queued    the same for RSS (includes SQLite's page cache, outside the Go heap)
//	heap-B/1k-attempts  live heap growth per 1,000 failed attempts once the queue is built
//	heap-MB@N           live heap with N messages queued
//	attempts            failed attempts in all
//	delivered           messages and to-device messages received after the appservice came up
//	drain/s             how fast they were received
func BenchmarkBacklogMemory(b *testing.B) {
	for _, mode := range []string{"503", "refused"} {
		b.Run(mode, func(b *testing.B) {
			forEachBenchDB(b, func(b *testing.B, db *storage.DB) {
				for range b.N {
					backlogMemory(b, db, mode == "refused")
				}
			})
		})
	}
}

func backlogMemory(b *testing.B, db *storage.DB, refuse bool) {
	b.StopTimer()
	if *heapProfiles != "" {
		// The default rate samples one allocation per 512 KiB, too coarse to
		// see what a few thousand retries keep.
		runtime.MemProfileRate = 4096
	}
	as := newSwitchAS(b, refuse)
	reg := bridgeReg(b, as.url())
	rt := &countingTransport{base: NewTransport()}
	c := newCore(b, db, []*registration.Registration{reg},
		PusherOptions{HTTPClient: NewHTTPClient(rt), MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	var rs []id.RoomID
	for range 8 {
		rs = append(rs, bridgedRoom(b, c))
	}

	phases := memPhases(b)
	var samples []memSample
	produced := 0
	for _, total := range phases {
		produceBacklog(b, c, rs, produced, total)
		produced = total
		// At least one failed attempt after the last commit, so whatever a
		// retry keeps is in the sample.
		for a := rt.attempts.Load(); rt.attempts.Load() < a+2; {
			time.Sleep(time.Millisecond)
		}
		s := sampleMem()
		samples = append(samples, s)
		writeHeapProfile(b, fmt.Sprintf("%s-%d-queued", b.Name(), total))
		b.Logf("%6d queued, %5d attempts: heap in use %6.1f MB, heap alloc %6.1f MB, RSS %6.1f MB, %d goroutines",
			total, rt.attempts.Load(), mb(s.heapInuse), mb(s.heapAlloc), mb(s.rss), s.goroutines)
	}

	// "An hour": many more backoff cycles with the queue at its largest.
	hourStart := rt.attempts.Load()
	deadline := time.Now().Add(max(30*time.Second, time.Duration(*downAttempts)*5*time.Millisecond))
	for rt.attempts.Load() < hourStart+int64(*downAttempts) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	hour := sampleMem()
	hourAttempts := rt.attempts.Load() - hourStart
	writeHeapProfile(b, fmt.Sprintf("%s-after-%d-attempts", b.Name(), hourAttempts))
	b.Logf("%6d queued, %5d attempts: heap in use %6.1f MB, heap alloc %6.1f MB, RSS %6.1f MB, %d goroutines",
		produced, rt.attempts.Load(), mb(hour.heapInuse), mb(hour.heapAlloc), mb(hour.rss), hour.goroutines)
	if hour.goroutines > samples[len(samples)-1].goroutines+4 {
		b.Errorf("goroutines grew from %d to %d over %d failed attempts", samples[len(samples)-1].goroutines, hour.goroutines, hourAttempts)
	}

	attempts := rt.attempts.Load()
	wantMsgs, wantDev := produced, (produced+9)/10
	b.StartTimer()
	start := time.Now()
	as.comeUp(b)
	c.p.Poke(reg.ID) // what the bridge's startup ping does
	waitDeadline := time.After(5 * time.Minute)
	lastLog, lastN := start, 0
	for {
		m, d := as.counts()
		if m >= wantMsgs && d >= wantDev {
			break
		}
		if time.Since(lastLog) >= 5*time.Second {
			b.Logf("draining: %d of %d received, %.0f/s over the last %v", m+d, wantMsgs+wantDev,
				float64(m+d-lastN)/time.Since(lastLog).Seconds(), time.Since(lastLog).Round(time.Second))
			lastLog, lastN = time.Now(), m+d
		}
		select {
		case <-as.changed:
		case <-time.After(50 * time.Millisecond):
		case <-waitDeadline:
			b.Fatalf("after the appservice came up, %d of %d messages and %d of %d to-device messages arrived", m, wantMsgs, d, wantDev)
		}
	}
	drain := time.Since(start)
	b.StopTimer()
	m, d := as.counts()
	if m != wantMsgs || d != wantDev {
		b.Fatalf("delivered %d messages and %d to-device messages, want %d and %d", m, d, wantMsgs, wantDev)
	}
	after := sampleMem()
	b.Logf("drained %d messages and %d to-device messages in %v; heap in use %.1f MB, RSS %.1f MB",
		m, d, drain.Round(time.Millisecond), mb(after.heapInuse), mb(after.rss))

	first, last := samples[0], samples[len(samples)-1]
	per10k := func(from, to uint64) float64 {
		return (float64(to) - float64(from)) * 10_000 / float64(phases[len(phases)-1]-phases[0])
	}
	b.ReportMetric(per10k(first.heapAlloc, last.heapAlloc), "heap-B/10k-queued")
	b.ReportMetric(per10k(first.rss, last.rss), "rss-B/10k-queued")
	b.ReportMetric((float64(hour.heapAlloc)-float64(last.heapAlloc))*1000/float64(max(hourAttempts, 1)), "heap-B/1k-attempts")
	for i, total := range phases {
		b.ReportMetric(mb(samples[i].heapAlloc), fmt.Sprintf("heap-MB@%dk", total/1000))
	}
	b.ReportMetric(float64(attempts), "attempts")
	b.ReportMetric(float64(m+d), "delivered")
	b.ReportMetric(float64(m+d)/drain.Seconds(), "drain/s")
}

// produceBacklog has 16 senders post messages "mem" from number from to
// to, across rs; every tenth also sends the ghost a to-device message the
// way the E2EE code does (queued in the stream write's transaction).
func produceBacklog(b *testing.B, c *core, rs []id.RoomID, from, to int) {
	ctx := context.Background()
	content := mustJSON(map[string]string{"msgtype": "m.text", "body": "mem"})
	next := atomic.Int64{}
	next.Store(int64(from))
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for {
				n := next.Add(1) - 1
				if n >= int64(to) {
					return
				}
				if _, err := c.rooms.Send(ctx, rooms.SendRequest{RoomID: rs[g%len(rs)], Sender: alice,
					Type: "m.room.message", Content: content}); err != nil {
					b.Error(err)
					return
				}
				if n%10 != 0 {
					continue
				}
				msg := ToDeviceMessage{Sender: alice, Type: "m.room_key_request", ToUser: ghost, ToDevice: "GHOSTDEV",
					Content: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
				if _, err := c.w.Submit(ctx, stream.Change{Kind: stream.KindToDevice, UserIDs: []string{string(ghost)}},
					func(ctx context.Context, tx *storage.Tx, pos int64) error {
						return c.p.QueueToDevice(ctx, tx, pos, []ToDeviceMessage{msg})
					}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

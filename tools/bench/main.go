// Command bench measures a real gatehouse process the way users feel it:
// messages/s for one and for eight senders, how fast a parked /sync wakes
// up, how long an Element-style initial /sync takes, and how much memory an
// idle server holds. It builds ./cmd/gatehouse, starts it on SQLite (and on
// PostgreSQL when GATEHOUSE_TEST_POSTGRES or -postgres names one), drives
// it over loopback HTTP with plain net/http, and prints a table against the
// project's targets.
//
// Client and server share the machine, so the numbers include the client's
// CPU; the client keeps its share small (keep-alive, no retries, minimal
// JSON parsing). Run it with `make bench`, or
// `go run -tags goolm ./tools/bench -h` for the knobs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-chat/gatehouse/tests/e2e"
)

// params are the sizes of the workload.
type params struct {
	n1, n8, senders   int
	wake              int
	rooms, roomMsgs   int
	syncs             int
	idle              time.Duration
	logLevel          string
	cpuprofile        string
	cpuprofileSeconds int
	pprofURL          string
	clientProfile     string
}

func main() { os.Exit(run()) }

func run() int {
	var p params
	flag.IntVar(&p.n1, "n1", 3000, "messages sent by the single sender")
	flag.IntVar(&p.n8, "n8", 6000, "messages sent in total by the concurrent senders")
	flag.IntVar(&p.senders, "senders", 8, "number of concurrent senders")
	flag.IntVar(&p.wake, "wake", 300, "/sync wake-up samples")
	flag.IntVar(&p.rooms, "rooms", 20, "rooms of the initial /sync user")
	flag.IntVar(&p.roomMsgs, "room-msgs", 50, "messages in each of those rooms")
	flag.IntVar(&p.syncs, "syncs", 20, "initial /syncs timed (the median is reported)")
	flag.DurationVar(&p.idle, "idle", 5*time.Second, "idle time before reading the server's RSS")
	flag.StringVar(&p.logLevel, "log-level", "info", "server log.level (info is the shipped default)")
	flag.StringVar(&p.cpuprofile, "cpuprofile", "", "write the server's CPU profile during the send phases to FILE.<backend>, if it exposes /debug/pprof")
	flag.IntVar(&p.cpuprofileSeconds, "cpuprofile-seconds", 10, "length of that CPU profile")
	flag.StringVar(&p.clientProfile, "client-cpuprofile", "", "write this client's CPU profile during the send phases to FILE.<backend>")
	flag.StringVar(&p.pprofURL, "pprof-url", "", "base URL of the server's pprof handlers (default: its client listener)")
	bin := flag.String("binary", "", "gatehouse binary to run (default: build ./cmd/gatehouse with -tags goolm)")
	pg := flag.String("postgres", os.Getenv("GATEHOUSE_TEST_POSTGRES"), "PostgreSQL DSN; each run uses a fresh schema (default $GATEHOUSE_TEST_POSTGRES)")
	only := flag.String("backends", "", "comma-separated subset of sqlite,postgres to run")
	failOnMiss := flag.Bool("fail-on-miss", false, "exit 1 when any target is missed")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	if p.senders < 1 || p.n8 < p.senders || p.n1 < 1 || p.wake < 1 || p.rooms < 1 || p.roomMsgs < 10 || p.syncs < 1 {
		fmt.Fprintln(os.Stderr, "bench: sizes must be positive, with -n8 >= -senders and -room-msgs >= 10")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if *bin == "" {
		dir, err := os.MkdirTemp("", "gatehouse-bench-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		logf("building ./cmd/gatehouse")
		if *bin, err = e2e.Build(ctx, dir); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}

	var all []*results
	for _, b := range []string{"sqlite", "postgres"} {
		if *only != "" && !strings.Contains(","+*only+",", ","+b+",") {
			continue
		}
		dsn := ""
		if b == "postgres" {
			if *pg == "" {
				logf("postgres: skipped (set GATEHOUSE_TEST_POSTGRES or -postgres)")
				continue
			}
			dsn = *pg
		}
		all = append(all, benchBackend(ctx, b, *bin, dsn, p))
	}
	if len(all) == 0 {
		fmt.Fprintln(os.Stderr, "bench: no backend to run")
		return 2
	}
	fmt.Printf("\nGatehouse benchmark: %s, GOMAXPROCS=%d on %d CPUs, client and server on one machine\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	misses := report(os.Stdout, p, all)
	if misses > 0 {
		fmt.Printf("\n%d target(s) missed\n", misses)
		if *failOnMiss {
			return 1
		}
	}
	return 0
}

// benchBackend runs every phase against one fresh server. A failed phase
// is recorded and the next one still runs, so one bug does not hide the
// other numbers.
func benchBackend(ctx context.Context, backend, bin, dsn string, p params) *results {
	r := &results{backend: backend}
	fail := func(phase string, err error) { r.errs = append(r.errs, phase+": "+err.Error()) }
	logf("%s: starting server", backend)
	srv, err := startBench(bin, dsn, p.logLevel)
	if err != nil {
		fail("start", err)
		return r
	}
	defer srv.close()
	hs := newHomeserver(srv.url)
	defer hs.http.CloseIdleConnections()

	senders := make([]*account, p.senders)
	for i := range senders {
		if senders[i], err = hs.register(ctx, fmt.Sprintf("sender%d", i)); err != nil {
			fail("register", err)
			return r
		}
	}
	room, err := senders[0].createRoom(ctx, "public_chat", "bench load")
	if err != nil {
		fail("createRoom", err)
		return r
	}
	for _, a := range senders[1:] {
		if err := a.join(ctx, room); err != nil {
			fail("join", err)
			return r
		}
	}

	var prof *cpuProfile
	if p.cpuprofile != "" {
		base := srv.url
		if p.pprofURL != "" {
			base = strings.TrimSuffix(p.pprofURL, "/")
		}
		prof = startCPUProfile(ctx, base, p.cpuprofile+"."+backend, p.cpuprofileSeconds)
	}
	clientFile := ""
	if p.clientProfile != "" {
		clientFile = p.clientProfile + "." + backend
	}
	stopClientProfile := startClientProfile(clientFile)
	logf("%s: 1 sender, %d messages", backend, p.n1)
	if err := warmUp(ctx, senders[0], room); err != nil {
		fail("1 sender", err)
	}
	before, cpuOK := readCPU(srv.proc.PID())
	if r.oneSender, err = oneSender(ctx, senders[0], room, p.n1); err != nil {
		fail("1 sender", err)
	} else if after, ok := readCPU(srv.proc.PID()); ok && cpuOK {
		r.oneSenderCPU = perMessage(before, after, p.n1)
	}
	logf("%s: %d senders, %d messages", backend, p.senders, p.n8)
	if r.manySenders, err = manySenders(ctx, senders, room, p.n8); err != nil {
		fail(fmt.Sprintf("%d senders", p.senders), err)
	}
	if msg := stopClientProfile(); msg != "" {
		logf("%s: %s", backend, msg)
	}
	if prof != nil {
		logf("%s: %s", backend, prof.wait())
	}

	logf("%s: /sync wake-up, %d samples", backend, p.wake)
	if r.wake, err = wakePhase(ctx, hs, p); err != nil {
		fail("wake-up", err)
	}
	logf("%s: initial /sync, %d rooms x %d messages", backend, p.rooms, p.roomMsgs)
	if r.initial, err = initialPhase(ctx, hs, p); err != nil {
		fail("initial sync", err)
	}

	hs.http.CloseIdleConnections()
	logf("%s: idle for %s", backend, p.idle)
	select {
	case <-time.After(p.idle):
	case <-ctx.Done():
	}
	select {
	case <-srv.proc.Done():
		fail("idle", fmt.Errorf("server exited: %v\n%s", srv.proc.ExitErr(), srv.logs()))
	default:
		if r.rssKiB, err = srv.proc.RSSKiB(); err != nil {
			fail("RSS", err)
		}
	}
	return r
}

func wakePhase(ctx context.Context, hs *homeserver, p params) ([]time.Duration, error) {
	a, err := hs.register(ctx, "waker")
	if err != nil {
		return nil, err
	}
	b, err := hs.register(ctx, "sleeper")
	if err != nil {
		return nil, err
	}
	room, err := a.createRoom(ctx, "public_chat", "bench wake-up")
	if err != nil {
		return nil, err
	}
	if err := b.join(ctx, room); err != nil {
		return nil, err
	}
	return wakeLatency(ctx, a, b, room, p.wake)
}

func initialPhase(ctx context.Context, hs *homeserver, p params) ([]time.Duration, error) {
	c, err := hs.register(ctx, "reader")
	if err != nil {
		return nil, err
	}
	return initialSync(ctx, c, p.rooms, p.roomMsgs, p.syncs)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Errorf("percentile sorted its input in place")
	}
	if percentile(nil, 50) != 0 {
		t.Errorf("empty input")
	}
}

func TestReportVerdicts(t *testing.T) {
	p := params{n1: 3000, n8: 6000, senders: 8, wake: 300, rooms: 20, roomMsgs: 50, syncs: 20, idle: 5 * time.Second}
	good := &results{backend: "sqlite", oneSender: 2000, manySenders: 2500,
		wake: []time.Duration{time.Millisecond, 2 * time.Millisecond}, initial: []time.Duration{9 * time.Millisecond}, rssKiB: 20 * 1024}
	bad := &results{backend: "postgres", oneSender: 1499, wake: []time.Duration{11 * time.Millisecond},
		initial: []time.Duration{16 * time.Millisecond}, rssKiB: 31 * 1024, errs: []string{"8 senders: boom"}}
	var b strings.Builder
	misses := report(&b, p, []*results{good, bad})
	out := b.String()
	if misses != 5 {
		t.Errorf("misses = %d, want 5 (every target for postgres)\n%s", misses, out)
	}
	for _, want := range []string{"2000 msg/s PASS", "1499 msg/s MISS", "2500 msg/s PASS", "-   MISS",
		"2.00 ms PASS", "11.0 ms MISS", "9.00 ms PASS", "16.0 ms MISS", "20.0 MiB PASS", "31.0 MiB MISS",
		">= 1500 msg/s", "<= 10.0 ms", "postgres: 8 senders: boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestCPUProfileSkippedWithoutPprof(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	msg := startCPUProfile(t.Context(), srv.URL, t.TempDir()+"/cpu", 1).wait()
	if !strings.Contains(msg, "skipped") {
		t.Errorf("profile without pprof: %q", msg)
	}
}

func TestWithSearchPath(t *testing.T) {
	got := withSearchPath("postgres://u@127.0.0.1:5432/db?sslmode=disable", "bench_1")
	if got != "postgres://u@127.0.0.1:5432/db?search_path=bench_1&sslmode=disable" {
		t.Errorf("URL DSN: %s", got)
	}
	if got := withSearchPath("host=x dbname=y", "s"); got != "host=x dbname=y search_path=s" {
		t.Errorf("keyword DSN: %s", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "1234 (gate house) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 9 0 100 0 0"
	got, ok := parseStatCPU(line)
	if !ok || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", got, ok)
	}
	if _, ok := parseStatCPU("garbage"); ok {
		t.Errorf("parseStatCPU accepted garbage")
	}
}

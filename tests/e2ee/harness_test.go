// Package e2ee tests end-to-end encryption through the real gatehouse
// binary with real clients: mautrix-go with its pure-Go crypto (goolm) and
// matrix-js-sdk with its Rust crypto. The server is built once (or taken
// from GATEHOUSE_E2E_BINARY) and started per test with tests/e2e's process
// helpers; clients talk to it only over HTTP.
package e2ee

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/tests/e2e"
)

var (
	binary    string
	buildErr  error
	buildOnce sync.Once
	binDir    string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2ee: skipped in -short mode")
		os.Exit(0)
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// needBinary builds cmd/gatehouse once, or takes GATEHOUSE_E2E_BINARY.
func needBinary(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		if prebuilt := os.Getenv("GATEHOUSE_E2E_BINARY"); prebuilt != "" {
			binary = prebuilt
			return
		}
		binDir, buildErr = os.MkdirTemp("", "gatehouse-e2ee-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		binary, buildErr = e2e.Build(ctx, binDir)
	})
	if buildErr != nil {
		t.Fatalf("cannot build the server: %v", buildErr)
	}
}

// forEachBackend runs fn once per database.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// server is one running gatehouse.
type server struct {
	URL  string
	opts e2e.Options
	proc *e2e.Process
}

// startServer starts a fresh server on backend and stops it at cleanup,
// failing the test if the server logged any 5xx answer.
func startServer(t *testing.T, backend string) *server {
	t.Helper()
	needBinary(t)
	opts := e2e.Options{DataDir: t.TempDir(), LogLevel: logLevel()}
	if backend == "postgres" {
		opts.PostgresDSN = storagetest.PostgresDSN(t)
	}
	s := &server{}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if opts.Port, err = e2e.FreePort(); err != nil {
			t.Fatal(err)
		}
		if _, err = e2e.WriteConfig(opts); err != nil {
			t.Fatal(err)
		}
		prefix := filepath.Join(opts.DataDir, fmt.Sprintf("run%d", attempt))
		s.proc, err = e2e.StartProcess(binary, []string{"serve", "--config", opts.ConfigPath()}, opts.DataDir, prefix, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err = s.proc.WaitReady(opts.BaseURL(), 60*time.Second); err == nil {
			break
		}
		s.proc.Kill()
	}
	if err != nil {
		t.Fatalf("start gatehouse: %v\n%s", err, e2e.Tail(s.proc.StderrPath, 40))
	}
	s.URL, s.opts = opts.BaseURL(), opts
	t.Cleanup(func() {
		select {
		case <-s.proc.Done():
		default:
			if err := s.proc.Stop(15 * time.Second); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}
		for _, line := range s.serverErrors() {
			t.Errorf("server answered 5xx: %s", line)
		}
		if t.Failed() || os.Getenv("GATEHOUSE_E2EE_LOG") != "" {
			t.Logf("gatehouse stderr:\n%s", e2e.Tail(s.proc.StderrPath, 400))
		}
	})
	return s
}

// serverErrors returns the log lines of requests answered with a 5xx,
// except those of requests the client had abandoned (a long-polling /sync
// cancelled when a test client stops), which nobody received.
func (s *server) serverErrors() []string {
	var out []string
	for _, path := range []string{s.proc.StderrPath, s.proc.StdoutPath} {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		prev := ""
		for sc.Scan() {
			line := sc.Text()
			abandoned := strings.Contains(prev, "cancel") && strings.Contains(prev, "Request failed")
			if (strings.Contains(line, `"status":5`) && !abandoned) || strings.Contains(line, "Handler panicked") {
				out = append(out, line)
			}
			prev = line
		}
		f.Close()
	}
	return out
}

// httpClient is shared by every test client; loopback only.
var httpClient = &http.Client{Timeout: 2 * time.Minute}

// logLevel is the server's log level: GATEHOUSE_E2EE_LOG=debug logs every
// request.
func logLevel() string {
	if l := os.Getenv("GATEHOUSE_E2EE_LOG"); l != "" {
		return l
	}
	return "info"
}

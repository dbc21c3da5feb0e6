package e2e

import (
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
)

// binary is the gatehouse built once, by the first test that needs it;
// buildErr says why it could not be.
var (
	binary    string
	buildErr  error
	buildOnce sync.Once
	binDir    string
)

// everyStatus records every response of every test server, so TestMain can
// fail the run when any request anywhere got a 5xx.
var everyStatus = &statusLog{}

func TestMain(m *testing.M) {
	if addr := os.Getenv(fakeServerEnv); addr != "" {
		os.Exit(fakeServer(addr))
	}
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if bad := everyStatus.serverErrors(); len(bad) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: %d responses were 5xx across the suite:\n", len(bad))
		for _, b := range bad {
			fmt.Fprintln(os.Stderr, "  ", b)
		}
		code = 1
	}
	return code
}

// needBinary builds the server on first use (or takes the prebuilt one
// named by GATEHOUSE_E2E_BINARY) and fails the test when that is not
// possible. Building lazily lets the harness's own unit tests run alone.
func needBinary(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		if prebuilt := os.Getenv("GATEHOUSE_E2E_BINARY"); prebuilt != "" {
			binary = prebuilt
			return
		}
		binDir, buildErr = os.MkdirTemp("", "gatehouse-e2e-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		binary, buildErr = Build(ctx, binDir)
	})
	if buildErr != nil {
		t.Fatalf("cannot build the server: %v", buildErr)
	}
}

// backends are the databases every e2e test runs on.
var backends = []string{"sqlite", "postgres"}

// forEachBackend runs fn as a subtest per database backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// server is one gatehouse process under test, with the data (directory or
// PostgreSQL schema) that survives restarts.
type server struct {
	opts   Options
	proc   *Process
	URL    string
	status *statusLog
	// HTTP is the recording client every request to this server goes through.
	HTTP      *http.Client
	transport *http.Transport
	starts    int
}

// startServer starts a fresh server on backend ("sqlite" or "postgres").
// PostgreSQL comes from storagetest.PostgresDSN: a throwaway schema, skipped
// without GATEHOUSE_TEST_POSTGRES and a failure under CI=true. The process is
// stopped at cleanup; if the test failed, the tails of its logs are printed.
func startServer(t *testing.T, backend string) *server {
	t.Helper()
	return startServerWith(t, backend, Options{})
}

// startServerWith is startServer with extra config options.
func startServerWith(t *testing.T, backend string, opts Options) *server {
	t.Helper()
	needBinary(t)
	opts.DataDir = t.TempDir()
	switch backend {
	case "sqlite":
	case "postgres":
		opts.PostgresDSN = storagetest.PostgresDSN(t)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	s := &server{status: &statusLog{}, transport: transport}
	s.HTTP = &http.Client{Transport: &recordingTransport{base: transport, logs: []*statusLog{s.status, everyStatus}}, Timeout: 2 * time.Minute}
	for attempt := 0; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		opts.Port = port
		if _, err := WriteConfig(opts); err != nil {
			t.Fatal(err)
		}
		s.opts, s.URL = opts, opts.BaseURL()
		err = s.launch()
		if err == nil {
			break
		}
		// The free port may have been taken between FreePort and bind;
		// anything else will not get better by retrying.
		if attempt == 2 || !s.portTaken() {
			s.dumpLogs(t)
			t.Fatalf("start gatehouse (%s): %v", backend, err)
		}
	}
	t.Cleanup(func() {
		if s.proc != nil {
			select {
			case <-s.proc.Done():
			default:
				if err := s.proc.Stop(15 * time.Second); err != nil {
					t.Errorf("shutdown: %v", err)
				}
			}
		}
		transport.CloseIdleConnections()
		for _, b := range s.status.serverErrors() {
			t.Errorf("server answered 5xx: %s", b)
		}
		if t.Failed() {
			s.dumpLogs(t)
		}
	})
	return s
}

// launch starts the process on the existing config and waits until
// /versions answers.
func (s *server) launch() error {
	s.starts++
	s.proc = nil
	prefix := filepath.Join(s.opts.DataDir, fmt.Sprintf("run%d", s.starts))
	p, err := StartProcess(binary, []string{"serve", "--config", s.opts.ConfigPath()}, s.opts.DataDir, prefix, nil)
	if err != nil {
		return err
	}
	s.proc = p
	if err := p.WaitReady(s.URL, 60*time.Second); err != nil {
		p.Kill()
		return err
	}
	return nil
}

// portTaken reports whether the last run failed to bind its port.
func (s *server) portTaken() bool {
	if s.proc == nil {
		return false
	}
	data, _ := os.ReadFile(s.proc.StderrPath)
	out, _ := os.ReadFile(s.proc.StdoutPath)
	return strings.Contains(string(data)+string(out), "address already in use")
}

// restart stops the server gracefully and starts it again on the same data.
func (s *server) restart(t *testing.T) {
	t.Helper()
	if err := s.proc.Stop(15 * time.Second); err != nil {
		t.Errorf("graceful stop before restart: %v", err)
	}
	s.relaunch(t)
}

// kill9 kills the server with SIGKILL, leaving its data as a crash would.
func (s *server) kill9(t *testing.T) {
	t.Helper()
	s.proc.Kill()
}

// relaunch starts the server again on the same config and data after a
// stop or kill9, and drops pooled connections to the dead process.
func (s *server) relaunch(t *testing.T) {
	t.Helper()
	s.transport.CloseIdleConnections()
	if err := s.launch(); err != nil {
		t.Fatalf("restart gatehouse: %v", err)
	}
}

// dumpLogs prints the tail of every run's stdout and stderr.
func (s *server) dumpLogs(t *testing.T) {
	t.Helper()
	for i := 1; i <= s.starts; i++ {
		prefix := filepath.Join(s.opts.DataDir, fmt.Sprintf("run%d", i))
		t.Logf("gatehouse run %d stdout:\n%s", i, Tail(prefix+".stdout", 60))
		t.Logf("gatehouse run %d stderr:\n%s", i, Tail(prefix+".stderr", 120))
	}
}

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/config"
)

// fakeServerEnv makes the test binary act as a stand-in server, so the
// process helpers can be tested without a working gatehouse.
const fakeServerEnv = "GATEHOUSE_E2E_FAKE_SERVER"

// fakeServer answers /versions on addr and exits 0 on SIGTERM, like
// gatehouse serve.
func fakeServer(addr string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"versions":["v1.11"]}`))
	})}
	go func() { _ = srv.ListenAndServe() }()
	fmt.Println("fake listening on", addr)
	<-ctx.Done()
	_ = srv.Close()
	return 0
}

func startFake(t *testing.T) (*Process, string) {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	p, err := StartProcess(os.Args[0], []string{"-test.run=^$"}, dir, filepath.Join(dir, "fake"), []string{fakeServerEnv + "=" + addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-p.Done():
		default:
			p.Kill()
		}
	})
	if err := p.WaitReady("http://"+addr, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return p, addr
}

func TestProcessStopIsGraceful(t *testing.T) {
	p, _ := startFake(t)
	rss, err := p.RSSKiB()
	if err != nil || rss <= 0 {
		t.Errorf("RSS of a running process: %d, %v", rss, err)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if out := Tail(p.StdoutPath, 5); !strings.Contains(out, "fake listening on") {
		t.Errorf("stdout not captured: %q", out)
	}
	if err := p.Stop(time.Second); err == nil {
		t.Errorf("Stop of an exited process reported success")
	}
}

func TestProcessKill9(t *testing.T) {
	p, _ := startFake(t)
	p.Kill()
	if err := p.ExitErr(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("after SIGKILL, Wait = %v", err)
	}
}

func TestWaitReadyNoticesEarlyExit(t *testing.T) {
	dir := t.TempDir()
	p, err := StartProcess("/bin/sh", []string{"-c", "echo address already in use >&2; exit 3"}, dir, filepath.Join(dir, "x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.WaitReady("http://127.0.0.1:1", 20*time.Second)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("WaitReady after an exit: %v after %s", err, time.Since(start))
	}
	if !strings.Contains(Tail(p.StderrPath, 3), "address already in use") {
		t.Errorf("stderr not captured")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tgatehouse\nVmPeak:\t  812345 kB\nVmRSS:\t   23456 kB\nThreads:\t9\n"
	got, err := parseVmRSS(bufio.NewScanner(strings.NewReader(status)))
	if err != nil || got != 23456 {
		t.Errorf("parseVmRSS = %d, %v", got, err)
	}
	if _, err := parseVmRSS(bufio.NewScanner(strings.NewReader("Name: x\n"))); err == nil {
		t.Errorf("no VmRSS line: no error")
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 10 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := Tail(path, 3)
	if !strings.HasSuffix(got, "line 7\nline 8\nline 9") || !strings.Contains(got, "7 earlier lines") {
		t.Errorf("Tail = %q", got)
	}
}

// TestWriteConfigLoads checks the harness's config against the real loader,
// which refuses unknown keys: a typo here would stop every e2e test.
func TestWriteConfigLoads(t *testing.T) {
	for _, dsn := range []string{"", "postgres://u@127.0.0.1:5432/db?sslmode=disable&search_path=t_1"} {
		o := Options{Port: 18008, DataDir: t.TempDir(), PostgresDSN: dsn, LogLevel: "warn"}
		path, err := WriteConfig(o)
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path)
		if err != nil {
			t.Fatalf("config.Load rejected the harness config: %v", err)
		}
		if c.Listeners[0].Port != 18008 || c.Listeners[0].BindAddresses[0] != "127.0.0.1" {
			t.Errorf("listener = %+v", c.Listeners)
		}
		if dsn == "" && (c.IsPostgres() || c.Database.Args.Database != filepath.Join(o.DataDir, "gatehouse.db")) {
			t.Errorf("sqlite database = %+v", c.Database)
		}
		if dsn != "" && (!c.IsPostgres() || c.PostgresDSN() != dsn) {
			t.Errorf("postgres database = %+v", c.Database)
		}
		if c.RcMessage.PerSecond != 10000 || c.RcLogin.FailedAttempts.BurstCount != 10000 || c.RcRegistration.BurstCount != 10000 {
			t.Errorf("rate limits not raised: %+v %+v %+v", c.RcMessage, c.RcLogin, c.RcRegistration)
		}
		if !c.EnableRegistration || !c.EnableRegistrationWithoutVerification || c.EncryptionEnabledByDefaultForRoomType != "invite" {
			t.Errorf("registration/encryption settings = %v %v %q", c.EnableRegistration, c.EnableRegistrationWithoutVerification, c.EncryptionEnabledByDefaultForRoomType)
		}
		if c.Log.Level != "warn" || c.SigningKeyPath != filepath.Join(o.DataDir, "signing.key") {
			t.Errorf("log %+v, signing key %q", c.Log, c.SigningKeyPath)
		}
	}
}

func TestRecordingTransportSeesEvery5xx(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	log := &statusLog{}
	c := &http.Client{Transport: &recordingTransport{base: http.DefaultTransport, logs: []*statusLog{log}}}
	for _, p := range []string{"/ok", "/boom", "/ok"} {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if bad := log.serverErrors(); log.count() != 3 || len(bad) != 1 || bad[0] != "502 for GET /boom" {
		t.Errorf("count %d, errors %q", log.count(), bad)
	}
}

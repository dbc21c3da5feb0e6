package host

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/internal/inproc"
)

// lockedBuffer is a log sink safe for the bridges' goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A bridge whose start fails before its encryption is set up (here the
// homeserver refuses its as_token) is stopped, reported with what to do
// and retried, without taking the process down.
func TestEarlyStartFailureIsRetried(t *testing.T) {
	settings, probs := Parse(testDefs, sections(t, "testnet:\n  enabled: true\n"), "example.org")
	if len(probs) != 0 {
		t.Fatal(probs)
	}
	dir := t.TempDir()
	transport := &inproc.Transport{}
	transport.Handle(HomeserverName, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}`))
	}))
	logs := &lockedBuffer{}
	h, _, err := New(Options{ServerName: "example.org", Files: Files{Dir: filepath.Join(dir, "bridges"), DBDir: dir},
		Transport: transport, Log: zerolog.New(logs), MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}, settings)
	if err != nil {
		t.Fatal(err)
	}
	h.Start(t.Context())
	defer h.Stop()
	deadline := time.After(30 * time.Second)
	for strings.Count(logs.String(), "delete its registration file") < 2 {
		select {
		case <-deadline:
			t.Fatalf("no failed start was reported and retried:\n%s", logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if h.WaitReady(ctx, "testnet") == nil {
		t.Fatal("the bridge reports ready while the homeserver refuses it")
	}
}

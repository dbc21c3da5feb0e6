package media

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/storage/sqlite"
)

const crashDirEnv = "GATEHOUSE_MEDIA_CRASH_DIR"

func crashPayload() []byte {
	return bytes.Repeat([]byte("durable upload payload\n"), 50_000) // ~1.1 MB
}

// TestCrashHelper is the child process of TestUploadSurvivesKill: it
// uploads, reports the ID once Upload has returned, and waits to be killed.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestUploadSurvivesKill")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(db, filepath.Join(dir, "media"), "example.org", 10<<20, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	m := upload(t, s, "@a:example.org", "text/plain", "d.txt", crashPayload())
	fmt.Printf("UPLOADED %s\n", m.MediaID)
	// Wait to be killed; if the parent dies first, stdin closes and we go.
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// TestUploadSurvivesKill kills -9 a process right after Upload returned
// (the point where the HTTP layer answers 200) and checks a fresh process
// serves the same bytes.
func TestUploadSurvivesKill(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("inside the helper")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A stuck helper is made to dump its goroutines, then fails the test.
	watchdog := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Signal(syscall.SIGQUIT) })
	var mediaID string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "UPLOADED "); ok {
			mediaID = id
			break
		}
	}
	watchdog.Stop()
	_ = cmd.Process.Kill() // SIGKILL: no deferred cleanup, no flushing
	go io.Copy(io.Discard, out)
	_ = cmd.Wait()
	if mediaID == "" {
		t.Fatalf("helper never reported an upload; its stderr:\n%s", stderr.String())
	}

	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(db, filepath.Join(dir, "media"), "example.org", 10<<20, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	m, c, err := s.Open(ctx, "example.org", mediaID, 0)
	if err != nil {
		t.Fatalf("after kill -9: %v", err)
	}
	if got := readContent(t, c); !bytes.Equal(got, crashPayload()) || m.UploadName != "d.txt" {
		t.Errorf("after kill -9: %d bytes, name %q", len(got), m.UploadName)
	}
}

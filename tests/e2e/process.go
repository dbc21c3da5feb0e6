// Package e2e tests the real gatehouse binary end to end: TestMain builds
// it once, each test starts its own server processes on loopback (SQLite in
// a temp dir, or a throwaway PostgreSQL schema) and talks to them only over
// HTTP, as Element or a bridge would.
//
// The non-test files hold what tools/bench shares with the tests: building
// the binary, writing a config, starting, stopping and measuring a process.
// They must not import testing, so the benchmark can use them; the
// testing.T-aware harness lives in harness_test.go.
package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ModuleRoot returns the directory holding go.mod, searching upwards from
// the working directory, so the tests and the benchmark work from any
// package directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build compiles ./cmd/gatehouse with the goolm tag into outDir and returns
// the binary's path. It runs the go command found on PATH with the caller's
// environment, so GOTOOLCHAIN (exported by the Makefile) picks the same
// toolchain the tests run with.
func Build(ctx context.Context, outDir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(outDir, "gatehouse")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "goolm", "-o", bin, "./cmd/gatehouse")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/gatehouse: %w\n%s", err, out)
	}
	return bin, nil
}

// FreePort returns a loopback TCP port that was free a moment ago. Another
// process may take it before the server binds, so Start reports an early
// exit and callers may retry with a new port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Process is one running gatehouse. Its stdout and stderr go to files so a
// kill -9 loses nothing and a failing test can print their tails.
type Process struct {
	Cmd        *exec.Cmd
	StdoutPath string
	StderrPath string

	done    chan struct{}
	waitErr error
}

// StartProcess runs bin with args in dir, appending output to
// logPrefix+".stdout" and logPrefix+".stderr". It does not wait for
// readiness; see WaitReady.
func StartProcess(bin string, args []string, dir, logPrefix string, env []string) (*Process, error) {
	p := &Process{StdoutPath: logPrefix + ".stdout", StderrPath: logPrefix + ".stderr", done: make(chan struct{})}
	stdout, err := os.OpenFile(p.StdoutPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(p.StderrPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p.Cmd = cmd
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr is the result of Wait; only meaningful after Done is closed.
func (p *Process) ExitErr() error { return p.waitErr }

// PID returns the process ID.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// WaitReady polls GET baseURL/_matrix/client/versions until it answers 200,
// the process exits, or timeout passes.
func (p *Process) WaitReady(baseURL string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(strings.TrimSuffix(baseURL, "/") + "/_matrix/client/versions")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				client.CloseIdleConnections()
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("gatehouse exited before it was ready: %v", p.waitErr)
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gatehouse not ready at %s after %s (last error: %v)", baseURL, timeout, err)
		}
	}
}

// Kill sends SIGKILL, as `kill -9` does, and waits for the exit.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop asks for a graceful shutdown with SIGTERM and kills the process if
// it has not exited within grace. It reports whether the exit was graceful
// (exit status 0 after SIGTERM).
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return fmt.Errorf("gatehouse had already exited: %v", p.waitErr)
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("gatehouse exited badly after SIGTERM: %v", p.waitErr)
		}
		return nil
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("gatehouse ignored SIGTERM for %s and was killed", grace)
	}
}

// RSSKiB reads VmRSS of the process from /proc (Linux only).
func (p *Process) RSSKiB() (int64, error) {
	return ReadRSSKiB(p.PID())
}

// ReadRSSKiB reads VmRSS of pid from /proc/PID/status, in KiB.
func ReadRSSKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmRSS(bufio.NewScanner(f))
}

func parseVmRSS(sc *bufio.Scanner) (int64, error) {
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line in status")
}

// Tail returns at most the last n lines of the file at path.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines in %s)", len(lines)-n, path)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

package e2ee

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/tests/e2e"
)

// jsDir holds the matrix-js-sdk driver (package.json, package-lock.json,
// interop.mjs).
func jsDir(t *testing.T) string {
	t.Helper()
	root, err := e2e.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "tests", "e2ee", "js")
}

var npmOnce sync.Once
var npmErr error

// needNodeModules runs `npm ci` once when node_modules is missing.
func needNodeModules(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed: the matrix-js-sdk interop test needs Node.js 20 or newer and npm on PATH")
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "matrix-js-sdk")); err == nil {
			return
		}
		if _, err := exec.LookPath("npm"); err != nil {
			npmErr = fmt.Errorf("npm is not installed: the matrix-js-sdk interop test installs matrix-js-sdk with `npm ci` in %s", dir)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
}

// jsClient is the running node process.
type jsClient struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan jsLine
	stderr *bytes.Buffer
}

type jsLine struct {
	Ready *struct {
		DeviceID string `json:"device_id"`
	} `json:"ready"`
	Got *struct {
		Body      string `json:"body"`
		Sender    string `json:"sender"`
		Encrypted bool   `json:"encrypted"`
	} `json:"got"`
	Sent *struct {
		Body string `json:"body"`
	} `json:"sent"`
	Error string `json:"error"`
	at    time.Time
}

func startJS(t *testing.T, s *server, user, password string, room id.RoomID, peer id.UserID) *jsClient {
	t.Helper()
	return startScript(t, "interop.mjs", s, user, password, room, peer)
}

// startScript runs one of js/*.mjs with the line protocol startJS speaks.
func startScript(t *testing.T, script string, s *server, user, password string, room id.RoomID, peer id.UserID) *jsClient {
	t.Helper()
	dir := jsDir(t)
	needNodeModules(t, dir)
	cmd := exec.Command("node", "--import", "./polyfill.mjs", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HS_URL="+s.URL, "USER="+user, "PASSWORD="+password, "ROOM_ID="+string(room), "PEER="+string(peer))
	js := &jsClient{t: t, cmd: cmd, lines: make(chan jsLine, 100), stderr: &bytes.Buffer{}}
	cmd.Stderr = js.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if js.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l jsLine
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue // the SDK's own console output
			}
			l.at = time.Now()
			js.lines <- l
		}
		close(js.lines)
	}()
	t.Cleanup(func() {
		_, _ = io.WriteString(js.stdin, `{"quit":true}`+"\n")
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("matrix-js-sdk stderr:\n%s", js.stderr.String())
		}
	})
	return js
}

// next waits for a line accepted by want.
func (js *jsClient) next(what string, timeout time.Duration, want func(jsLine) bool) jsLine {
	js.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-js.lines:
			if !ok {
				js.t.Fatalf("matrix-js-sdk exited while waiting for %s:\n%s", what, js.stderr.String())
			}
			if l.Error != "" {
				js.t.Fatalf("matrix-js-sdk failed: %s", l.Error)
			}
			if want(l) {
				return l
			}
		case <-deadline:
			js.t.Fatalf("matrix-js-sdk: timed out waiting for %s", what)
		}
	}
}

func (js *jsClient) send(body string) {
	js.t.Helper()
	cmd, _ := json.Marshal(map[string]string{"send": body})
	if _, err := js.stdin.Write(append(cmd, '\n')); err != nil {
		js.t.Fatal(err)
	}
}

func (js *jsClient) waitGot(body string) jsLine {
	js.t.Helper()
	l := js.next(fmt.Sprintf("message %q", body), 30*time.Second, func(l jsLine) bool { return l.Got != nil && l.Got.Body == body })
	if !l.Got.Encrypted {
		js.t.Fatalf("matrix-js-sdk got %q unencrypted", body)
	}
	return l
}

// TestMatrixJSInterop: a matrix-js-sdk client (Rust crypto, in memory,
// under Node) and a mautrix-go client exchange encrypted messages both
// ways through Gatehouse.
func TestMatrixJSInterop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		gouser := newMXClient(t, s, "gouser")
		reg, err := mautrix.NewClient(s.URL, "", "")
		if err != nil {
			t.Fatal(err)
		}
		reg.Client = httpClient
		const jsPassword = "jsuser-correct-horse-battery"
		resp, err := reg.RegisterDummy(t.Context(), &mautrix.ReqRegister[any]{Username: "jsuser", Password: jsPassword})
		if err != nil {
			t.Fatal(err)
		}
		room := gouser.encryptedRoom(resp.UserID)
		js := startJS(t, s, "jsuser", jsPassword, room, gouser.UserID)
		js.next("ready", 90*time.Second, func(l jsLine) bool { return l.Ready != nil })
		gouser.waitMember(room, resp.UserID)

		gouser.send(room, "hello matrix-js-sdk, from mautrix-go")
		js.waitGot("hello matrix-js-sdk, from mautrix-go")
		js.send("hello mautrix-go, from matrix-js-sdk")
		gouser.waitMessage(room, "hello mautrix-go, from matrix-js-sdk")

		const n = 10
		var goToJS, jsToGo []time.Duration
		for i := 0; i < n; i++ {
			body := fmt.Sprintf("go->js %d", i)
			start := time.Now()
			gouser.send(room, body)
			goToJS = append(goToJS, js.waitGot(body).at.Sub(start))

			body = fmt.Sprintf("js->go %d", i)
			start = time.Now()
			js.send(body)
			jsToGo = append(jsToGo, gouser.waitMessage(room, body).at.Sub(start))
		}
		slices.Sort(goToJS)
		slices.Sort(jsToGo)
		t.Logf("matrix-js-sdk pair (%s): mautrix->js p50 %v max %v; js->mautrix p50 %v max %v (%d each)",
			backend, goToJS[n/2], goToJS[n-1], jsToGo[n/2], jsToGo[n-1], n)
	})
}

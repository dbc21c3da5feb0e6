package e2ee

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// startSlidingJS is startJS running js/sliding.mjs: the same matrix-js-sdk
// client and line protocol, syncing with simplified sliding sync.
func startSlidingJS(t *testing.T, s *server, user, password string, room id.RoomID, peer id.UserID) *jsClient {
	t.Helper()
	dir := jsDir(t)
	needNodeModules(t, dir)
	cmd := exec.Command("node", "--import", "./polyfill.mjs", "sliding.mjs")
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
				continue
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

// TestMatrixJSSlidingSyncInterop: a matrix-js-sdk client that syncs only
// through simplified sliding sync (MSC4186) gets its invite, joins, and
// exchanges encrypted messages both ways with a mautrix-go client: room
// keys reach it as to-device messages, and the devices it encrypts for
// come from the e2ee extension's device lists.
func TestMatrixJSSlidingSyncInterop(t *testing.T) {
	s := startServer(t, "sqlite")
	gouser := newMXClient(t, s, "gouser")
	reg, err := mautrix.NewClient(s.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	reg.Client = httpClient
	const jsPassword = "slider-correct-horse-battery"
	resp, err := reg.RegisterDummy(t.Context(), &mautrix.ReqRegister[any]{Username: "slider", Password: jsPassword})
	if err != nil {
		t.Fatal(err)
	}
	room := gouser.encryptedRoom(resp.UserID)
	js := startSlidingJS(t, s, "slider", jsPassword, room, gouser.UserID)
	js.next("ready", 90*time.Second, func(l jsLine) bool { return l.Ready != nil })
	gouser.waitMember(room, resp.UserID)

	gouser.send(room, "hello sliding sync, from mautrix-go")
	js.waitGot("hello sliding sync, from mautrix-go")
	js.send("hello mautrix-go, from sliding sync")
	gouser.waitMessage(room, "hello mautrix-go, from sliding sync")
	for _, body := range []string{"one", "two", "three"} {
		gouser.send(room, body)
		js.waitGot(body)
	}
}

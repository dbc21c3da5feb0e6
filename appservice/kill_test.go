package appservice

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/postgres"
	"github.com/gatehouse-chat/gatehouse/core/storage/sqlite"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// The SIGKILL test runs the homeserver side in a child process (this test
// binary, re-executed into TestKillChild), kills it with SIGKILL while it
// is producing events for an appservice that is down, restarts the pusher
// in this process on the same database, and checks that the appservice
// receives every committed event and to-device message exactly once, in
// order. Events the child committed just before dying are the ones a
// post-commit hook would lose.

const childEnv = "GATEHOUSE_AS_KILL_CHILD"

func TestSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hs.db")
		killAndRecover(t, "sqlite:"+path, func() *storage.DB {
			db, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := storagetest.PostgresDSN(t)
		killAndRecover(t, "postgres:"+dsn, func() *storage.DB {
			db, err := postgres.Open(context.Background(), dsn, 1, 4)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db
		})
	})
}

func killAndRecover(t *testing.T, dbSpec string, reopen func() *storage.DB) {
	f := newFakeAS(t)
	reg := bridgeReg(t, f.srv.URL)
	regPath := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := reg.Save(regPath); err != nil {
		t.Fatal(err)
	}
	f.start(reg, "")
	f.mode.Store("down")

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_DB="+dbSpec, "CHILD_REG="+regPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var room id.RoomID
	var sentDevices int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if r, ok := strings.CutPrefix(line, "room "); ok {
			room = id.RoomID(r)
		}
		if n, ok := strings.CutPrefix(line, "to-device "); ok {
			sentDevices, _ = strconv.Atoi(n)
		}
		if n, ok := strings.CutPrefix(line, "sent "); ok && n == "300" {
			break
		}
	}
	// It keeps sending while we pull the plug, at some point inside a commit.
	go func() {
		for sc.Scan() {
		}
	}()
	time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if room == "" || len(f.attemptList()) == 0 {
		t.Fatalf("child did not get going (room %q, %d attempts)", room, len(f.attemptList()))
	}

	db := reopen()
	var want []string
	rows, err := db.Query(context.Background(), `SELECT event_id FROM events WHERE room_id = $1 AND type = 'm.room.message' ORDER BY stream_pos`, room)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		_ = rows.Scan(&e)
		want = append(want, e)
	}
	rows.Close()
	if len(want) < 300 {
		t.Fatalf("only %d messages committed before the kill", len(want))
	}
	loaded, err := registration.LoadFiles([]string{regPath}, server)
	if err != nil {
		t.Fatal(err)
	}
	f.start(loaded[0], "")
	f.mode.Store("up")
	newCore(t, db, loaded, PusherOptions{})
	acc := f.waitFor(30*time.Second, fmt.Sprintf("%d messages", len(want)), func(acc []delivery) bool {
		n := 0
		for _, d := range uniqueTxns(acc) {
			n += len(d.bodies)
		}
		return n >= len(want)
	})
	got := allEvents(t, acc)
	var msgs []string
	for _, e := range got {
		for _, w := range want {
			if e == w {
				msgs = append(msgs, e)
				break
			}
		}
	}
	if strings.Join(msgs, ",") != strings.Join(want, ",") {
		t.Fatalf("delivered %d of %d committed messages, or out of order", len(msgs), len(want))
	}
	var devices []string
	for _, d := range uniqueTxns(acc) {
		devices = append(devices, d.toDevice...)
	}
	for i, d := range devices {
		if d != strconv.Itoa(i) {
			t.Fatalf("to-device messages %v are not 0..n in order", devices)
		}
	}
	if len(devices) < sentDevices {
		t.Fatalf("%d to-device messages delivered, %d were acknowledged before the kill", len(devices), sentDevices)
	}
	t.Logf("%d messages and %d to-device messages committed before SIGKILL, all delivered once, in order", len(want), len(devices))
}

// TestKillChild is the child half of TestSIGKILL; it does nothing unless
// started by it.
func TestKillChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("child process of TestSIGKILL")
	}
	ctx := context.Background()
	spec := os.Getenv("CHILD_DB")
	var db *storage.DB
	var err error
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok {
		db, err = sqlite.Open(ctx, path)
	} else {
		db, err = postgres.Open(ctx, strings.TrimPrefix(spec, "postgres:"), 1, 4)
	}
	if err != nil {
		t.Fatal(err)
	}
	regs, err := registration.LoadFiles([]string{os.Getenv("CHILD_REG")}, server)
	if err != nil {
		t.Fatal(err)
	}
	c := newCore(t, db, regs, PusherOptions{})
	room := bridgedRoom(t, c)
	fmt.Printf("room %s\n", room)
	for i := 0; ; i++ {
		c.send(t, room, alice, fmt.Sprint("msg ", i))
		if i%10 == 0 {
			sendToDevice(t, c, i/10)
			fmt.Printf("to-device %d\n", i/10+1)
		}
		fmt.Printf("sent %d\n", i+1)
	}
}

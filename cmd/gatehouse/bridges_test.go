package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/bridges/bridgetest"
	"github.com/gatehouse-chat/gatehouse/bridges/host"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/registration"
	"github.com/gatehouse-chat/gatehouse/tests/e2e"
)

// syncBuffer collects the server's log for failure reports.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startWithBridge runs a whole Gatehouse in this process, as `gatehouse
// serve` does, with the test network compiled in as bridge "testnet".
func startWithBridge(t *testing.T, backend string, network *bridgetest.Network, section string) (*server, string) {
	t.Helper()
	r := runWithBridges(t, bridgeConfig(t, backend, section), []host.Definition{testDef("testnet", network)})
	return r.srv, r.url
}

// testDef compiles network in as bridge name.
func testDef(name string, network *bridgetest.Network) host.Definition {
	return host.Definition{Name: name, New: func() bridgev2.NetworkConnector { return network }}
}

// bridgeConfig writes a config for backend ("sqlite" or "postgres", in a
// fresh schema) with section appended, and returns its path. Servers
// started from the same path share the data directory and database.
func bridgeConfig(t *testing.T, backend, section string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	o := e2e.Options{Port: port, DataDir: t.TempDir(), LogLevel: "info", Extra: section}
	if os.Getenv("GATEHOUSE_BRIDGE_TEST_LOG") != "" {
		o.LogLevel = "debug"
	}
	if backend == "postgres" {
		o.PostgresDSN = storagetest.PostgresDSN(t)
	}
	path, err := e2e.WriteConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// running is a Gatehouse started by runWithBridges.
type running struct {
	srv  *server
	url  string      // the client listener's base URL
	logs *syncBuffer // the server's log
	// stop shuts the server down, once (cleanup calls it too), so a test
	// can start another from the same config.
	stop func()
}

// runWithBridges starts Gatehouse from the config at path with defs
// compiled in and waits until every enabled bridge has started.
func runWithBridges(t *testing.T, path string, defs []host.Definition) running {
	t.Helper()
	logs := &syncBuffer{}
	srv, code := startServer(t.Context(), path, false, defs, logs)
	if srv == nil {
		t.Fatalf("server did not start (exit %d):\n%s", code, logs)
	}
	stop := sync.OnceFunc(srv.Close)
	t.Cleanup(func() {
		stop()
		if t.Failed() || os.Getenv("GATEHOUSE_BRIDGE_TEST_LOG") != "" {
			t.Logf("server log:\n%s", logs)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, name := range srv.bridges.Names() {
		if err := srv.bridges.WaitReady(ctx, name); err != nil {
			t.Fatalf("bridge %s did not start: %v\n%s", name, err, logs)
		}
	}
	return running{srv: srv, url: "http://" + srv.addrs[0].String(), logs: logs, stop: stop}
}

// TestBridgeInEncryptedPortal runs a bridgev2 bridge inside Gatehouse with
// encryption on (appservice mode, MSC4190 device, no /sync) and drives it
// as a user would: log in through the bot, receive a remote message in an
// encrypted portal, answer it, get the remote side's reply, and see a
// message the user sent from their remote account appear as their own
// Matrix account once they opted in to double puppeting.
func TestBridgeInEncryptedPortal(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			net := bridgetest.New()
			net.SetEchoReplies(true)
			srv, baseURL := startWithBridge(t, backend, net, "bridges:\n  testnet:\n    enabled: true\n")
			ctx := t.Context()
			bot := id.NewUserID("testnetbot", e2e.ServerName)

			regPath := filepath.Join(filepath.Dir(srv.cfg.SigningKeyPath), "bridges", "testnet-registration.yaml")
			if fi, err := os.Stat(regPath); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("generated registration %s: %v %v", regPath, fi, err)
			}

			alice := newE2EEClient(t, baseURL, "alice")
			dm := alice.createDM(bot)
			alice.waitMembership(dm, bot, event.MembershipJoin)
			if enc, _ := alice.StateStore.IsEncrypted(ctx, dm); !enc {
				t.Fatal("the DM with the bridge bot is not encrypted by default")
			}

			// Log in through the bot in the encrypted DM: the bot must
			// decrypt the command and answer encrypted.
			alice.send(dm, "login "+bridgetest.LoginFlowID+" alice-remote")
			reply := alice.waitMessage(dm, "Successfully logged in")
			if reply.Sender != bot {
				t.Fatalf("login answer from %s", reply.Sender)
			}
			if _, err := net.WaitLogin(ctx, "alice-remote"); err != nil {
				t.Fatal(err)
			}

			// A remote user writes: the portal is created encrypted, alice is
			// invited, and the text arrives from bob's ghost, decryptable.
			if err := net.SendRemote(ctx, "alice-remote", "chat1", "bob", "hello from bob"); err != nil {
				t.Fatal(err)
			}
			var portal id.RoomID
			alice.waitFor("the portal room", func() bool {
				var err error
				portal, err = net.PortalRoomID(ctx, "alice-remote", "chat1")
				return err == nil && portal != ""
			})
			alice.waitMembership(portal, alice.UserID, event.MembershipInvite)
			if _, err := alice.JoinRoomByID(ctx, portal); err != nil {
				t.Fatal(err)
			}
			msg := alice.waitMessage(portal, "hello from bob")
			if msg.Sender != net.GhostMXID("bob") {
				t.Fatalf("remote message sent by %s, want bob's ghost %s", msg.Sender, net.GhostMXID("bob"))
			}
			if enc, _ := alice.StateStore.IsEncrypted(ctx, portal); !enc {
				t.Fatal("portal is not encrypted")
			}

			// Alice answers: the connector receives the decrypted text, and
			// the remote echo user's reply comes back encrypted.
			alice.send(portal, "hi bob, from Matrix")
			select {
			case got := <-net.Received():
				if got.Body != "hi bob, from Matrix" || got.Sender != alice.UserID {
					t.Fatalf("connector received %+v", got)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the connector never received alice's message")
			}
			reply = alice.waitMessage(portal, "echo: hi bob, from Matrix")
			if reply.Sender != net.GhostMXID(string(bridgetest.EchoUserID)) {
				t.Fatalf("echo sent by %s", reply.Sender)
			}

			// Without an opt-in, alice's own remote message comes from a ghost.
			if err := net.SendRemote(ctx, "alice-remote", "chat1", "alice-remote", "before opting in"); err != nil {
				t.Fatal(err)
			}
			if m := alice.waitMessage(portal, "before opting in"); m.Sender == alice.UserID {
				t.Fatal("the bridge acted as alice before she opted in")
			}

			// Native double puppeting: alice opts in through the bot; her
			// next remote message is her own Matrix account's.
			alice.send(dm, "double-puppet on")
			alice.waitMessage(dm, "Double puppeting is on")
			if err := net.SendRemote(ctx, "alice-remote", "chat1", "alice-remote", "sent from my phone"); err != nil {
				t.Fatal(err)
			}
			mine := alice.waitMessage(portal, "sent from my phone")
			if mine.Sender != alice.UserID {
				t.Fatalf("double-puppeted message sent by %s, want %s", mine.Sender, alice.UserID)
			}
			var consent struct {
				Allow []string `json:"allow"`
			}
			if err := alice.GetAccountData(ctx, "io.gatehouse.double_puppet", &consent); err != nil || strings.Join(consent.Allow, ",") != "testnet" {
				t.Fatalf("opt-in account data = %+v, %v", consent, err)
			}
		})
	}
}

// flakyNetwork fails its first starts, like a network that is down.
type flakyNetwork struct {
	*bridgetest.Network
	mu       sync.Mutex
	failures int
}

func (f *flakyNetwork) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		return errors.New("remote network unreachable")
	}
	return f.Network.Start(ctx)
}

// A bridge that cannot start is reported and retried; the homeserver
// serves clients all the while.
func TestBridgeFailureIsRetried(t *testing.T) {
	flaky := &flakyNetwork{Network: bridgetest.New(), failures: 1}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	path, err := e2e.WriteConfig(e2e.Options{Port: port, DataDir: t.TempDir(), Extra: "bridges:\n  testnet:\n    enabled: true\n"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, code := startServer(t.Context(), path, false,
		[]host.Definition{{Name: "testnet", New: func() bridgev2.NetworkConnector { return flaky }}}, logs)
	if srv == nil {
		t.Fatalf("exit %d: %s", code, logs)
	}
	defer srv.Close()
	cli, _ := mautrix.NewClient("http://"+srv.addrs[0].String(), "", "")
	if _, err := cli.Versions(t.Context()); err != nil {
		t.Fatalf("homeserver down while its bridge fails: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := srv.bridges.WaitReady(ctx, "testnet"); err != nil {
		t.Fatalf("bridge never recovered: %v\n%s", err, logs)
	}
	if !strings.Contains(logs.String(), "remote network unreachable") || !strings.Contains(logs.String(), "Retrying") {
		t.Fatalf("the failure was not reported with what to do:\n%s", logs)
	}
}

// A mistake in a bridge section stops the server before it starts, with
// the key's path, like every other config problem.
func TestBridgeConfigProblemsAtStart(t *testing.T) {
	path, err := e2e.WriteConfig(e2e.Options{Port: 1, DataDir: t.TempDir(),
		Extra: "bridges:\n  testnet:\n    enabled: true\n    double_puppet: maybe\n  whatsapp:\n    enabled: true\n"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	defs := []host.Definition{{Name: "testnet", New: func() bridgev2.NetworkConnector { return bridgetest.New() }}}
	if srv, code := startServer(t.Context(), path, false, defs, &out); srv != nil || code != 1 {
		t.Fatalf("started with a bad bridges section (exit %d)", code)
	}
	for _, want := range []string{"bridges.testnet.double_puppet: must be opt_in, all or off", `bridges.whatsapp: this build has no "whatsapp" bridge`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// `gatehouse registration <bridge>` prints the registration the server
// will use, generating it before the first start, and the same one after.
func TestRegistrationCommand(t *testing.T) {
	dir := t.TempDir()
	path, err := e2e.WriteConfig(e2e.Options{Port: 8008, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defs := []host.Definition{{Name: "testnet", New: func() bridgev2.NetworkConnector { return bridgetest.New() }}}
	var out1, out2, errOut bytes.Buffer
	if code := runRegistration([]string{"-c", path, "testnet"}, defs, &out1, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	reg, err := registration.Parse("printed", out1.Bytes())
	if err != nil || reg.ID != "testnet" || reg.SenderLocalpart != "testnetbot" || len(reg.ASToken) < 32 || !reg.MSC4190 {
		t.Fatalf("printed registration %+v: %v\n%s", reg, err, out1.String())
	}
	saved, err := os.ReadFile(filepath.Join(dir, "bridges", "testnet-registration.yaml"))
	if err != nil || !bytes.Equal(saved, out1.Bytes()) {
		t.Fatalf("printed and saved registrations differ: %v", err)
	}
	if code := runRegistration([]string{"-c", path, "testnet"}, defs, &out2, &errOut); code != 0 || !bytes.Equal(out1.Bytes(), out2.Bytes()) {
		t.Fatalf("second call changed the registration (exit %d)", code)
	}
	errOut.Reset()
	if code := runRegistration([]string{"-c", path, "discord"}, defs, &out2, &errOut); code != 1 || !strings.Contains(errOut.String(), `no "discord" bridge`) {
		t.Fatalf("unknown bridge: exit %d, %s", code, errOut.String())
	}
}

package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/bridges/bridgetest"
	"github.com/gatehouse-chat/gatehouse/bridges/host"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/registration"
	"github.com/gatehouse-chat/gatehouse/tests/e2e"
)

// hostedNet is one of several bridges in a test: its fake network, its
// bot, and what the user has seen of it so far.
type hostedNet struct {
	name   string
	net    *bridgetest.Network
	bot    id.UserID
	dm     id.RoomID
	portal id.RoomID
	device id.DeviceID // the bot's one device, as the user's client sees it
	key    id.Ed25519  // that device's signing key
}

// ghost is the Matrix user the bridge's namespace gives remote user u.
func (h *hostedNet) ghost(u string) id.UserID { return id.NewUserID(h.name+"_"+u, e2e.ServerName) }

// TestSeveralBridges runs two bridges in one Gatehouse, each with
// encryption on, and checks that a user of both sees each network's
// messages only in that network's portals, from that network's ghosts,
// and that what they write reaches only the network the portal belongs
// to, before and after a restart. Both networks use the same login, chat
// and remote user IDs, so on PostgreSQL, where the bridges share the
// core's database, any row the two bridges failed to keep apart would
// show.
func TestSeveralBridges(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			nets := []*hostedNet{
				{name: "testnet", net: bridgetest.New()},
				{name: "othernet", net: bridgetest.New()},
			}
			var defs []host.Definition
			for _, n := range nets {
				n.bot = id.NewUserID(n.name+"bot", e2e.ServerName)
				defs = append(defs, testDef(n.name, n.net))
			}
			path := bridgeConfig(t, backend, "bridges:\n  testnet:\n    enabled: true\n  othernet:\n    enabled: true\n")
			if backend == "postgres" {
				standaloneBridgeNextDoor(t)
			}
			first := runWithBridges(t, path, defs)
			startedFirstTime(t, first)
			checkRegistrations(t, path, nets)

			alice := newE2EEClient(t, first.url, "alice")
			for _, n := range nets {
				n.dm = alice.createDM(n.bot)
			}
			// Both bots at once: each must answer its own DM, encrypted.
			for _, n := range nets {
				alice.waitMembership(n.dm, n.bot, event.MembershipJoin)
				alice.send(n.dm, "login "+bridgetest.LoginFlowID+" alice-remote")
			}
			for _, n := range nets {
				if reply := alice.waitMessage(n.dm, "Successfully logged in"); reply.Sender != n.bot {
					t.Fatalf("%s: login answered by %s", n.name, reply.Sender)
				}
				if _, err := n.net.WaitLogin(ctx, "alice-remote"); err != nil {
					t.Fatal(err)
				}
			}

			// The same remote user speaks in the same chat ID on both
			// networks: two encrypted portals, each with its own ghost.
			for _, n := range nets {
				if err := n.net.SendRemote(ctx, "alice-remote", "chat1", "bob", "hello from bob on "+n.name); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range nets {
				alice.waitFor(n.name+"'s portal", func() bool {
					n.portal, _ = n.net.PortalRoomID(ctx, "alice-remote", "chat1")
					return n.portal != ""
				})
				alice.waitMembership(n.portal, alice.UserID, event.MembershipInvite)
				if _, err := alice.JoinRoomByID(ctx, n.portal); err != nil {
					t.Fatal(err)
				}
			}
			if nets[0].portal == nets[1].portal {
				t.Fatalf("both bridges use portal %s", nets[0].portal)
			}
			for _, n := range nets {
				msg := alice.waitMessage(n.portal, "hello from bob on "+n.name)
				if msg.Sender != n.ghost("bob") || n.net.GhostMXID("bob") != n.ghost("bob") {
					t.Fatalf("%s: remote message from %s, want %s", n.name, msg.Sender, n.ghost("bob"))
				}
				if enc, _ := alice.StateStore.IsEncrypted(ctx, n.portal); !enc {
					t.Fatalf("%s: portal is not encrypted", n.name)
				}
				// Clients label the room with the bridge that owns it.
				var info event.BridgeEventContent
				if err := alice.StateEvent(ctx, n.portal, event.StateBridge, e2e.ServerName+"/"+n.name, &info); err != nil || info.BridgeBot != n.bot {
					t.Fatalf("%s: m.bridge state %+v, %v", n.name, info, err)
				}
			}
			alice.checkPortalsApart(nets)

			// Alice answers in both portals: each network gets only its own.
			for _, n := range nets {
				alice.send(n.portal, "hi bob, this is for "+n.name)
			}
			for _, n := range nets {
				expectReceived(t, n, alice.UserID, "hi bob, this is for "+n.name)
			}
			for _, n := range nets {
				n.device, n.key = alice.botDevice(n.bot)
			}
			if nets[0].device == nets[1].device || nets[0].key == nets[1].key {
				t.Fatalf("both bots have device %s with key %s", nets[0].device, nets[0].key)
			}

			// Restart with the same data directory and database.
			alice.pauseSync()
			first.stop()
			checkBridgeRows(t, first.srv, path, nets)
			startedFirstTime(t, runWithBridges(t, path, defs))
			alice.resumeSync()
			t.Cleanup(alice.pauseSync) // before this server stops, not after
			for _, n := range nets {
				if _, err := n.net.WaitLogin(ctx, "alice-remote"); err != nil {
					t.Fatal(err)
				}
				if err := n.net.SendRemote(ctx, "alice-remote", "chat1", "bob", "back again on "+n.name); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range nets {
				if msg := alice.waitMessage(n.portal, "back again on "+n.name); msg.Sender != n.ghost("bob") {
					t.Fatalf("%s: after the restart, remote message from %s", n.name, msg.Sender)
				}
				// The bot kept its device: its olm account was loaded, not
				// made again (which users would see as a new device).
				if device, key := alice.botDevice(n.bot); device != n.device || key != n.key {
					t.Fatalf("%s: bot device %s (%s) after the restart, was %s (%s)", n.name, device, key, n.device, n.key)
				}
			}
			alice.checkPortalsApart(nets)
			for _, n := range nets {
				alice.send(n.portal, "still there, "+n.name)
			}
			for _, n := range nets {
				expectReceived(t, n, alice.UserID, "still there, "+n.name)
			}
		})
	}
}

// startedFirstTime fails if a bridge had to retry its start: on a fresh
// PostgreSQL schema, two bridges creating the same tables at once did.
func startedFirstTime(t *testing.T, r running) {
	t.Helper()
	if strings.Contains(r.logs.String(), "Retrying") {
		t.Fatalf("a bridge failed to start at first:\n%s", r.logs)
	}
}

// standaloneBridgeNextDoor leaves a mautrix bridge's version tables in
// another schema of the test's PostgreSQL database, as a standalone bridge
// sharing the database would. dbutil looks for tables in every schema.
func standaloneBridgeNextDoor(t *testing.T) {
	t.Helper()
	db, err := sql.Open("pgx", storagetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"version", "mx_version", "crypto_version"} {
		if _, err := db.ExecContext(t.Context(), "CREATE TABLE "+table+" (version INTEGER, compat INTEGER); INSERT INTO "+table+" VALUES (1, 1)"); err != nil {
			t.Fatal(err)
		}
	}
}

// checkRegistrations checks that each bridge has its own registration file
// whose namespaces claim its bot and ghosts and none of another bridge's.
func checkRegistrations(t *testing.T, cfgPath string, nets []*hostedNet) {
	t.Helper()
	regs := map[string]*registration.Registration{}
	for _, n := range nets {
		path := filepath.Join(filepath.Dir(cfgPath), "bridges", n.name+"-registration.yaml")
		reg, err := registration.LoadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v", path, fi.Mode(), err)
		}
		if reg.ID != n.name || reg.SenderUserID(e2e.ServerName) != n.bot {
			t.Fatalf("%s: registration id %q, sender %s", n.name, reg.ID, reg.SenderUserID(e2e.ServerName))
		}
		for _, other := range regs {
			if reg.ASToken == other.ASToken || reg.HSToken == other.HSToken {
				t.Fatalf("%s and %s share a token", reg.ID, other.ID)
			}
		}
		regs[n.name] = reg
	}
	for _, n := range nets {
		for _, m := range nets {
			for _, user := range []id.UserID{m.bot, m.ghost("bob")} {
				if got := regs[n.name].MatchUser(string(user), true); got != (n == m) {
					t.Errorf("%s's registration claims %s: %v", n.name, user, got)
				}
			}
		}
	}
}

// expectReceived waits until n's connector gets body from alice in n's
// portal. Everything it gets meanwhile must come from that portal too: a
// message of the other bridge's would be a crossed wire. An earlier
// message may come again, since the homeserver resends a transaction the
// bridge had not answered when the server stopped.
func expectReceived(t *testing.T, n *hostedNet, alice id.UserID, body string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case got := <-n.net.Received():
			if got.RoomID != n.portal || got.PortalID != "chat1" || got.Sender != alice || !strings.HasSuffix(got.Body, n.name) {
				t.Fatalf("%s's connector received %+v", n.name, got)
			}
			if got.Body == body {
				return
			}
		case <-deadline:
			t.Fatalf("%s's connector never received %q", n.name, body)
		}
	}
}

// checkPortalsApart fails if any portal holds a message from another
// bridge's bot or ghosts.
func (c *e2eeClient) checkPortalsApart(nets []*hostedNet) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, evt := range c.messages {
		for _, n := range nets {
			mine := evt.Sender == n.bot || strings.HasPrefix(string(evt.Sender), "@"+n.name+"_")
			for _, m := range nets {
				if mine && m != n && (evt.RoomID == m.portal || evt.RoomID == m.dm) {
					c.t.Fatalf("%s's %s wrote %q in %s's room %s", n.name, evt.Sender, evt.Content.AsMessage().Body, m.name, evt.RoomID)
				}
			}
		}
	}
}

// botDevice returns the bot's only device and its signing key, as the
// client downloads them to encrypt for it.
func (c *e2eeClient) botDevice(bot id.UserID) (id.DeviceID, id.Ed25519) {
	c.t.Helper()
	resp, err := c.QueryKeys(c.t.Context(), &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{bot: {}}})
	if err != nil {
		c.t.Fatal(err)
	}
	devices := resp.DeviceKeys[bot]
	if len(devices) != 1 {
		c.t.Fatalf("%s has %d devices, want 1", bot, len(devices))
	}
	for device, keys := range devices {
		return device, id.Ed25519(keys.Keys.GetEd25519(device))
	}
	return "", ""
}

// checkBridgeRows reads the stopped server's bridge databases: each
// bridge's own SQLite file, or the core's PostgreSQL database they share.
// The same remote IDs on both networks must give each bridge its own
// login, ghost and portal row, its own olm account (the device the user
// sees) and its own megolm sessions for its portal.
func checkBridgeRows(t *testing.T, srv *server, cfgPath string, nets []*hostedNet) {
	t.Helper()
	ctx := t.Context()
	for _, n := range nets {
		var db *sql.DB
		var err error
		if dsn := postgresDSN(srv.cfg); dsn != "" {
			db, err = sql.Open("pgx", dsn)
		} else {
			file := bridgeFiles(cfgPath, srv.cfg).SQLitePath(n.name)
			if _, err := os.Stat(file); err != nil {
				t.Fatalf("%s: no database of its own: %v", n.name, err)
			}
			db, err = sql.Open("sqlite", "file:"+file+"?mode=ro")
		}
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var portal id.RoomID
		var logins, ghosts int
		var device id.DeviceID
		err = db.QueryRowContext(ctx, `SELECT
			(SELECT mxid FROM portal WHERE bridge_id=$1 AND id='chat1'),
			(SELECT count(*) FROM user_login WHERE bridge_id=$1 AND id='alice-remote'),
			(SELECT count(*) FROM ghost WHERE bridge_id=$1 AND id='bob'),
			(SELECT device_id FROM crypto_account WHERE account_id=$1)`, n.name).Scan(&portal, &logins, &ghosts, &device)
		if err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
		if portal != n.portal || logins != 1 || ghosts != 1 || device != n.device {
			t.Fatalf("%s: stored portal %s, %d logins, %d ghosts, device %s; want %s, 1, 1, %s", n.name, portal, logins, ghosts, device, n.portal, n.device)
		}
		// The bridge's own megolm sessions and the ones alice shared with
		// its bot, by the account that holds them.
		var owners []string
		rows, err := db.QueryContext(ctx, `SELECT DISTINCT account_id FROM crypto_megolm_inbound_session WHERE room_id=$1`, n.portal)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var owner string
			if err := rows.Scan(&owner); err != nil {
				t.Fatal(err)
			}
			owners = append(owners, owner)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(owners, []string{n.name}) {
			t.Fatalf("%s's portal has megolm sessions of %v", n.name, owners)
		}
	}
}

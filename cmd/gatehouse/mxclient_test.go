package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	_ "modernc.org/sqlite" // the client's crypto store driver ("sqlite")
)

// e2eeClient is a real mautrix-go client with goolm end-to-end encryption
// and its own crypto store, syncing until the test ends: what an Element
// user's device does, minus the UI.
type e2eeClient struct {
	*mautrix.Client
	t      *testing.T
	helper *cryptohelper.CryptoHelper

	mu       sync.Mutex
	messages []*event.Event // decrypted or plaintext m.room.message events
	failures []error
	notify   chan struct{}
	cancel   context.CancelFunc // ends the sync loop; nil while paused
	done     chan struct{}
	closed   bool
}

func newE2EEClient(t *testing.T, baseURL, name string) *e2eeClient {
	t.Helper()
	cli, err := mautrix.NewClient(baseURL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.RegisterDummy(t.Context(), &mautrix.ReqRegister[any]{Username: name, Password: name + "-long-password-1"})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	cli.SetCredentials(resp.UserID, resp.AccessToken)
	cli.DeviceID = resp.DeviceID
	cli.Log = zerolog.Nop()
	c := &e2eeClient{Client: cli, t: t, notify: make(chan struct{}, 1)}
	db, err := dbutil.NewWithDialect("file:"+filepath.Join(t.TempDir(), "crypto.db")+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate", "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	db.Owner = "bridge-test-client"
	if c.helper, err = cryptohelper.NewCryptoHelper(cli, []byte("test pickle key"), db); err != nil {
		t.Fatal(err)
	}
	if err := c.helper.Init(t.Context()); err != nil {
		t.Fatalf("crypto init: %v", err)
	}
	cli.Crypto = c.helper
	syncer := cli.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnEventType(event.EventMessage, func(_ context.Context, evt *event.Event) {
		c.mu.Lock()
		c.messages = append(c.messages, evt)
		c.mu.Unlock()
		c.poke()
	})
	syncer.OnEvent(func(context.Context, *event.Event) { c.poke() })
	c.resumeSync()
	t.Cleanup(c.stop)
	return c
}

// resumeSync starts the sync loop; newE2EEClient starts it, pauseSync
// ends it.
func (c *e2eeClient) resumeSync() {
	if c.cancel != nil {
		return
	}
	// Connections kept alive to a server that has since restarted are dead.
	c.Client.Client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	done := c.done
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := c.SyncWithContext(ctx); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				c.mu.Lock()
				c.failures = append(c.failures, err)
				c.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
}

// pauseSync ends the sync loop and waits for it, as a device going offline
// does, so the server can restart without failing a sync; the client keeps
// its crypto store and sync position for resumeSync.
func (c *e2eeClient) pauseSync() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.cancel = nil
}

// stop ends the sync loop and closes the crypto store; it must run before
// the server stops.
func (c *e2eeClient) stop() {
	if c.closed {
		return
	}
	c.closed = true
	c.pauseSync()
	_ = c.helper.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.failures {
		c.t.Errorf("%s sync: %v", c.UserID, err)
	}
}

func (c *e2eeClient) poke() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// waitFor re-checks cond (under the client's lock) until it holds or 30 s pass.
func (c *e2eeClient) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			c.mu.Lock()
			var seen []string
			for _, evt := range c.messages {
				seen = append(seen, fmt.Sprintf("%s in %s: %q", evt.Sender, evt.RoomID, evt.Content.AsMessage().Body))
			}
			c.mu.Unlock()
			c.t.Fatalf("%s: timed out waiting for %s; messages seen:\n%s", c.UserID, what, strings.Join(seen, "\n"))
		}
	}
}

// waitMessage waits for a message in room whose body contains text and
// returns it; it fails the test if that message was not encrypted.
func (c *e2eeClient) waitMessage(room id.RoomID, text string) *event.Event {
	c.t.Helper()
	var got *event.Event
	c.waitFor(fmt.Sprintf("a message containing %q", text), func() bool {
		for _, evt := range c.messages {
			if (room == "" || evt.RoomID == room) && strings.Contains(evt.Content.AsMessage().Body, text) {
				got = evt
				return true
			}
		}
		return false
	})
	if got.Mautrix.EventSource&event.SourceDecrypted == 0 {
		c.t.Fatalf("%s: message %q arrived unencrypted", c.UserID, got.Content.AsMessage().Body)
	}
	return got
}

// send sends a text message, encrypted when the room is.
func (c *e2eeClient) send(room id.RoomID, body string) {
	c.t.Helper()
	if _, err := c.SendMessageEvent(c.t.Context(), room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: body}); err != nil {
		c.t.Fatalf("%s: send %q: %v", c.UserID, body, err)
	}
}

// createDM creates an encrypted DM with invitee and returns its ID. It
// calls the endpoint itself: mautrix's CreateRoom writes "invite" for the
// invitees into the state store once the response is read, which can
// overwrite the join a bridge bot made in the meantime and the sync had
// already stored, so waitMembership would wait for a join it missed.
func (c *e2eeClient) createDM(invitee id.UserID) id.RoomID {
	c.t.Helper()
	var resp mautrix.RespCreateRoom
	req := &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{invitee}}
	if _, err := c.MakeRequest(c.t.Context(), http.MethodPost, c.BuildClientURL("v3", "createRoom"), req, &resp); err != nil {
		c.t.Fatalf("%s: create a DM with %s: %v", c.UserID, invitee, err)
	}
	return resp.RoomID
}

// waitMembership waits until the client's state store has user in room
// with membership m.
func (c *e2eeClient) waitMembership(room id.RoomID, user id.UserID, m event.Membership) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%s %s in %s", user, m, room), func() bool {
		mem, err := c.StateStore.GetMember(context.Background(), room, user)
		return err == nil && mem != nil && mem.Membership == m
	})
}

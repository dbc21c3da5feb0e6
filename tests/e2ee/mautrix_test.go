package e2ee

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	_ "modernc.org/sqlite" // the crypto store's pure-Go SQLite driver ("sqlite")
)

// mxClient is a mautrix-go client with end-to-end encryption (goolm), its
// own SQLite crypto store, and a /sync loop that runs until the test ends.
type mxClient struct {
	*mautrix.Client
	t        *testing.T
	helper   *cryptohelper.CryptoHelper
	password string

	mu       sync.Mutex
	messages []received
	changed  map[id.UserID]int // times each user was in device_lists.changed
	notify   chan struct{}
	failures []error
	// undecryptable are events the client could not decrypt; expected for
	// history from before a user joined.
	undecryptable []string

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
}

// received is a decrypted (or plaintext) m.room.message seen by /sync.
type received struct {
	evt       *event.Event
	at        time.Time
	decrypted bool
}

// newMXClient registers name with the m.login.dummy flow and starts it.
func newMXClient(t *testing.T, s *server, name string) *mxClient {
	t.Helper()
	cli, err := mautrix.NewClient(s.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cli.Client = httpClient
	pw := name + "-correct-horse-battery"
	resp, err := cli.RegisterDummy(t.Context(), &mautrix.ReqRegister[any]{Username: name, Password: pw, InitialDeviceDisplayName: name + " (mautrix)"})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	cli.SetCredentials(resp.UserID, resp.AccessToken)
	cli.DeviceID = resp.DeviceID
	return startMX(t, cli, pw)
}

// loginMXClient logs an existing user in on a new device and starts it.
func loginMXClient(t *testing.T, s *server, of *mxClient) *mxClient {
	t.Helper()
	cli, err := mautrix.NewClient(s.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cli.Client = httpClient
	_, err = cli.Login(t.Context(), &mautrix.ReqLogin{
		Type:       mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: of.UserID.Localpart()},
		Password:   of.password, InitialDeviceDisplayName: "second device", StoreCredentials: true,
	})
	if err != nil {
		t.Fatalf("login %s: %v", of.UserID, err)
	}
	return startMX(t, cli, of.password)
}

func startMX(t *testing.T, cli *mautrix.Client, password string) *mxClient {
	t.Helper()
	cli.Log = zerolog.Nop()
	if os.Getenv("GATEHOUSE_E2EE_CLIENT_LOG") != "" {
		// Debug aid: the clients' own logs, one line per entry, on stderr.
		cli.Log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).Level(zerolog.DebugLevel).
			With().Timestamp().Str("client", string(cli.UserID)+"/"+string(cli.DeviceID)).Logger()
	}
	c := &mxClient{Client: cli, t: t, password: password, changed: map[id.UserID]int{}, notify: make(chan struct{}, 1)}
	db, err := dbutil.NewWithDialect("file:"+filepath.Join(t.TempDir(), "crypto.db")+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate", "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	db.Owner = "e2ee-test"
	c.helper, err = cryptohelper.NewCryptoHelper(cli, []byte("test pickle key"), db)
	if err != nil {
		t.Fatal(err)
	}
	c.helper.DecryptErrorCallback = func(evt *event.Event, err error) {
		c.mu.Lock()
		c.undecryptable = append(c.undecryptable, fmt.Sprintf("%s: %v", evt.ID, err))
		c.mu.Unlock()
	}
	if err := c.helper.Init(t.Context()); err != nil {
		t.Fatalf("crypto init for %s: %v", cli.UserID, err)
	}
	cli.Crypto = c.helper
	syncer := cli.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnEventType(event.EventMessage, func(ctx context.Context, evt *event.Event) {
		c.mu.Lock()
		c.messages = append(c.messages, received{evt: evt, at: time.Now(), decrypted: evt.Mautrix.EventSource&event.SourceDecrypted != 0})
		c.mu.Unlock()
		c.poke()
	})
	syncer.OnSync(func(ctx context.Context, resp *mautrix.RespSync, since string) bool {
		c.mu.Lock()
		for _, u := range resp.DeviceLists.Changed {
			c.changed[u]++
		}
		c.mu.Unlock()
		c.poke()
		return true
	})
	syncer.OnEvent(func(ctx context.Context, evt *event.Event) { c.poke() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.cancel, c.done = cancel, done
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			// Errors after stop are the stop itself (mautrix may even panic,
			// recovered, when its store calls see the cancelled context).
			if err := cli.SyncWithContext(ctx); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				c.mu.Lock()
				c.failures = append(c.failures, fmt.Errorf("sync: %w", err))
				c.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() {
		c.stop()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, err := range c.failures {
			t.Errorf("%s: %v", cli.UserID, err)
		}
		for _, e := range c.undecryptable {
			t.Logf("%s could not decrypt %s", cli.UserID, e)
		}
	})
	return c
}

// stop ends the client's /sync loop and closes its crypto store.
func (c *mxClient) stop() {
	c.stopOnce.Do(func() {
		c.cancel()
		<-c.done
		_ = c.helper.Close()
	})
}

func (c *mxClient) poke() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// waitFor polls cond (under the client's lock) until it holds or 20 s pass.
func (c *mxClient) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.After(20 * time.Second)
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
			c.t.Fatalf("%s: timed out waiting for %s", c.UserID, what)
		}
	}
}

// waitMessage waits for a decrypted message with body and returns it.
func (c *mxClient) waitMessage(room id.RoomID, body string) received {
	c.t.Helper()
	var got received
	c.waitFor(fmt.Sprintf("message %q", body), func() bool {
		for _, m := range c.messages {
			if m.evt.RoomID == room && m.evt.Content.AsMessage().Body == body {
				got = m
				return true
			}
		}
		return false
	})
	if !got.decrypted {
		c.t.Fatalf("%s: message %q arrived unencrypted", c.UserID, body)
	}
	return got
}

// waitMember waits until the client's state store has user joined in room.
func (c *mxClient) waitMember(room id.RoomID, user id.UserID) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%s joined in %s", user, room), func() bool {
		m, err := c.StateStore.GetMember(context.Background(), room, user)
		return err == nil && m != nil && m.Membership == event.MembershipJoin
	})
}

// send sends an (automatically encrypted) text message.
func (c *mxClient) send(room id.RoomID, body string) id.EventID {
	c.t.Helper()
	resp, err := c.SendMessageEvent(c.t.Context(), room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: body})
	if err != nil {
		c.t.Fatalf("%s: send %q: %v", c.UserID, body, err)
	}
	return resp.EventID
}

// encryptedRoom creates a private room with encryption on and invites.
func (c *mxClient) encryptedRoom(invite ...id.UserID) id.RoomID {
	c.t.Helper()
	resp, err := c.CreateRoom(c.t.Context(), &mautrix.ReqCreateRoom{
		Preset: "private_chat", Invite: invite,
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{
			Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}},
	})
	if err != nil {
		c.t.Fatalf("createRoom: %v", err)
	}
	c.waitFor("own room state", func() bool {
		enc, err := c.StateStore.IsEncrypted(context.Background(), resp.RoomID)
		return err == nil && enc
	})
	return resp.RoomID
}

// join joins room and waits until its own state store knows it is encrypted.
func (c *mxClient) join(room id.RoomID) {
	c.t.Helper()
	c.waitFor("the invite", func() bool {
		m, err := c.StateStore.GetMember(context.Background(), room, c.UserID)
		return err == nil && m != nil && m.Membership == event.MembershipInvite
	})
	if _, err := c.JoinRoomByID(c.t.Context(), room); err != nil {
		c.t.Fatalf("%s: join: %v", c.UserID, err)
	}
	c.waitMember(room, c.UserID)
	c.waitFor("room encryption", func() bool {
		enc, err := c.StateStore.IsEncrypted(context.Background(), room)
		return err == nil && enc
	})
}

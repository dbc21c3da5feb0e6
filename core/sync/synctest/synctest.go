// Package synctest builds a real /sync stack over one database for tests:
// the stream writer, rooms, push, receipts, typing, presence, account data
// and the sync service, wired the way serve.go wires them. It has no HTTP
// layer (core/api/client tests add RegisterSync on top).
package synctest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accountdata"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/presence"
	"github.com/gatehouse-chat/gatehouse/core/push"
	"github.com/gatehouse-chat/gatehouse/core/receipts"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
	"github.com/gatehouse-chat/gatehouse/core/typing"
)

// ServerName is the test server's name.
const ServerName = "test.local"

// Env is a running stack.
type Env struct {
	T        testing.TB
	Ctx      context.Context
	DB       *storage.DB
	Writer   *stream.Writer
	Rooms    *rooms.Service
	Sync     *gsync.Service
	Push     *push.Service
	Receipts *receipts.Service
	Typing   *typing.Service
	Presence *presence.Service
	Account  *accountdata.Service
	Profiles *Profiles
}

// Profiles is an in-memory rooms.Profiles: every user exists and has the
// display name set with SetName.
type Profiles struct {
	mu    sync.Mutex
	names map[id.UserID]string
}

// UserExists always answers yes.
func (p *Profiles) UserExists(context.Context, id.UserID) (bool, error) { return true, nil }

// Profile returns the display name set with SetName.
func (p *Profiles) Profile(_ context.Context, u id.UserID) (string, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.names[u], "", nil
}

// SetName sets a user's display name for membership events sent later.
func (p *Profiles) SetName(u id.UserID, name string) {
	p.mu.Lock()
	p.names[u] = name
	p.mu.Unlock()
}

// New wires the stack over db.
func New(t testing.TB, db *storage.DB) *Env {
	t.Helper()
	ctx := context.Background()
	key, err := events.LoadOrCreateSigningKey(filepath.Join(t.TempDir(), "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	w, err := stream.NewWriter(ctx, db, log)
	if err != nil {
		t.Fatal(err)
	}
	profiles := &Profiles{names: map[id.UserID]string{}}
	rs := rooms.New(db, w, profiles, rooms.Options{ServerName: ServerName, Key: key}, log)
	ps := push.New(db, w, ServerName, log)
	rs.AddPersistHook(ps.PersistHook)
	rcpt := receipts.New(db, w, rs)
	rcpt.OnRead(ps.MarkRead)
	typ := typing.New(w, rs, log)
	pres := presence.New(db, w, log)
	acct := accountdata.New(db, w)
	sy := gsync.New(db, w, nil, gsync.Sources{AccountData: acct, Receipts: rcpt, Typing: typ, Presence: pres, Push: ps}, log)
	t.Cleanup(func() {
		typ.Close()
		pres.Close()
		w.Close()
	})
	return &Env{T: t, Ctx: ctx, DB: db, Writer: w, Rooms: rs, Sync: sy, Push: ps, Receipts: rcpt,
		Typing: typ, Presence: pres, Account: acct, Profiles: profiles}
}

// User returns the ID of a local user (users need no account here).
func (e *Env) User(localpart string) id.UserID {
	return id.NewUserID(localpart, ServerName)
}

// Room creates a private room as creator, invites and joins the others.
func (e *Env) Room(creator id.UserID, req rooms.CreateRequest, joiners ...id.UserID) id.RoomID {
	e.T.Helper()
	roomID, _, err := e.Rooms.CreateRoom(e.Ctx, creator, &req)
	if err != nil {
		e.T.Fatalf("create room: %v", err)
	}
	for _, u := range joiners {
		e.Invite(roomID, creator, u)
		e.Join(roomID, u)
	}
	return roomID
}

// Invite invites target to room.
func (e *Env) Invite(room id.RoomID, sender, target id.UserID) {
	e.T.Helper()
	if _, err := e.Rooms.SetMembership(e.Ctx, rooms.MembershipRequest{RoomID: room, Sender: sender, Target: target, Membership: "invite"}); err != nil {
		e.T.Fatalf("invite %s: %v", target, err)
	}
}

// Join joins user to room.
func (e *Env) Join(room id.RoomID, user id.UserID) {
	e.T.Helper()
	if _, err := e.Rooms.Join(e.Ctx, user, string(room), "", nil); err != nil {
		e.T.Fatalf("join %s: %v", user, err)
	}
}

// Leave makes target leave (or kicks them when sender differs).
func (e *Env) Leave(room id.RoomID, sender, target id.UserID) {
	e.T.Helper()
	if _, err := e.Rooms.SetMembership(e.Ctx, rooms.MembershipRequest{RoomID: room, Sender: sender, Target: target, Membership: "leave"}); err != nil {
		e.T.Fatalf("leave %s: %v", target, err)
	}
}

// Send sends an event with any content and returns it.
func (e *Env) Send(room id.RoomID, sender id.UserID, evType string, content any) *rooms.Event {
	e.T.Helper()
	raw, err := json.Marshal(content)
	if err != nil {
		e.T.Fatal(err)
	}
	ev, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: sender, Type: evType, Content: raw})
	if err != nil {
		e.T.Fatalf("send %s: %v", evType, err)
	}
	return ev
}

// Text sends an m.text message.
func (e *Env) Text(room id.RoomID, sender id.UserID, body string) *rooms.Event {
	e.T.Helper()
	return e.Send(room, sender, "m.room.message", map[string]string{"msgtype": "m.text", "body": body})
}

// State sends a state event.
func (e *Env) State(room id.RoomID, sender id.UserID, evType, stateKey string, content any) *rooms.Event {
	e.T.Helper()
	raw, err := json.Marshal(content)
	if err != nil {
		e.T.Fatal(err)
	}
	ev, err := e.Rooms.Send(e.Ctx, rooms.SendRequest{RoomID: room, Sender: sender, Type: evType, StateKey: &stateKey, Content: raw})
	if err != nil {
		e.T.Fatalf("send state %s: %v", evType, err)
	}
	return ev
}

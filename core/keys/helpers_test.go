package keys_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/crypto/canonicaljson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

const server = "test.local"

// env is a homeserver core with real accounts, rooms, keys and to-device
// services on one database.
type env struct {
	t     testing.TB
	ctx   context.Context
	db    *storage.DB
	w     *stream.Writer
	acc   *accounts.Service
	rooms *rooms.Service
	keys  *keys.Service
	td    *todevice.Service

	mu    sync.Mutex
	woken []stream.Change
}

type profiles struct{ acc *accounts.Service }

func (p profiles) UserExists(ctx context.Context, u id.UserID) (bool, error) {
	return p.acc.UserExists(ctx, u)
}

func (p profiles) Profile(ctx context.Context, u id.UserID) (string, string, error) {
	return string(u), "", nil
}

var signingKey = func() *events.SigningKey {
	k, err := events.ParseSigningKey("ed25519 a_test YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE")
	if err != nil {
		panic(err)
	}
	return k
}()

func newEnv(t testing.TB, db *storage.DB) *env {
	t.Helper()
	ctx := context.Background()
	w, err := stream.NewWriter(ctx, db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	e := &env{t: t, ctx: ctx, db: db, w: w}
	w.Subscribe(func(cs []stream.Change) {
		e.mu.Lock()
		e.woken = append(e.woken, cs...)
		e.mu.Unlock()
	})
	e.acc = accounts.New(db, server, accounts.Options{BcryptCost: bcrypt.MinCost})
	e.rooms = rooms.New(db, w, profiles{e.acc}, rooms.Options{ServerName: server, Key: signingKey}, zerolog.Nop())
	e.td = todevice.New(db, w, server, zerolog.Nop(), todevice.Options{})
	e.keys = keys.New(db, w, server, e.acc, zerolog.Nop())
	e.acc.OnDeviceChange(e.keys.OnDeviceChange)
	e.acc.OnDeviceChange(e.td.OnDeviceChange)
	return e
}

// lastWoken returns the users woken by the last committed change of kind.
func (e *env) lastWoken(kind stream.Kind) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.woken) - 1; i >= 0; i-- {
		if e.woken[i].Kind == kind {
			return e.woken[i].UserIDs
		}
	}
	return nil
}

// wokenCount counts the committed changes seen so far.
func (e *env) wokenCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.woken)
}

func (e *env) user(name string) id.UserID {
	e.t.Helper()
	u, err := e.acc.Register(e.ctx, accounts.RegisterParams{Localpart: name, Password: "pw-" + name})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// device is a client device with its ed25519 identity key.
type device struct {
	user  id.UserID
	id    id.DeviceID
	priv  ed25519.PrivateKey
	pub   string
	curve string
	next  int
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

func newKey() (ed25519.PrivateKey, string) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return priv, b64(pub)
}

func (e *env) device(user id.UserID, dev string) *device {
	e.t.Helper()
	if err := e.acc.EnsureDevice(e.ctx, user, id.DeviceID(dev), "Phone of "+string(user)); err != nil {
		e.t.Fatal(err)
	}
	return newDevice(user, dev)
}

func newDevice(user id.UserID, dev string) *device {
	priv, pub := newKey()
	curve := make([]byte, 32)
	_, _ = rand.Read(curve)
	return &device{user: user, id: id.DeviceID(dev), priv: priv, pub: pub, curve: b64(curve)}
}

// sign adds user's signature by keyID to obj (spec appendix "Signing JSON").
func sign(obj map[string]any, user id.UserID, keyID string, priv ed25519.PrivateKey) map[string]any {
	payload := map[string]any{}
	for k, v := range obj {
		if k != "signatures" && k != "unsigned" {
			payload[k] = v
		}
	}
	data, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	canon, err := canonicaljson.CanonicalJSON(data)
	if err != nil {
		panic(err)
	}
	sigs, _ := obj["signatures"].(map[string]any)
	if sigs == nil {
		sigs = map[string]any{}
	}
	mine, _ := sigs[string(user)].(map[string]any)
	if mine == nil {
		mine = map[string]any{}
	}
	mine[keyID] = b64(ed25519.Sign(priv, canon))
	sigs[string(user)] = mine
	obj["signatures"] = sigs
	return obj
}

func (d *device) keysObject() map[string]any {
	return map[string]any{
		"user_id":    d.user,
		"device_id":  d.id,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys": map[string]any{
			"ed25519:" + string(d.id):    d.pub,
			"curve25519:" + string(d.id): d.curve,
		},
	}
}

func (d *device) deviceKeys() json.RawMessage {
	return mustJSON(sign(d.keysObject(), d.user, "ed25519:"+string(d.id), d.priv))
}

// otks returns n new signed one-time keys.
func (d *device) otks(n int) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for i := 0; i < n; i++ {
		d.next++
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		obj := sign(map[string]any{"key": b64(k)}, d.user, "ed25519:"+string(d.id), d.priv)
		out[fmt.Sprintf("signed_curve25519:AAAA%04d", d.next)] = mustJSON(obj)
	}
	return out
}

func (d *device) fallback() map[string]json.RawMessage {
	d.next++
	obj := sign(map[string]any{"key": b64(make([]byte, 32)), "fallback": true}, d.user, "ed25519:"+string(d.id), d.priv)
	return map[string]json.RawMessage{fmt.Sprintf("signed_curve25519:FB%04d", d.next): mustJSON(obj)}
}

func mustJSON(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

func errcode(err error) string {
	var e *httpx.Error
	if errors.As(err, &e) {
		return e.ErrCode
	}
	return ""
}

// decode unmarshals a JSON response into a generic map.
func decode(t testing.TB, raw json.RawMessage) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("invalid JSON %s: %v", raw, err)
	}
	return out
}

// path walks nested maps.
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// shareRoom puts users in one public room.
func (e *env) shareRoom(creator id.UserID, others ...id.UserID) id.RoomID {
	e.t.Helper()
	room, _, err := e.rooms.CreateRoom(e.ctx, creator, &rooms.CreateRequest{Preset: "public_chat"})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range others {
		if _, err := e.rooms.Join(e.ctx, u, string(room), "", nil); err != nil {
			e.t.Fatal(err)
		}
	}
	return room
}

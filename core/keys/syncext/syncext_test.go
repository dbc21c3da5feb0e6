package syncext_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/crypto/canonicaljson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/keys/syncext"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
	"github.com/gatehouse-chat/gatehouse/core/sync/synctest"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

func deviceKeys(t *testing.T, user id.UserID, dev id.DeviceID) json.RawMessage {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	b64 := base64.RawStdEncoding.EncodeToString
	obj := map[string]any{"user_id": user, "device_id": dev, "algorithms": []string{"m.megolm.v1.aes-sha2"},
		"keys": map[string]any{"ed25519:" + string(dev): b64(pub), "curve25519:" + string(dev): b64(pub)}}
	data, _ := json.Marshal(obj)
	canon, err := canonicaljson.CanonicalJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	obj["signatures"] = map[string]any{string(user): map[string]any{"ed25519:" + string(dev): b64(ed25519.Sign(priv, canon))}}
	data, _ = json.Marshal(obj)
	return data
}

// TestSyncSections runs the extension inside the real /sync: sections are
// present, a to-device message and a device list change each end a long
// poll at once, and a later since acknowledges the to-device message.
func TestSyncSections(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		env := synctest.New(t, db)
		acc := accounts.New(db, synctest.ServerName, accounts.Options{BcryptCost: bcrypt.MinCost})
		k := keys.New(db, env.Writer, synctest.ServerName, acc, zerolog.Nop())
		td := todevice.New(db, env.Writer, synctest.ServerName, zerolog.Nop(), todevice.Options{})
		acc.OnDeviceChange(k.OnDeviceChange)
		acc.OnDeviceChange(td.OnDeviceChange)
		env.Sync.AddExtension(syncext.New(k, td))
		var users []id.UserID
		for _, name := range []string{"alice", "bob"} {
			u, err := acc.Register(env.Ctx, accounts.RegisterParams{Localpart: name, Password: "pw"})
			if err != nil {
				t.Fatal(err)
			}
			if err := acc.EnsureDevice(env.Ctx, u, "DEV", ""); err != nil {
				t.Fatal(err)
			}
			users = append(users, u)
		}
		alice, bob := users[0], users[1]
		env.Room(alice, rooms.CreateRequest{Preset: "private_chat"}, bob)

		sync := func(since int64, timeout time.Duration) gjson.Result {
			t.Helper()
			body, err := env.Sync.Sync(env.Ctx, &gsync.Request{UserID: bob, DeviceID: "DEV", Since: since, Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			return gjson.ParseBytes(body)
		}
		next := func(r gjson.Result) int64 {
			pos, err := gsync.ParseToken(r.Get("next_batch").Str)
			if err != nil {
				t.Fatal(err)
			}
			return pos
		}
		first := sync(0, 0)
		if !first.Get("device_one_time_keys_count.signed_curve25519").Exists() || !first.Get("device_unused_fallback_key_types").IsArray() {
			t.Fatalf("initial sync lacks key counts: %s", first.Raw)
		}

		// longPoll triggers a change after 100 ms and long-polls until a
		// response satisfies done; it returns that response and how long
		// after the trigger it came.
		since := next(first)
		longPoll := func(trigger func(), done func(gjson.Result) bool) (gjson.Result, time.Duration) {
			t.Helper()
			fired := make(chan time.Time, 1)
			go func() {
				time.Sleep(100 * time.Millisecond)
				trigger()
				fired <- time.Now()
			}()
			var res gjson.Result
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
				res = sync(since, 10*time.Second)
				since = next(res)
				if done(res) {
					return res, time.Since(<-fired)
				}
			}
			t.Fatalf("no /sync satisfied the wait; last: %s", res.Raw)
			return res, 0
		}
		res, took := longPoll(func() {
			err := td.Send(env.Ctx, todevice.SendRequest{Sender: alice, SenderDevice: "DEV", Type: "m.test", TxnID: "t1",
				Messages: map[id.UserID]map[string]json.RawMessage{bob: {"*": json.RawMessage(`{"hi":1}`)}}})
			if err != nil {
				t.Error(err)
			}
		}, func(r gjson.Result) bool { return len(r.Get("to_device.events").Array()) > 0 })
		if took > time.Second || res.Get("to_device.events.0.content.hi").Int() != 1 || res.Get("to_device.events.0.sender").Str != string(alice) {
			t.Fatalf("long poll for a to-device message took %v: %s", took, res.Get("to_device").Raw)
		}
		res, took = longPoll(func() {
			if _, err := k.Upload(env.Ctx, alice, "DEV", keys.UploadRequest{DeviceKeys: deviceKeys(t, alice, "DEV")}); err != nil {
				t.Error(err)
			}
		}, func(r gjson.Result) bool { return r.Get("device_lists.changed.0").Exists() })
		if took > time.Second || res.Get("device_lists.changed.0").Str != string(alice) {
			t.Fatalf("long poll for a device list change took %v: %s", took, res.Get("device_lists").Raw)
		}
		if n := len(res.Get("to_device.events").Array()); n != 0 {
			t.Fatalf("acknowledged to-device message delivered again: %s", res.Get("to_device").Raw)
		}
		if pending, _ := td.Pending(env.Ctx, bob, "DEV"); pending != 0 {
			t.Fatalf("%d to-device messages left after acknowledgement", pending)
		}
	})
}

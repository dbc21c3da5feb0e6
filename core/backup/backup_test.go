package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/backup"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

const alice = id.UserID("@alice:test.local")
const room = id.RoomID("!room:test.local")

func errcode(err error) string {
	var e *httpx.Error
	if errors.As(err, &e) {
		return e.ErrCode
	}
	return ""
}

func key(verified bool, first, forwarded int64, tag string) *backup.KeyData {
	return &backup.KeyData{FirstMessageIndex: first, ForwardedCount: forwarded, IsVerified: verified,
		SessionData: json.RawMessage(fmt.Sprintf(`{"ciphertext":%q,"ephemeral":"e","mac":"m"}`, tag))}
}

var authData = json.RawMessage(`{"public_key":"abcdefg","signatures":{}}`)

const algorithm = "m.megolm_backup.v1.curve25519-aes-sha2"

func TestVersions(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		b := backup.New(db)
		if _, err := b.GetVersion(ctx, alice, ""); errcode(err) != "M_NOT_FOUND" {
			t.Fatalf("no backup yet: %v", err)
		}
		v1, err := b.CreateVersion(ctx, alice, algorithm, authData)
		if err != nil || v1 != "1" {
			t.Fatalf("create: %q %v", v1, err)
		}
		v2, _ := b.CreateVersion(ctx, alice, algorithm, authData)
		cur, err := b.GetVersion(ctx, alice, "")
		if err != nil || cur.Version != v2 || cur.Algorithm != algorithm || cur.Count != 0 || string(cur.AuthData) != string(authData) {
			t.Fatalf("current = %+v %v", cur, err)
		}
		if err := b.UpdateVersion(ctx, alice, v2, algorithm, json.RawMessage(`{"public_key":"new"}`), v2); err != nil {
			t.Fatal(err)
		}
		if v, _ := b.GetVersion(ctx, alice, v2); string(v.AuthData) != `{"public_key":"new"}` {
			t.Fatalf("auth_data after update: %s", v.AuthData)
		}
		bad := []struct {
			name string
			err  error
			code string
		}{
			{"algorithm change", b.UpdateVersion(ctx, alice, v2, "other", authData, ""), "M_INVALID_PARAM"},
			{"version mismatch", b.UpdateVersion(ctx, alice, v2, algorithm, authData, v1), "M_INVALID_PARAM"},
			{"update unknown", b.UpdateVersion(ctx, alice, "99", algorithm, authData, ""), "M_NOT_FOUND"},
			{"update non-numeric", b.UpdateVersion(ctx, alice, "abc", algorithm, authData, ""), "M_NOT_FOUND"},
			{"missing algorithm", b.UpdateVersion(ctx, alice, v2, "", authData, ""), "M_MISSING_PARAM"},
			{"auth_data not an object", b.UpdateVersion(ctx, alice, v2, algorithm, json.RawMessage(`"x"`), ""), "M_BAD_JSON"},
			{"delete unknown", b.DeleteVersion(ctx, alice, "42"), "M_NOT_FOUND"},
		}
		for _, c := range bad {
			if errcode(c.err) != c.code {
				t.Errorf("%s: %v, want %s", c.name, c.err, c.code)
			}
		}
		// Deleting the current version makes the previous one current;
		// deleting it again succeeds.
		if err := b.DeleteVersion(ctx, alice, v2); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteVersion(ctx, alice, v2); err != nil {
			t.Fatalf("deleting a deleted version: %v", err)
		}
		if cur, _ := b.GetVersion(ctx, alice, ""); cur == nil || cur.Version != v1 {
			t.Fatalf("current after delete = %+v", cur)
		}
		if _, err := b.GetVersion(ctx, alice, v2); errcode(err) != "M_NOT_FOUND" {
			t.Fatalf("deleted version: %v", err)
		}
		// Version numbers are never reused.
		if v3, _ := b.CreateVersion(ctx, alice, algorithm, authData); v3 != "3" {
			t.Fatalf("new version after delete = %q, want 3", v3)
		}
		// Another user's backups are separate.
		if _, err := b.GetVersion(ctx, "@bob:test.local", v1); errcode(err) != "M_NOT_FOUND" {
			t.Fatalf("bob reads alice's version: %v", err)
		}
	})
}

func TestKeysReplacementAndEtag(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		b := backup.New(db)
		old, _ := b.CreateVersion(ctx, alice, algorithm, authData)
		v, _ := b.CreateVersion(ctx, alice, algorithm, authData)

		put := func(k *backup.KeyData) (int64, string) {
			t.Helper()
			count, etag, err := b.PutKeys(ctx, alice, v, backup.Keys{room: {"sess": k}})
			if err != nil {
				t.Fatal(err)
			}
			return count, etag
		}
		stored := func() string {
			t.Helper()
			raw, err := b.GetKeys(ctx, alice, v, backup.Selector{RoomID: room, SessionID: "sess"})
			if err != nil {
				t.Fatal(err)
			}
			var k backup.KeyData
			_ = json.Unmarshal(raw, &k)
			var data struct{ Ciphertext string }
			_ = json.Unmarshal(k.SessionData, &data)
			return data.Ciphertext
		}
		count, etag0 := put(key(false, 5, 2, "first"))
		if count != 1 {
			t.Fatalf("count = %d", count)
		}
		steps := []struct {
			k    *backup.KeyData
			want string
		}{
			{key(false, 6, 0, "later index"), "first"},
			{key(false, 4, 3, "lower index"), "lower index"},
			{key(false, 4, 1, "fewer forwards"), "fewer forwards"},
			{key(false, 4, 1, "same"), "fewer forwards"},
			{key(true, 9, 9, "verified"), "verified"},
			{key(false, 0, 0, "unverified but complete"), "verified"},
			{key(true, 8, 9, "verified, lower index"), "verified, lower index"},
		}
		last, lastStored := etag0, "first"
		for _, s := range steps {
			_, etag := put(s.k)
			got := stored()
			if got != s.want {
				t.Errorf("after %s stored %q, want %q", s.k.SessionData, got, s.want)
			}
			if (etag != last) != (got != lastStored) {
				t.Errorf("after %s: etag %s -> %s, stored %q -> %q", s.k.SessionData, last, etag, lastStored, got)
			}
			last, lastStored = etag, got
		}
		if last == etag0 {
			t.Fatal("etag never changed")
		}
		_, e1 := put(key(false, 100, 100, "worse"))
		if e1 != last {
			t.Fatalf("etag changed (%s -> %s) though nothing was stored", last, e1)
		}

		// Only the current version takes keys.
		_, _, err := b.PutKeys(ctx, alice, old, backup.Keys{room: {"s": key(true, 0, 0, "x")}})
		var me *httpx.Error
		if !errors.As(err, &me) || me.ErrCode != "M_WRONG_ROOM_KEYS_VERSION" || me.Status != 403 || me.Extra["current_version"] != v {
			t.Fatalf("put to old version: %v", err)
		}
		if _, _, err := b.PutKeys(ctx, alice, "77", backup.Keys{}); errcode(err) != "M_NOT_FOUND" {
			t.Fatalf("put to unknown version: %v", err)
		}

		// Reads at three depths, and deletes.
		if _, _, err := b.PutKeys(ctx, alice, v, backup.Keys{"!other:test.local": {"a": key(true, 0, 0, "a"), "b": key(true, 0, 0, "b")}}); err != nil {
			t.Fatal(err)
		}
		raw, _ := b.GetKeys(ctx, alice, v, backup.Selector{})
		var all struct {
			Rooms map[id.RoomID]struct {
				Sessions map[string]backup.KeyData `json:"sessions"`
			} `json:"rooms"`
		}
		if err := json.Unmarshal(raw, &all); err != nil || len(all.Rooms) != 2 || len(all.Rooms["!other:test.local"].Sessions) != 2 {
			t.Fatalf("all keys: %s %v", raw, err)
		}
		raw, _ = b.GetKeys(ctx, alice, v, backup.Selector{RoomID: "!empty:test.local"})
		if string(raw) != `{"sessions":{}}` {
			t.Fatalf("empty room: %s", raw)
		}
		raw, _ = b.GetKeys(ctx, alice, old, backup.Selector{})
		if string(raw) != `{"rooms":{}}` {
			t.Fatalf("old version: %s", raw)
		}
		if _, err := b.GetKeys(ctx, alice, v, backup.Selector{RoomID: room, SessionID: "nope"}); errcode(err) != "M_NOT_FOUND" {
			t.Fatalf("unknown session: %v", err)
		}
		count, _, err = b.DeleteKeys(ctx, alice, v, backup.Selector{RoomID: "!other:test.local", SessionID: "a"})
		if err != nil || count != 2 {
			t.Fatalf("delete one session: %d %v", count, err)
		}
		count, _, _ = b.DeleteKeys(ctx, alice, v, backup.Selector{RoomID: "!other:test.local"})
		if count != 1 {
			t.Fatalf("delete a room: count %d", count)
		}
		count, _, _ = b.DeleteKeys(ctx, alice, v, backup.Selector{})
		if count != 0 {
			t.Fatalf("delete all: count %d", count)
		}
		if cur, _ := b.GetVersion(ctx, alice, ""); cur.Count != 0 || cur.ETag == etag0 {
			t.Fatalf("version after deletes: %+v", cur)
		}
	})
}

func TestParseKeyData(t *testing.T) {
	for _, bad := range []string{
		`{}`, `{"first_message_index":0,"forwarded_count":0,"is_verified":true}`,
		`{"first_message_index":-1,"forwarded_count":0,"is_verified":true,"session_data":{}}`,
		`{"first_message_index":"0","forwarded_count":0,"is_verified":true,"session_data":{}}`,
		`{"first_message_index":0,"forwarded_count":0,"is_verified":true,"session_data":"x"}`,
		`[]`, `nul`,
	} {
		if _, err := backup.ParseKeyData(json.RawMessage(bad)); err == nil || errcode(err) == "" {
			t.Errorf("ParseKeyData(%s) = %v, want a Matrix error", bad, err)
		}
	}
	k, err := backup.ParseKeyData(json.RawMessage(`{"first_message_index":3,"forwarded_count":1,"is_verified":false,"session_data":{"a": 1}}`))
	if err != nil || k.FirstMessageIndex != 3 || k.ForwardedCount != 1 || string(k.SessionData) != `{"a":1}` {
		t.Fatalf("good key data: %+v %v", k, err)
	}
}

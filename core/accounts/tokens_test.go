package accounts

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestTokensStoredHashed(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		uid := mustRegister(t, s, "alice", "pw")
		sess := mustLogin(t, s, uid, "")
		if len(sess.AccessToken) < 43 || len(sess.DeviceID) != 10 {
			t.Fatalf("session = %+v", sess)
		}
		rows, err := db.Query(ctx, `SELECT token_hash, user_id, device_id FROM access_tokens`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var hash, user, dev string
			if err := rows.Scan(&hash, &user, &dev); err != nil {
				t.Fatal(err)
			}
			n++
			if strings.Contains(hash, sess.AccessToken) || hash != HashToken(sess.AccessToken) {
				t.Fatalf("stored %q for token %q", hash, sess.AccessToken)
			}
			if user != string(uid) || dev != string(sess.DeviceID) {
				t.Fatalf("token row %s %s", user, dev)
			}
		}
		if n != 1 {
			t.Fatalf("%d token rows", n)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		uid := mustRegister(t, s, "alice", "pw")
		sess := mustLogin(t, s, uid, "PHONE")

		_, err := s.Authenticate(authRequest(""))
		wantErrCode(t, err, "M_MISSING_TOKEN")
		_, err = s.Authenticate(authRequest("nonsense"))
		wantErrCode(t, err, "M_UNKNOWN_TOKEN")

		c, err := s.Authenticate(authRequest(sess.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		if c.UserID != uid || c.DeviceID != "PHONE" || c.IsAdmin || !c.RateLimited || c.TokenID != HashToken(sess.AccessToken) {
			t.Fatalf("caller = %+v", c)
		}
		// The deprecated query parameter works too, and hits the cache.
		q := httptest.NewRequest("GET", "/x?access_token="+sess.AccessToken, nil)
		if c2, err := s.Authenticate(q); err != nil || c2.UserID != uid {
			t.Fatalf("query token: %+v %v", c2, err)
		}
		// Callers are copies: a handler changing one must not change the cache.
		c.UserID = "@mallory:example.org"
		if c3, _ := s.Authenticate(authRequest(sess.AccessToken)); c3.UserID != uid {
			t.Fatal("cached caller was modified through a returned pointer")
		}
	})
}

func TestLogoutInvalidatesCache(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		uid := mustRegister(t, s, "alice", "pw")
		a := mustLogin(t, s, uid, "A")
		b := mustLogin(t, s, uid, "B")
		ca, err := s.Authenticate(authRequest(a.AccessToken))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Logout(ctx, ca); err != nil {
			t.Fatal(err)
		}
		_, err = s.Authenticate(authRequest(a.AccessToken))
		wantErrCode(t, err, "M_UNKNOWN_TOKEN")
		if _, err := s.Device(ctx, uid, "A"); err != storage.ErrNotFound {
			t.Fatalf("device A after logout: %v", err)
		}
		if _, err := s.Authenticate(authRequest(b.AccessToken)); err != nil {
			t.Fatalf("other device logged out too: %v", err)
		}
		if err := s.LogoutAll(ctx, uid); err != nil {
			t.Fatal(err)
		}
		_, err = s.Authenticate(authRequest(b.AccessToken))
		wantErrCode(t, err, "M_UNKNOWN_TOKEN")
		if devs, _ := s.Devices(ctx, uid); len(devs) != 0 {
			t.Fatalf("devices after logout/all: %+v", devs)
		}
	})
}

func TestLoginReusesDevice(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		var added int
		s.OnDeviceChange(func(_ context.Context, c DeviceChange) {
			if c.Kind == DeviceAdded {
				added++
			}
		})
		uid := mustRegister(t, s, "alice", "pw")
		first := mustLogin(t, s, uid, "LAPTOP")
		if _, err := s.Authenticate(authRequest(first.AccessToken)); err != nil {
			t.Fatal(err)
		}
		second, err := s.Login(ctx, LoginParams{UserID: uid, DeviceID: "LAPTOP", DeviceName: "renamed?"})
		if err != nil {
			t.Fatal(err)
		}
		if second.DeviceID != "LAPTOP" || second.AccessToken == first.AccessToken {
			t.Fatalf("second login %+v", second)
		}
		_, err = s.Authenticate(authRequest(first.AccessToken))
		wantErrCode(t, err, "M_UNKNOWN_TOKEN")
		if _, err := s.Authenticate(authRequest(second.AccessToken)); err != nil {
			t.Fatal(err)
		}
		d, err := s.Device(ctx, uid, "LAPTOP")
		if err != nil || d.DisplayName != "test device" {
			t.Fatalf("device kept its first name: %+v %v", d, err)
		}
		if added != 1 {
			t.Fatalf("DeviceAdded fired %d times", added)
		}
		// The same device ID of another user is another device.
		bob := mustRegister(t, s, "bob", "pw")
		mustLogin(t, s, bob, "LAPTOP")
		if _, err := s.Authenticate(authRequest(second.AccessToken)); err != nil {
			t.Fatalf("bob's login logged alice out: %v", err)
		}
		_, err = s.Login(ctx, LoginParams{UserID: uid, DeviceID: id.DeviceID(strings.Repeat("x", 300))})
		wantErrCode(t, err, "M_INVALID_PARAM")
		_, err = s.Login(ctx, LoginParams{UserID: "@ghost:example.org"})
		wantErrCode(t, err, "M_FORBIDDEN")
	})
}

func TestLastSeen(t *testing.T) {
	db := storagetest.NewSQLite(t)
	now := time.UnixMilli(1_700_000_000_000)
	s := New(db, testServer, Options{BcryptCost: 4, Now: func() time.Time { return now }})
	ctx := context.Background()
	uid := mustRegister(t, s, "alice", "pw")
	sess := mustLogin(t, s, uid, "DEV")
	r := authRequest(sess.AccessToken)
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("User-Agent", "Element/1.0")
	now = now.Add(time.Hour)
	if _, err := s.Authenticate(r); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Device(ctx, uid, "DEV")
	if d.LastSeenIP != "192.0.2.7" || d.UserAgent != "Element/1.0" || d.LastSeenTS != now.UnixMilli() {
		t.Fatalf("device = %+v", d)
	}
	// Within the interval nothing is written.
	later := now.Add(time.Minute)
	now = later
	_, _ = s.Authenticate(r)
	d, _ = s.Device(ctx, uid, "DEV")
	if d.LastSeenTS == later.UnixMilli() {
		t.Fatal("last seen written on every request")
	}
}

func TestTokenCacheBounded(t *testing.T) {
	db := storagetest.NewSQLite(t)
	s := New(db, testServer, Options{BcryptCost: 4, TokenCacheSize: 20})
	uid := mustRegister(t, s, "alice", "pw")
	var tokens []string
	for i := 0; i < 60; i++ {
		tokens = append(tokens, mustLogin(t, s, uid, "").AccessToken)
	}
	for _, tok := range tokens {
		if _, err := s.Authenticate(authRequest(tok)); err != nil {
			t.Fatal(err)
		}
		if n := s.tokens.len(); n > 20 {
			t.Fatalf("cache holds %d entries, bound is 20", n)
		}
	}
	// Evicted tokens still authenticate from the database.
	if _, err := s.Authenticate(authRequest(tokens[0])); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkAuthenticateCached(b *testing.B) {
	db := storagetest.NewSQLite(b)
	s := New(db, testServer, Options{BcryptCost: 4})
	uid := mustRegister(b, s, "alice", "pw")
	tok := mustLogin(b, s, uid, "").AccessToken
	b.RunParallel(func(pb *testing.PB) {
		r := authRequest(tok)
		for pb.Next() {
			if _, err := s.Authenticate(r); err != nil {
				panic(fmt.Sprint(err))
			}
		}
	})
}

package keys_test

import (
	"encoding/json"
	"sync"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// claimOne claims a signed_curve25519 key of user's dev and returns the
// key name and object, or "" when none was handed out.
func claimOne(t *testing.T, e *env, user id.UserID, dev id.DeviceID) (string, map[string]any) {
	t.Helper()
	raw, err := e.keys.Claim(e.ctx, map[id.UserID]map[id.DeviceID]string{user: {dev: "signed_curve25519"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := path(decode(t, raw), "one_time_keys", string(user), string(dev)).(map[string]any)
	for name, v := range got {
		obj, _ := v.(map[string]any)
		return name, obj
	}
	return "", nil
}

func TestClaimTakesOneTimeKeysThenFallback(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		alice := e.user("alice")
		d := e.device(alice, "DEV")
		otks := d.otks(3)
		fb := d.fallback()
		if _, err := e.keys.Upload(e.ctx, alice, "DEV", keys.UploadRequest{DeviceKeys: d.deviceKeys(), OneTimeKeys: otks, FallbackKeys: fb}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i := 0; i < 3; i++ {
			name, obj := claimOne(t, e, alice, "DEV")
			if _, ok := otks[name]; !ok || seen[name] {
				t.Fatalf("claim %d got %q, want a fresh uploaded one-time key", i, name)
			}
			var want map[string]any
			_ = json.Unmarshal(otks[name], &want)
			if obj["key"] != want["key"] || path(obj, "signatures", string(alice), "ed25519:DEV") == nil {
				t.Fatalf("claimed key %v, uploaded %v", obj, want)
			}
			seen[name] = true
		}
		counts, fallback, _ := e.keys.DeviceKeyCounts(e.ctx, alice, "DEV")
		if counts["signed_curve25519"] != 0 || len(fallback) != 1 || fallback[0] != "signed_curve25519" {
			t.Fatalf("after claims: counts %v unused fallback %v", counts, fallback)
		}
		// Out of one-time keys: the fallback key, again and again, now marked used.
		for i := 0; i < 2; i++ {
			name, obj := claimOne(t, e, alice, "DEV")
			if _, ok := fb[name]; !ok || obj["fallback"] != true {
				t.Fatalf("claim after exhaustion got %q %v, want the fallback key", name, obj)
			}
		}
		if _, fallback, _ := e.keys.DeviceKeyCounts(e.ctx, alice, "DEV"); len(fallback) != 0 {
			t.Fatalf("used fallback key still listed as unused: %v", fallback)
		}
		// A new fallback key is unused again.
		if _, err := e.keys.Upload(e.ctx, alice, "DEV", keys.UploadRequest{FallbackKeys: d.fallback()}); err != nil {
			t.Fatal(err)
		}
		if _, fallback, _ := e.keys.DeviceKeyCounts(e.ctx, alice, "DEV"); len(fallback) != 1 {
			t.Fatalf("new fallback key not unused: %v", fallback)
		}

		// Unknown users and devices are absent, remote servers are failures.
		raw, err := e.keys.Claim(e.ctx, map[id.UserID]map[id.DeviceID]string{
			alice: {"NOPE": "signed_curve25519"}, "@ghost:test.local": {"X": "signed_curve25519"},
			"@bob:remote.example": {"Y": "signed_curve25519"},
		})
		if err != nil {
			t.Fatal(err)
		}
		resp := decode(t, raw)
		if m := resp["one_time_keys"].(map[string]any); len(m) != 0 {
			t.Fatalf("claims for unknown devices returned %v", m)
		}
		if path(resp, "failures", "remote.example") == nil {
			t.Fatalf("failures = %v", resp["failures"])
		}
		if _, err := e.keys.Claim(e.ctx, map[id.UserID]map[id.DeviceID]string{"not a user": {"X": "a"}}); errcode(err) != "M_INVALID_PARAM" {
			t.Fatalf("claim for an invalid user ID: %v", err)
		}
		if _, err := e.keys.Claim(e.ctx, map[id.UserID]map[id.DeviceID]string{alice: {"DEV": ""}}); errcode(err) != "M_INVALID_PARAM" {
			t.Fatalf("claim without algorithm: %v", err)
		}
	})
}

// TestClaimConcurrent claims from many goroutines at once: every one-time
// key is handed out exactly once.
func TestClaimConcurrent(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		alice := e.user("alice")
		d := e.device(alice, "DEV")
		const n = 40
		if _, err := e.keys.Upload(e.ctx, alice, "DEV", keys.UploadRequest{OneTimeKeys: d.otks(n), FallbackKeys: d.fallback()}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for i := 0; i < n+10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name, _ := claimOne(t, e, alice, "DEV")
				mu.Lock()
				got[name]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		fallbacks := 0
		for name, c := range got {
			if name[:len("signed_curve25519:FB")] == "signed_curve25519:FB" {
				fallbacks += c
			} else if c != 1 {
				t.Errorf("one-time key %s handed out %d times", name, c)
			}
		}
		if len(got)-1 != n || fallbacks != 10 {
			t.Fatalf("got %d distinct one-time keys and %d fallback claims, want %d and 10", len(got)-1, fallbacks, n)
		}
	})
}

package accounts

import (
	"context"
	"sync"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// TestCacheDropsStaleStore covers a lookup that read the database before a
// logout and stores its result after it: the store must be dropped.
func TestCacheDropsStaleStore(t *testing.T) {
	c := newTokenCache(10)
	_, gen := c.get("k")
	c.invalidateUser("@alice:example.org") // a logout commits meanwhile
	c.put("k", &cachedToken{caller: httpx.Caller{UserID: "@alice:example.org"}}, gen)
	if e, _ := c.get("k"); e != nil {
		t.Fatal("stale lookup was cached after an invalidation")
	}
	_, gen = c.get("k")
	c.put("k", &cachedToken{caller: httpx.Caller{UserID: "@alice:example.org"}}, gen)
	if e, _ := c.get("k"); e == nil {
		t.Fatal("fresh lookup was not cached")
	}
}

func TestConcurrentAuthAndLogout(t *testing.T) {
	db := storagetest.NewSQLite(t)
	s := New(db, testServer, Options{BcryptCost: 4})
	uid := mustRegister(t, s, "alice", "pw")
	var tokens []string
	for i := 0; i < 8; i++ {
		tokens = append(tokens, mustLogin(t, s, uid, "").AccessToken)
	}
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_, _ = s.Authenticate(authRequest(tok))
			}
		}()
	}
	if err := s.LogoutAll(context.Background(), uid); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, tok := range tokens {
		if _, err := s.Authenticate(authRequest(tok)); err == nil {
			t.Fatal("token still valid after logout/all")
		}
	}
}

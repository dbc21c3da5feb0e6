package accounts

import (
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// tokenCache maps token hashes (raw SHA-256 bytes) to callers so that authenticating a request
// costs a hash and a map lookup instead of a database query.
//
// A lookup that misses reads the database and then stores the result; if a
// logout committed between that read and the store, the cache would keep a
// dead token alive. Every invalidation therefore bumps gen, and a store is
// dropped when gen moved since its database read began.
type tokenCache struct {
	mu      sync.RWMutex
	max     int
	gen     uint64
	entries map[string]*cachedToken
}

type cachedToken struct {
	caller httpx.Caller
	// seenMu guards the last-seen bookkeeping, which changes on reads.
	seenMu   sync.Mutex
	seenAt   time.Time
	seenIP   string
	seenUA   string
	seenDone bool
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[string]*cachedToken)}
}

func (c *tokenCache) get(hash string) (*cachedToken, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.entries[hash], c.gen
}

// put stores e unless an invalidation happened since gen was read. When
// full it drops about a tenth of the entries; Go's map order is random
// enough to make that a fair eviction, and evicted tokens merely cost one
// more database read.
func (c *tokenCache) put(hash string, e *cachedToken, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= c.max {
		drop := c.max/10 + 1
		for k := range c.entries {
			delete(c.entries, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.entries[hash] = e
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// invalidate removes every entry for which match is true.
func (c *tokenCache) invalidate(match func(caller *httpx.Caller) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if match(&e.caller) {
			delete(c.entries, k)
		}
	}
}

// invalidateToken removes the entry whose TokenID (hex hash) is hash.
func (c *tokenCache) invalidateToken(hash string) {
	c.invalidate(func(cl *httpx.Caller) bool { return cl.TokenID == hash })
}

func (c *tokenCache) invalidateUser(userID id.UserID) {
	c.invalidate(func(cl *httpx.Caller) bool { return cl.UserID == userID })
}

func (c *tokenCache) invalidateDevices(userID id.UserID, deviceIDs []id.DeviceID) {
	set := make(map[id.DeviceID]bool, len(deviceIDs))
	for _, d := range deviceIDs {
		set[d] = true
	}
	c.invalidate(func(cl *httpx.Caller) bool { return cl.UserID == userID && set[cl.DeviceID] })
}

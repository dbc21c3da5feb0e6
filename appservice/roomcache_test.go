package appservice

import "testing"

func TestRoomCache(t *testing.T) {
	c := newRoomCache()
	const r = "!r:test.local"
	facts := roomFacts{members: map[string]bool{"bridge": true}}

	_, tok, ok := c.get(r)
	if ok {
		t.Fatal("empty cache answered")
	}
	c.put(r, tok, facts)
	if got, _, ok := c.get(r); !ok || !got.members["bridge"] {
		t.Fatal("facts were not cached")
	}

	// A change in an uncommitted transaction: read through until committed.
	c.dirty(r)
	_, tok, ok = c.get(r)
	if ok {
		t.Fatal("a dirty room answered from the cache")
	}
	c.put(r, tok, roomFacts{})
	if _, _, ok := c.get(r); ok {
		t.Fatal("facts read inside the uncommitted transaction were cached")
	}
	c.committed(r)

	// A reader off the commit path reads, then a change commits before it
	// stores: what it read is stale and must not be cached.
	_, tok, _ = c.get(r)
	c.dirty(r)
	c.committed(r)
	c.put(r, tok, facts)
	if _, _, ok := c.get(r); ok {
		t.Fatal("stale facts were cached")
	}

	// The same across an eviction of clean entries.
	_, tok, _ = c.get("!other:test.local")
	c.mu.Lock()
	c.dropClean()
	c.mu.Unlock()
	c.put("!other:test.local", tok, facts)
	if _, _, ok := c.get("!other:test.local"); ok {
		t.Fatal("facts read before an eviction were cached")
	}
	_, tok, _ = c.get(r)
	c.put(r, tok, facts)
	c.forget(r)
	if _, _, ok := c.get(r); ok {
		t.Fatal("forget kept the facts")
	}
}

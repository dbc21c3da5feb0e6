package appservice

import (
	"sync"

	"maunium.net/go/mautrix/id"
)

// roomFacts is what room interest needs beyond namespaces: which
// appservices have a user joined, and the room's aliases.
type roomFacts struct {
	members map[string]bool
	aliases []string
}

// roomCache keeps roomFacts per room so the commit path of most events
// runs no query. It stays exact without knowing when transactions commit
// or roll back: the persist hook marks a room dirty when it sees an event
// that changes its facts (an appservice user's membership, the canonical
// alias), and a dirty room is read through, inside the committing
// transaction, and not cached. OnCommit, which runs on the writer's
// goroutine after the batch commits and before the next batch's hooks,
// clears the mark and drops the entry. A generation number keeps a reader
// off the commit path (ephemeral delivery) from caching facts it read
// before a change committed.
type roomCache struct {
	mu    sync.Mutex
	rooms map[id.RoomID]*roomEntry
	// clock counts changes; an entry records the clock of its last change,
	// and a missing entry dates from dropped.
	clock   uint64
	dropped uint64
}

type roomEntry struct {
	changed uint64
	dirty   bool
	facts   roomFacts
	loaded  bool
}

// maxCachedRooms bounds the cache; past it clean entries are dropped.
const maxCachedRooms = 50_000

func newRoomCache() *roomCache { return &roomCache{rooms: map[id.RoomID]*roomEntry{}} }

// get returns cached facts, or a token to pass to put with facts read now.
func (c *roomCache) get(room id.RoomID) (roomFacts, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.rooms[room]; e != nil && e.loaded && !e.dirty {
		return e.facts, c.clock, true
	}
	return roomFacts{}, c.clock, false
}

// put caches facts read after get returned token, unless the room changed
// since (or is changing).
func (c *roomCache) put(room id.RoomID, token uint64, f roomFacts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.rooms[room]
	last := c.dropped
	if e != nil {
		last = e.changed
	}
	if last > token || e != nil && e.dirty {
		return
	}
	if e == nil {
		if len(c.rooms) >= maxCachedRooms {
			c.dropClean()
		}
		e = &roomEntry{changed: last}
		c.rooms[room] = e
	}
	e.facts, e.loaded = f, true
}

// change records a change to room's facts.
func (c *roomCache) change(room id.RoomID, dirty bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	e := c.rooms[room]
	if e == nil {
		e = &roomEntry{}
		c.rooms[room] = e
	}
	e.changed, e.dirty, e.loaded, e.facts = c.clock, dirty, false, roomFacts{}
}

// dirty marks room as changing in an uncommitted transaction.
func (c *roomCache) dirty(room id.RoomID) { c.change(room, true) }

// committed clears the mark once the change is in the database.
func (c *roomCache) committed(room id.RoomID) { c.change(room, false) }

// forget drops a room's facts (its directory aliases changed), keeping a
// pending mark.
func (c *roomCache) forget(room id.RoomID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	if e := c.rooms[room]; e != nil {
		e.changed, e.loaded, e.facts = c.clock, false, roomFacts{}
	} else {
		c.rooms[room] = &roomEntry{changed: c.clock}
	}
}

func (c *roomCache) dropClean() {
	c.clock++
	c.dropped = c.clock
	for room, e := range c.rooms {
		if !e.dirty {
			delete(c.rooms, room)
		}
	}
}

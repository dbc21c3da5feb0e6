package sync

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/push"
)

// MSC4186 connections: what the server remembers between the requests of
// one sync loop, per (user, device, conn_id), in memory only. A restart
// forgets everything and the client, told M_UNKNOWN_POS, starts over.
//
// Each response's pos names an immutable snapshot (connState) of what the
// client holds after processing it. A request computes a new snapshot
// from the one its pos names, so a retried or cancelled-and-resent request
// (the MSC allows both) simply computes again from the same snapshot.
// Snapshots older than the pos a request comes with are dropped: the
// client has processed that response, so it never uses an older pos again.

// Bounds on remembered connections.
const (
	maxConnsPerDevice = 10
	maxConns          = 5000
	maxStatesPerConn  = 8
	connIdleTTL       = 24 * time.Hour
)

// errUnknownPos answers a pos the server does not know (expired, from
// before a restart, or never issued).
func errUnknownPos() error {
	return httpx.NewError(http.StatusBadRequest, "M_UNKNOWN_POS", "Unknown or expired pos; start a new connection")
}

type connKey struct {
	user   id.UserID
	device id.DeviceID
	conn   string
}

// sentRoom is what the client holds of one room on a connection.
type sentRoom struct {
	// upto: the client has the room's events up to this position.
	upto       int64
	membership string
	// limit is the timeline limit the client's copy satisfies; a larger
	// one re-sends the latest events.
	limit int
	// sigs are the required_state configs the client's copy matches.
	sigs   []string
	counts push.Counts
}

// connState is one snapshot. It is never modified once stored.
type connState struct {
	serial     uint64
	upto       int64
	rooms      map[string]*sentRoom
	listCounts map[string]int
}

func (st *connState) clone() *connState {
	return &connState{upto: st.upto, rooms: maps.Clone(st.rooms), listCounts: map[string]int{}}
}

type slidingConn struct {
	key      connKey
	mu       sync.Mutex
	states   map[uint64]*connState
	lastUsed time.Time
	cache    roomCache
}

type connStore struct {
	mu    sync.Mutex
	epoch string
	next  uint64
	conns map[connKey]*slidingConn
	now   func() time.Time
}

func newConnStore(now func() time.Time) *connStore {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &connStore{epoch: hex.EncodeToString(b), conns: map[connKey]*slidingConn{}, now: now}
}

// resolve returns the connection and the snapshot pos names; an empty pos
// starts the connection afresh.
func (cs *connStore) resolve(key connKey, pos string) (*slidingConn, *connState, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := cs.now()
	if pos == "" {
		cs.evict(key, now)
		c := &slidingConn{key: key, states: map[uint64]*connState{}, lastUsed: now}
		c.cache.rooms = map[string]*roomInfo{}
		c.cache.left = map[string]leftInfo{}
		cs.conns[key] = c
		return c, &connState{rooms: map[string]*sentRoom{}, listCounts: map[string]int{}}, nil
	}
	epoch, serialStr, ok := strings.Cut(pos, "_")
	serial, err := strconv.ParseUint(serialStr, 10, 64)
	c := cs.conns[key]
	if !ok || err != nil || epoch != cs.epoch || c == nil || now.Sub(c.lastUsed) > connIdleTTL {
		return nil, nil, errUnknownPos()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.states[serial]
	if st == nil {
		return nil, nil, errUnknownPos()
	}
	for s := range c.states {
		if s < serial {
			delete(c.states, s)
		}
	}
	c.lastUsed = now
	return c, st, nil
}

// commit stores st as a new snapshot of c and returns its pos.
func (cs *connStore) commit(c *slidingConn, st *connState) string {
	cs.mu.Lock()
	cs.next++
	st.serial = cs.next
	pos := cs.epoch + "_" + strconv.FormatUint(st.serial, 10)
	cs.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.states[st.serial] = st
	for len(c.states) > maxStatesPerConn {
		oldest := st.serial
		for s := range c.states {
			oldest = min(oldest, s)
		}
		delete(c.states, oldest)
	}
	return pos
}

// evict makes room for a new connection of key's device: it drops idle
// connections, the device's least recently used one past
// maxConnsPerDevice, and the least recently used one past maxConns.
// Called with cs.mu held; creating connections is rare, so a scan is fine.
func (cs *connStore) evict(key connKey, now time.Time) {
	delete(cs.conns, key)
	var devOldest, oldest *slidingConn
	perDevice := 0
	for k, c := range cs.conns {
		if now.Sub(c.lastUsed) > connIdleTTL {
			delete(cs.conns, k)
			continue
		}
		if oldest == nil || c.lastUsed.Before(oldest.lastUsed) {
			oldest = c
		}
		if k.user == key.user && k.device == key.device {
			perDevice++
			if devOldest == nil || c.lastUsed.Before(devOldest.lastUsed) {
				devOldest = c
			}
		}
	}
	if perDevice >= maxConnsPerDevice {
		delete(cs.conns, devOldest.key)
	} else if len(cs.conns) >= maxConns {
		delete(cs.conns, oldest.key)
	}
}

package stream

import (
	"context"
	"sync"
)

// Notifier wakes long-polling /sync requests as soon as a change they care
// about commits. It is fed by Writer hooks; nothing polls.
type Notifier struct {
	mu     sync.Mutex
	pos    int64
	recent []Change // ring of the last len(recent) changes, for the register race
	next   int
	byRoom map[string]map[*Waiter]struct{}
	byUser map[string]map[*Waiter]struct{}
}

// Waiter is one pending long poll.
type Waiter struct {
	ch     chan struct{}
	userID string
	rooms  []string
}

const recentChanges = 4096

// NewNotifier returns a notifier starting at position pos.
func NewNotifier(pos int64) *Notifier {
	return &Notifier{
		pos:    pos,
		recent: make([]Change, recentChanges),
		byRoom: map[string]map[*Waiter]struct{}{},
		byUser: map[string]map[*Waiter]struct{}{},
	}
}

// OnCommit is the Writer hook. It never blocks.
func (n *Notifier) OnCommit(changes []Change) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range changes {
		c.Data = nil // the ring only needs IDs; don't keep events alive
		n.recent[n.next] = c
		n.next = (n.next + 1) % len(n.recent)
		n.pos = c.Pos
		if c.RoomID != "" {
			for w := range n.byRoom[c.RoomID] {
				w.fire()
			}
		}
		for _, u := range c.UserIDs {
			for w := range n.byUser[u] {
				w.fire()
			}
		}
	}
}

// Pos returns the newest committed position the notifier has seen.
func (n *Notifier) Pos() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pos
}

func (w *Waiter) fire() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// Wait blocks until a change after since concerns userID or one of rooms, or
// ctx ends. It returns the notifier's position at wake-up.
func (n *Notifier) Wait(ctx context.Context, userID string, rooms []string, since int64) int64 {
	w := &Waiter{ch: make(chan struct{}, 1), userID: userID, rooms: rooms}
	n.mu.Lock()
	if n.relevantSince(w, since) {
		pos := n.pos
		n.mu.Unlock()
		return pos
	}
	n.add(w)
	n.mu.Unlock()
	select {
	case <-w.ch:
	case <-ctx.Done():
	}
	n.mu.Lock()
	n.remove(w)
	pos := n.pos
	n.mu.Unlock()
	return pos
}

// relevantSince reports whether a change after since, already committed,
// concerns w. When since is older than the ring, it answers true so the
// caller re-reads the database.
func (n *Notifier) relevantSince(w *Waiter, since int64) bool {
	if since >= n.pos {
		return false
	}
	oldest := n.recent[n.next].Pos // zero until the ring has wrapped
	if oldest == 0 {
		oldest = n.recent[0].Pos
	}
	if oldest == 0 || since < oldest-1 {
		return true
	}
	roomSet := make(map[string]struct{}, len(w.rooms))
	for _, r := range w.rooms {
		roomSet[r] = struct{}{}
	}
	for _, c := range n.recent {
		if c.Pos <= since {
			continue
		}
		if _, ok := roomSet[c.RoomID]; ok && c.RoomID != "" {
			return true
		}
		for _, u := range c.UserIDs {
			if u == w.userID {
				return true
			}
		}
	}
	return false
}

func (n *Notifier) add(w *Waiter) {
	for _, r := range w.rooms {
		set := n.byRoom[r]
		if set == nil {
			set = map[*Waiter]struct{}{}
			n.byRoom[r] = set
		}
		set[w] = struct{}{}
	}
	set := n.byUser[w.userID]
	if set == nil {
		set = map[*Waiter]struct{}{}
		n.byUser[w.userID] = set
	}
	set[w] = struct{}{}
}

func (n *Notifier) remove(w *Waiter) {
	for _, r := range w.rooms {
		if set := n.byRoom[r]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(n.byRoom, r)
			}
		}
	}
	if set := n.byUser[w.userID]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(n.byUser, w.userID)
		}
	}
}

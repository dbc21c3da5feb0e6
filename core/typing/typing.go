// Package typing keeps typing notifications in memory, with timeouts. Each
// visible change (a user starts or stops typing, or times out) goes through
// the stream writer with no database write, so it gets a stream position in
// order with everything else and wakes the room's long-polling /syncs.
// Nothing survives a restart, which is fine for typing.
package typing

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Rooms is what typing needs from the rooms service.
type Rooms interface {
	MembershipOf(ctx context.Context, roomID id.RoomID, userID id.UserID) (event.Membership, error)
}

// MaxTimeout caps a client's typing timeout.
const MaxTimeout = 2 * time.Minute

// Service tracks who is typing where.
type Service struct {
	w     *stream.Writer
	rooms Rooms
	log   zerolog.Logger

	mu sync.Mutex
	// byRoom keeps an entry for every room that ever had typing: its pos
	// matters to syncs behind it, and rooms are few next to messages.
	byRoom map[id.RoomID]*roomTyping
	closed bool
}

// entry is one typing user; its identity tells a stale timer from a fresh one.
type entry struct{ timer *time.Timer }

type roomTyping struct {
	users map[id.UserID]*entry
	// pos is the position of the last committed change; while inflight > 0
	// the in-memory list is ahead of it and every /sync must include it.
	pos      int64
	inflight int
}

// New returns the typing service.
func New(w *stream.Writer, rooms Rooms, log zerolog.Logger) *Service {
	return &Service{w: w, rooms: rooms, log: log, byRoom: map[id.RoomID]*roomTyping{}}
}

// Close stops the timeout timers.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, rt := range s.byRoom {
		for _, e := range rt.users {
			e.timer.Stop()
		}
	}
}

// Set marks the user as typing in the room for timeout, or stops it. The
// user must be joined. Refreshing an ongoing typing notification only
// extends its timer: nothing visible changed, so nothing is written.
func (s *Service) Set(ctx context.Context, room id.RoomID, user id.UserID, typing bool, timeout time.Duration) error {
	m, err := s.rooms.MembershipOf(ctx, room, user)
	if err != nil || m != event.MembershipJoin {
		if err == nil || isNotFound(err) {
			return httpx.Forbidden("You are not joined to this room")
		}
		return err
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	timeout = min(timeout, MaxTimeout)
	s.mu.Lock()
	rt := s.byRoom[room]
	if rt == nil {
		rt = &roomTyping{users: map[id.UserID]*entry{}}
		s.byRoom[room] = rt
	}
	old, was := rt.users[user]
	if was {
		old.timer.Stop()
		delete(rt.users, user)
	}
	if typing && !s.closed {
		e := &entry{}
		e.timer = time.AfterFunc(timeout, func() { s.expire(room, user, e) })
		rt.users[user] = e
	}
	if was == typing {
		s.mu.Unlock()
		return nil
	}
	return s.publishLocked(ctx, room, rt)
}

// publishLocked queues a typing change for room; it is called with s.mu
// held and releases it, so changes are queued in the order they happen.
func (s *Service) publishLocked(ctx context.Context, room id.RoomID, rt *roomTyping) error {
	rt.inflight++
	pending := s.w.Enqueue(ctx, stream.Change{Kind: stream.KindTyping, RoomID: room.String()}, nil)
	s.mu.Unlock()
	pos, err := pending.Wait()
	s.mu.Lock()
	rt.inflight--
	rt.pos = max(rt.pos, pos)
	s.mu.Unlock()
	return err
}

func (s *Service) expire(room id.RoomID, user id.UserID, e *entry) {
	s.mu.Lock()
	rt := s.byRoom[room]
	if rt == nil || rt.users[user] != e || s.closed {
		s.mu.Unlock()
		return
	}
	delete(rt.users, user)
	if err := s.publishLocked(context.Background(), room, rt); err != nil {
		s.log.Warn().Err(err).Stringer("room_id", room).Msg("Failed to publish typing timeout")
	}
}

// Since returns the typing users of each room whose typing changed after
// since; when since is 0, of each room where someone is typing.
func (s *Service) Since(rooms []id.RoomID, since int64) map[id.RoomID][]id.UserID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out map[id.RoomID][]id.UserID
	for _, room := range rooms {
		rt := s.byRoom[room]
		if rt == nil {
			continue
		}
		pos := rt.pos
		if rt.inflight > 0 {
			pos = math.MaxInt64
		}
		if since == 0 && len(rt.users) == 0 || since > 0 && pos <= since {
			continue
		}
		users := make([]id.UserID, 0, len(rt.users))
		for u := range rt.users {
			users = append(users, u)
		}
		slices.Sort(users)
		if out == nil {
			out = map[id.RoomID][]id.UserID{}
		}
		out[room] = users
	}
	return out
}

func isNotFound(err error) bool {
	he, ok := err.(*httpx.Error)
	return ok && he.ErrCode == "M_NOT_FOUND"
}

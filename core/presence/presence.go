// Package presence stores users' presence (online, unavailable, offline,
// with an optional status message) and serves it to users who share a room.
//
// Writes go through the stream writer and wake the user and everyone who
// shares a room with them. /sync's set_presence must stay cheap: Touch
// answers from memory and writes only when the state changes or
// last_active is older than RefreshInterval. A sweeper marks users offline
// once they have not synced or set their presence for IdleTimeout.
package presence

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Presence states.
const (
	Online      = "online"
	Unavailable = "unavailable"
	Offline     = "offline"
)

// Timings of automatic presence.
const (
	// RefreshInterval is how stale last_active may get before a sync writes it again.
	RefreshInterval = 5 * time.Minute
	// IdleTimeout is how long after the last sync a user goes offline.
	IdleTimeout = 90 * time.Second
	// ActiveWindow is how recent last_active must be for currently_active.
	ActiveWindow = time.Minute
)

// Status is a user's presence.
type Status struct {
	State        string
	StatusMsg    *string
	LastActiveTS int64
}

// Service stores presence.
type Service struct {
	db  *storage.DB
	w   *stream.Writer
	log zerolog.Logger
	now func() time.Time

	mu    sync.Mutex
	users map[id.UserID]*cached
	stop  chan struct{}
	done  chan struct{}
}

type cached struct {
	Status
	// explicit is set when the state came from PUT /presence, which a
	// sync's implicit "online" must not override.
	explicit  bool
	lastSeen  time.Time // last sync or PUT
	lastWrite time.Time
	writing   bool
}

// New returns the presence service and starts its idle sweeper; Close stops it.
func New(db *storage.DB, w *stream.Writer, log zerolog.Logger) *Service {
	s := &Service{db: db, w: w, log: log, now: time.Now, users: map[id.UserID]*cached{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.sweep()
	return s
}

// Close stops the sweeper.
func (s *Service) Close() {
	close(s.stop)
	<-s.done
}

// ValidState reports whether state is a presence state a client may set.
func ValidState(state string) bool {
	return state == Online || state == Unavailable || state == Offline
}

// Get returns the user's stored presence (offline when never set).
func (s *Service) Get(ctx context.Context, user id.UserID) (Status, error) {
	s.mu.Lock()
	if c := s.users[user]; c != nil {
		st := c.Status
		s.mu.Unlock()
		return st, nil
	}
	s.mu.Unlock()
	return s.load(ctx, user)
}

func (s *Service) load(ctx context.Context, user id.UserID) (Status, error) {
	var st Status
	var msg sql.NullString
	err := s.db.QueryRow(ctx, `SELECT state, status_msg, last_active_ts FROM presence WHERE user_id = $1`, user).
		Scan(&st.State, &msg, &st.LastActiveTS)
	if errors.Is(err, sql.ErrNoRows) {
		return Status{State: Offline}, nil
	} else if err != nil {
		return Status{}, err
	}
	if msg.Valid {
		st.StatusMsg = &msg.String
	}
	return st, nil
}

// Set is PUT /presence/{userId}/status: an explicit state and status message.
func (s *Service) Set(ctx context.Context, user id.UserID, state string, statusMsg *string) error {
	if !ValidState(state) {
		return httpx.InvalidParam("Unknown presence state %q", state)
	}
	now := s.now()
	st := Status{State: state, StatusMsg: statusMsg, LastActiveTS: now.UnixMilli()}
	if err := s.write(ctx, user, st); err != nil {
		return err
	}
	s.mu.Lock()
	s.users[user] = &cached{Status: st, explicit: state != Online, lastSeen: now, lastWrite: now}
	s.mu.Unlock()
	return nil
}

// Touch records a /sync with set_presence (online when empty). It only
// writes when the visible state changes or last_active needs refreshing,
// and then in the background, so syncing never waits for it.
func (s *Service) Touch(ctx context.Context, user id.UserID, setPresence string) {
	if setPresence == Offline {
		return
	}
	want := setPresence
	if want == "" {
		want = Online
	}
	now := s.now()
	s.mu.Lock()
	c := s.users[user]
	if c == nil {
		s.mu.Unlock()
		st, err := s.load(ctx, user)
		if err != nil {
			return
		}
		s.mu.Lock()
		if c = s.users[user]; c == nil {
			c = &cached{Status: st, explicit: st.State == Unavailable}
			s.users[user] = c
		}
	}
	c.lastSeen = now
	if c.explicit && c.State != Offline && setPresence == "" {
		want = c.State
	}
	stale := now.Sub(time.UnixMilli(c.LastActiveTS)) > RefreshInterval
	if c.writing || (c.State == want && !stale) {
		s.mu.Unlock()
		return
	}
	c.writing = true
	st := Status{State: want, StatusMsg: c.StatusMsg, LastActiveTS: now.UnixMilli()}
	s.mu.Unlock()
	go func() {
		err := s.write(context.WithoutCancel(ctx), user, st)
		s.mu.Lock()
		c.writing = false
		if err == nil {
			c.Status, c.lastWrite = st, now
		}
		s.mu.Unlock()
		if err != nil {
			s.log.Warn().Err(err).Stringer("user_id", user).Msg("Failed to update presence")
		}
	}()
}

// write stores st and wakes everyone who shares a room with the user.
func (s *Service) write(ctx context.Context, user id.UserID, st Status) error {
	audience, err := s.audience(ctx, user)
	if err != nil {
		return err
	}
	_, err = s.w.Submit(ctx, stream.Change{Kind: stream.KindPresence, UserIDs: audience},
		func(ctx context.Context, tx *storage.Tx, pos int64) error {
			_, err := tx.Exec(ctx, `
				INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream_pos) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg,
					last_active_ts = excluded.last_active_ts, stream_pos = excluded.stream_pos`,
				user, st.State, st.StatusMsg, st.LastActiveTS, pos)
			return err
		})
	return err
}

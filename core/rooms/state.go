package rooms

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/federation/pdu"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// room is the in-memory head of one room: its current state and forward
// extremities. mu is held while an event is built and queued.
type room struct {
	mu          sync.Mutex
	id          id.RoomID
	version     id.RoomVersion
	state       map[pdu.StateKey]*Event
	extremities []id.EventID
	depth       int64
	// stale is set when a queued event failed to commit; the next user
	// reloads the room from the database.
	stale bool
	// legacyHead is the stored form of each extremity, in rooms of
	// versions 1 and 2, where the next event cites their hashes.
	legacyHead []*legacyPDU
}

// ErrUnknownRoom is returned for rooms this server has no state for.
var ErrUnknownRoom = httpx.NotFound("Unknown room")

// lockRoom returns the room's head, locked. Callers must unlock.
func (s *Service) lockRoom(ctx context.Context, roomID id.RoomID) (*room, error) {
	s.mu.Lock()
	r := s.rooms[roomID]
	if r == nil {
		r = &room{id: roomID, stale: true}
		s.rooms[roomID] = r
	}
	s.mu.Unlock()
	r.mu.Lock()
	if r.stale {
		if err := s.loadRoom(ctx, r); err != nil {
			r.mu.Unlock()
			if errors.Is(err, storage.ErrNotFound) {
				s.mu.Lock()
				delete(s.rooms, roomID)
				s.mu.Unlock()
				return nil, ErrUnknownRoom
			}
			return nil, err
		}
	}
	return r, nil
}

func (s *Service) loadRoom(ctx context.Context, r *room) error {
	var version string
	err := s.db.QueryRow(ctx, `SELECT room_version FROM rooms WHERE room_id = $1`, r.id).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ErrNotFound
	} else if err != nil {
		return fmt.Errorf("load room %s: %w", r.id, err)
	}
	r.version = id.RoomVersion(version)
	rows, err := s.db.Query(ctx, `
		SELECT e.stream_pos, e.event_id, e.pdu, e.client
		FROM current_state cs JOIN events e ON e.event_id = cs.event_id
		WHERE cs.room_id = $1`, r.id)
	if err != nil {
		return fmt.Errorf("load state of %s: %w", r.id, err)
	}
	defer rows.Close()
	r.state = map[pdu.StateKey]*Event{}
	for rows.Next() {
		ev, err := scanEvent(rows, r.version)
		if err != nil {
			return err
		}
		r.state[pdu.StateKey{Type: ev.PDU.Type, StateKey: *ev.PDU.StateKey}] = ev
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.extremities = r.extremities[:0]
	erows, err := s.db.Query(ctx, `SELECT event_id FROM forward_extremities WHERE room_id = $1`, r.id)
	if err != nil {
		return err
	}
	defer erows.Close()
	for erows.Next() {
		var eid id.EventID
		if err := erows.Scan(&eid); err != nil {
			return err
		}
		r.extremities = append(r.extremities, eid)
	}
	if events.OriginChosenIDs(r.version) {
		if err := s.loadLegacyHead(ctx, r); err != nil {
			return err
		}
	}
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(MAX(depth), 0) FROM events WHERE room_id = $1`, r.id).Scan(&r.depth); err != nil {
		return err
	}
	r.stale = false
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanEvent(row scanner, version id.RoomVersion) (*Event, error) {
	var ev Event
	var pduJSON, client string
	if err := row.Scan(&ev.Pos, &ev.ID, &pduJSON, &client); err != nil {
		return nil, err
	}
	p, legacy, err := decodeStored([]byte(pduJSON), version)
	if err != nil {
		return nil, fmt.Errorf("decode stored event %s: %w", ev.ID, err)
	}
	ev.PDU, ev.Version, ev.Client, ev.legacy = p, version, []byte(client), legacy
	return &ev, nil
}

// CurrentState returns a snapshot of the room's current state events.
func (s *Service) CurrentState(ctx context.Context, roomID id.RoomID) ([]*Event, error) {
	r, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	out := make([]*Event, 0, len(r.state))
	for _, ev := range r.state {
		c := *ev
		out = append(out, &c)
	}
	return out, nil
}

// StateEvent returns one current state event, or nil when unset.
func (s *Service) StateEvent(ctx context.Context, roomID id.RoomID, evType, stateKey string) (*Event, error) {
	r, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	ev := r.state[pdu.StateKey{Type: evType, StateKey: stateKey}]
	if ev == nil {
		return nil, nil
	}
	c := *ev // a copy: Pos is set under the lock once the event commits
	return &c, nil
}

// Version returns the room's version.
func (s *Service) Version(ctx context.Context, roomID id.RoomID) (id.RoomVersion, error) {
	r, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return "", err
	}
	defer r.mu.Unlock()
	return r.version, nil
}

// MembershipOf returns the user's current membership ("" when none).
func (s *Service) MembershipOf(ctx context.Context, roomID id.RoomID, userID id.UserID) (event.Membership, error) {
	ev, err := s.StateEvent(ctx, roomID, event.StateMember.Type, userID.String())
	if err != nil || ev == nil {
		return "", err
	}
	return ev.Membership(), nil
}

// Members returns the users whose current membership is one of want
// (all memberships when want is empty).
func (s *Service) Members(ctx context.Context, roomID id.RoomID, want ...event.Membership) ([]id.UserID, error) {
	r, err := s.lockRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	var out []id.UserID
	for k, ev := range r.state {
		if k.Type != event.StateMember.Type {
			continue
		}
		m := ev.Membership()
		if len(want) == 0 || containsMembership(want, m) {
			out = append(out, id.UserID(k.StateKey))
		}
	}
	return out, nil
}

func containsMembership(list []event.Membership, m event.Membership) bool {
	for _, x := range list {
		if x == m {
			return true
		}
	}
	return false
}

// PowerLevels returns the room's parsed power levels (defaults if unset).
func (s *Service) PowerLevels(ctx context.Context, roomID id.RoomID) (*event.PowerLevelsEventContent, error) {
	ev, err := s.StateEvent(ctx, roomID, event.StatePowerLevels.Type, "")
	if err != nil {
		return nil, err
	}
	pl := &event.PowerLevelsEventContent{}
	if ev != nil {
		if err := json.Unmarshal(ev.PDU.Content, pl); err != nil {
			return nil, fmt.Errorf("parse power levels: %w", err)
		}
	} else if create, _ := s.StateEvent(ctx, roomID, event.StateCreate.Type, ""); create != nil {
		// Without a power_levels event the creator has 100 (auth rules).
		pl.Users = map[id.UserID]int{create.Sender(): 100}
	}
	return pl, nil
}

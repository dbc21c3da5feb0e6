// Package receipts stores read receipts (m.read, m.read.private) and
// renders them as m.receipt ephemeral events for /sync. Receipts go
// through the stream writer; a public receipt wakes every member of the
// room, a private one only its owner. Moving a user's read position also
// runs the read hooks in the same transaction (push clears notifications
// there). m.fully_read is room account data, not a receipt: the caller
// stores it with the accountdata package.
package receipts

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Receipt types.
const (
	Read        = "m.read"
	ReadPrivate = "m.read.private"
)

// Rooms is what receipts needs from the rooms service.
type Rooms interface {
	MembershipOf(ctx context.Context, roomID id.RoomID, userID id.UserID) (event.Membership, error)
}

// ReadHook runs inside the transaction that moves a user's unthreaded or
// main-timeline read position in a room to the event at position upTo;
// pos is the receipt's own stream position. It must only write to tx.
type ReadHook func(ctx context.Context, tx *storage.Tx, user id.UserID, room id.RoomID, upTo, pos int64) error

// Service stores receipts.
type Service struct {
	db    *storage.DB
	w     *stream.Writer
	rooms Rooms
	hooks []ReadHook
	now   func() time.Time
}

// New returns the receipts service.
func New(db *storage.DB, w *stream.Writer, rooms Rooms) *Service {
	return &Service{db: db, w: w, rooms: rooms, now: time.Now}
}

// OnRead registers a read hook; call before serving.
func (s *Service) OnRead(h ReadHook) { s.hooks = append(s.hooks, h) }

// EventPos returns the stream position of an event in room, or M_NOT_FOUND.
func (s *Service) EventPos(ctx context.Context, room id.RoomID, eventID id.EventID) (int64, error) {
	var pos int64
	var inRoom id.RoomID
	err := s.db.QueryRow(ctx, `SELECT stream_pos, room_id FROM events WHERE event_id = $1`, eventID).Scan(&pos, &inRoom)
	if errors.Is(err, sql.ErrNoRows) || err == nil && inRoom != room {
		return 0, httpx.NotFound("Event %s not found in this room", eventID)
	}
	return pos, err
}

// CheckJoined returns M_FORBIDDEN unless the user is joined to the room.
func (s *Service) CheckJoined(ctx context.Context, room id.RoomID, user id.UserID) error {
	return CheckJoined(ctx, s.rooms, room, user)
}

// CheckJoined returns M_FORBIDDEN unless the user is joined to the room.
func CheckJoined(ctx context.Context, rooms Rooms, room id.RoomID, user id.UserID) error {
	m, err := rooms.MembershipOf(ctx, room, user)
	if err != nil {
		var he *httpx.Error
		if errors.As(err, &he) && he.ErrCode == "M_NOT_FOUND" {
			return httpx.Forbidden("You are not joined to this room")
		}
		return err
	}
	if m != event.MembershipJoin {
		return httpx.Forbidden("You are not joined to this room")
	}
	return nil
}

// Set records the user's receipt of type typ (m.read or m.read.private) at
// eventID. threadID is "" (unthreaded), "main" or a thread root event ID.
// A receipt never moves backwards.
func (s *Service) Set(ctx context.Context, room id.RoomID, user id.UserID, typ string, eventID id.EventID, threadID string) error {
	if typ != Read && typ != ReadPrivate {
		return httpx.InvalidParam("Unknown receipt type %q", typ)
	}
	if err := CheckJoined(ctx, s.rooms, room, user); err != nil {
		return err
	}
	pos, err := s.EventPos(ctx, room, eventID)
	if err != nil {
		return err
	}
	change := stream.Change{Kind: stream.KindReceipt, RoomID: room.String()}
	if typ == ReadPrivate {
		change = stream.Change{Kind: stream.KindReceipt, UserIDs: []string{user.String()}}
	}
	ts := s.now().UnixMilli()
	_, err = s.w.Submit(ctx, change, func(ctx context.Context, tx *storage.Tx, streamPos int64) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, event_pos, ts, stream_pos)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE
			SET event_id = excluded.event_id, event_pos = excluded.event_pos, ts = excluded.ts, stream_pos = excluded.stream_pos
			WHERE receipts.event_pos < excluded.event_pos`,
			room, typ, user, threadID, eventID, pos, ts, streamPos)
		if err != nil {
			return err
		}
		if threadID != "" && threadID != "main" {
			return nil
		}
		for _, h := range s.hooks {
			if err := h(ctx, tx, user, room, pos, streamPos); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

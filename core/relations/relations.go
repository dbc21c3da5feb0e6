// Package relations serves what the client-server API reads around a single
// event: its relations (edits, reactions, references, thread replies; spec
// "Relationships"), the thread list of a room with each root's summary, and
// abuse reports against an event or a room.
//
// It reads the events table's relates_to/rel_type columns, which core/rooms
// fills from the cleartext m.relates_to at persist time (so relations of
// encrypted events work too). Replies (m.in_reply_to) are not relations and
// redacted events no longer relate to anything, as in Synapse. This package
// never writes events; it only reads them and stores reports.
package relations

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Paging limits, as in Synapse's PaginationConfig.
const (
	DefaultLimit = 5
	MaxLimit     = 1000
	// RecursionDepth is how many levels of relations-of-relations a
	// recursive /relations request follows (the spec recommends 3).
	RecursionDepth = 3
)

// Service reads relations and threads and stores reports.
type Service struct {
	db    *storage.DB
	rooms *rooms.Service
	now   func() time.Time
}

// New returns a Service over the events stored in db.
func New(db *storage.DB, rs *rooms.Service) *Service {
	return &Service{db: db, rooms: rs, now: time.Now}
}

// ValidateEventID checks that eventID looks like an event ID; event IDs are
// opaque beyond the sigil.
func ValidateEventID(eventID string) error {
	if len(eventID) < 2 || eventID[0] != '$' || len(eventID) > 255 ||
		strings.ContainsFunc(eventID, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return httpx.InvalidParam("Invalid event ID %q", eventID)
	}
	return nil
}

// parsePos reads a pagination token: a stream position, the same integer
// /sync hands out as next_batch. Empty means "no bound".
func parsePos(name, tok string) (pos int64, set bool, err error) {
	if tok == "" {
		return 0, false, nil
	}
	n, perr := strconv.ParseInt(tok, 10, 64)
	if perr != nil || n < 0 {
		return 0, false, httpx.InvalidParam("Invalid %s token %q", name, tok)
	}
	return n, true, nil
}

func formatPos(pos int64) string { return strconv.FormatInt(pos, 10) }

// checkLimit applies the default and the cap; negative limits are refused.
func checkLimit(limit int64, def int) (int, error) {
	switch {
	case limit < 0:
		return 0, httpx.InvalidParam("limit must not be negative")
	case limit == 0:
		return def, nil
	case limit > MaxLimit:
		return MaxLimit, nil
	}
	return int(limit), nil
}

// parentEvent returns the stream position of eventID, which must be an event
// of roomID that the caller may read (readLimit from ReadLimit).
func (s *Service) parentEvent(ctx context.Context, roomID id.RoomID, eventID id.EventID, readLimit int64) (int64, error) {
	var pos int64
	var room id.RoomID
	err := s.db.QueryRow(ctx, `SELECT stream_pos, room_id FROM events WHERE event_id = $1`, eventID).Scan(&pos, &room)
	if isNoRows(err) || (err == nil && room != roomID) {
		return 0, httpx.NotFound("Event %s not found in room %s", eventID, roomID)
	} else if err != nil {
		return 0, err
	}
	if pos > readLimit {
		return 0, httpx.Forbidden("You don't have permission to see event %s", eventID)
	}
	return pos, nil
}

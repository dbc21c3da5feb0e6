package relations

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// EventReport is a user's report of an event to the server admins.
type EventReport struct {
	RoomID  id.RoomID
	EventID id.EventID
	// Reason and Score are optional; Score is -100 (most offensive) to 0.
	Reason *string
	Score  *int
}

// ReportEvent stores a report. As in Synapse, an unknown event (or one from
// another room) is M_NOT_FOUND and an event the reporter cannot see is
// M_FORBIDDEN.
func (s *Service) ReportEvent(ctx context.Context, reporter id.UserID, r EventReport) error {
	if r.Score != nil && (*r.Score < -100 || *r.Score > 0) {
		return httpx.InvalidParam("score must be between -100 and 0")
	}
	readLimit, err := s.ReadLimit(ctx, r.RoomID, reporter)
	if err != nil {
		return err
	}
	if _, err := s.parentEvent(ctx, r.RoomID, r.EventID, readLimit); err != nil {
		return err
	}
	var score any
	if r.Score != nil {
		score = int64(*r.Score)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO event_reports (id, room_id, event_id, user_id, reason, score, created_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, newReportID(), r.RoomID, r.EventID, reporter, r.Reason, score, s.now().UnixMilli())
	return err
}

// ReportRoom stores a report about a whole room. Following Synapse, the
// reporter need not be in the room (rooms are also reported from the
// directory or an invite); the room must exist.
func (s *Service) ReportRoom(ctx context.Context, reporter id.UserID, roomID id.RoomID, reason string) error {
	if _, err := s.rooms.Version(ctx, roomID); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO room_reports (id, room_id, user_id, reason, created_ts) VALUES ($1, $2, $3, $4, $5)`,
		newReportID(), roomID, reporter, reason, s.now().UnixMilli())
	return err
}

func newReportID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

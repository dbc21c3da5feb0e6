package relations

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// StoredReport is an event report as server admins read it, shaped like
// Synapse's admin event reports. ID is an opaque string (Synapse's is a
// number).
type StoredReport struct {
	ID             string     `json:"id"`
	ReceivedTS     int64      `json:"received_ts"`
	RoomID         id.RoomID  `json:"room_id"`
	Name           *string    `json:"name"`
	CanonicalAlias *string    `json:"canonical_alias"`
	EventID        id.EventID `json:"event_id"`
	// UserID is the reporter; Sender sent the reported event.
	UserID id.UserID `json:"user_id"`
	Sender id.UserID `json:"sender"`
	Reason *string   `json:"reason"`
	Score  *int64    `json:"score"`
	// EventJSON is the reported event (federation form); only single
	// report lookups fill it.
	EventJSON json.RawMessage `json:"event_json,omitempty"`
}

// ReportListParams filter and page GET /_synapse/admin/v1/event_reports.
type ReportListParams struct {
	From, Limit int
	// Forwards lists oldest first; the default is newest first (dir=b).
	Forwards bool
	// UserID matches part of the reporter's ID; RoomID and EventSender
	// match exactly.
	UserID, RoomID, EventSender string
}

const reportColumns = `r.id, r.created_ts, r.room_id, r.event_id, r.user_id, COALESCE(e.sender, ''), r.reason, r.score`

const reportFilter = `FROM event_reports r LEFT JOIN events e ON e.event_id = r.event_id
	WHERE ($1 = '' OR r.user_id LIKE $1 ESCAPE '\') AND ($2 = '' OR r.room_id = $2) AND ($3 = '' OR e.sender = $3)`

// EventReports returns a page of event reports and how many match.
func (s *Service) EventReports(ctx context.Context, p ReportListParams) ([]StoredReport, int, error) {
	like := ""
	if p.UserID != "" {
		like = "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p.UserID) + "%"
	}
	var total int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) `+reportFilter, like, p.RoomID, p.EventSender).Scan(&total); err != nil {
		return nil, 0, err
	}
	dir := "DESC"
	if p.Forwards {
		dir = "ASC"
	}
	rows, err := s.db.Query(ctx, `SELECT `+reportColumns+` `+reportFilter+`
		ORDER BY r.created_ts `+dir+`, r.id `+dir+` LIMIT $4 OFFSET $5`, like, p.RoomID, p.EventSender, p.Limit, p.From)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []StoredReport{}
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	summaries := map[id.RoomID]*rooms.RoomDetails{}
	for i := range out {
		if err := s.addRoomNames(ctx, &out[i], summaries); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// EventReport returns one report with the reported event, or M_NOT_FOUND.
func (s *Service) EventReport(ctx context.Context, reportID string) (*StoredReport, error) {
	var pduJSON sql.NullString
	row := s.db.QueryRow(ctx, `SELECT `+reportColumns+`, e.pdu FROM event_reports r LEFT JOIN events e ON e.event_id = r.event_id
		WHERE r.id = $1`, reportID)
	r, err := scanReport(row, &pduJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, httpx.NotFound("Event report not found")
	} else if err != nil {
		return nil, err
	}
	if pduJSON.Valid {
		r.EventJSON = json.RawMessage(pduJSON.String)
	}
	if err := s.addRoomNames(ctx, &r, map[id.RoomID]*rooms.RoomDetails{}); err != nil {
		return nil, err
	}
	return &r, nil
}

// DeleteEventReport deletes a report, or returns M_NOT_FOUND.
func (s *Service) DeleteEventReport(ctx context.Context, reportID string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM event_reports WHERE id = $1`, reportID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return httpx.NotFound("Event report not found")
	}
	return nil
}

func scanReport(row interface{ Scan(...any) error }, extra ...any) (StoredReport, error) {
	var (
		r      StoredReport
		reason sql.NullString
		score  sql.NullInt64
	)
	dest := append([]any{&r.ID, &r.ReceivedTS, &r.RoomID, &r.EventID, &r.UserID, &r.Sender, &reason, &score}, extra...)
	if err := row.Scan(dest...); err != nil {
		return r, err
	}
	if reason.Valid {
		r.Reason = &reason.String
	}
	if score.Valid {
		r.Score = &score.Int64
	}
	return r, nil
}

// addRoomNames fills the room's name and canonical alias, remembering
// summaries across one listing.
func (s *Service) addRoomNames(ctx context.Context, r *StoredReport, seen map[id.RoomID]*rooms.RoomDetails) error {
	d, ok := seen[r.RoomID]
	if !ok {
		var err error
		d, err = s.rooms.RoomDetails(ctx, r.RoomID)
		if errors.Is(err, rooms.ErrUnknownRoom) {
			d = nil
		} else if err != nil {
			return err
		}
		seen[r.RoomID] = d
	}
	if d != nil {
		r.Name, r.CanonicalAlias = d.Name, d.CanonicalAlias
	}
	return nil
}

// Package jumptodate finds a room's event closest to a point in time (GET
// /rooms/{roomId}/timestamp_to_event, which clients call "jump to date").
//
// Like Synapse it orders a room's events by origin_server_ts, not by
// stream position: bridged history imported with massaged timestamps sits
// late in the stream but early in time. What the user may read is not
// decided here: every candidate goes through the sync service, the same
// membership and history_visibility rules /messages applies, so the two
// can never disagree. This package never writes.
package jumptodate

import (
	"context"
	"errors"
	"math"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// Timeline is what this package needs from the sync service, which owns
// the visibility rules of room history.
type Timeline interface {
	// Messages pages through a room as GET /messages does; it fails with
	// M_FORBIDDEN when the user may not read the room at all.
	Messages(ctx context.Context, req *gsync.MessagesRequest) ([]byte, error)
	// Event returns one event the user may see, M_NOT_FOUND for one they
	// may not, and M_FORBIDDEN when they may not read the room at all.
	Event(ctx context.Context, user id.UserID, device id.DeviceID, room id.RoomID, eventID id.EventID) ([]byte, error)
}

var _ Timeline = (*gsync.Service)(nil)

// MaxCandidates bounds how many events, nearest first, one request checks
// before it gives up. NOTSPEC: past this many events the user may not see
// (a user who joined a "joined"-visibility room asking for a time before
// their join) the answer is M_NOT_FOUND even if a visible event lies
// further on; without the bound one request could read a whole room.
const MaxCandidates = 200

// batch is how many candidates one query fetches; the first is nearly
// always visible.
const batch = 20

// Service answers timestamp_to_event.
type Service struct {
	db       *storage.DB
	timeline Timeline
}

// New returns a Service reading events from db and visibility from timeline.
func New(db *storage.DB, timeline Timeline) *Service {
	return &Service{db: db, timeline: timeline}
}

// Request is one timestamp_to_event question.
type Request struct {
	UserID   id.UserID
	DeviceID id.DeviceID
	RoomID   id.RoomID
	// TS is in milliseconds since the Unix epoch.
	TS int64
	// Forward looks for the first event at or after TS; otherwise the last
	// event at or before TS.
	Forward bool
}

// Result is the timestamp_to_event response.
type Result struct {
	EventID        id.EventID `json:"event_id"`
	OriginServerTS int64      `json:"origin_server_ts"`
}

// Find returns the event nearest to TS in the asked direction that the user
// may see: M_FORBIDDEN when the user may not read the room, M_NOT_FOUND
// when no such event exists. Events with equal timestamps are taken in
// stream order.
func (s *Service) Find(ctx context.Context, req Request) (*Result, error) {
	query, ts, pos := candidateQuery(req)
	for checked := 0; checked < MaxCandidates; {
		cands, err := s.candidates(ctx, query, req.RoomID, ts, pos)
		if err != nil {
			return nil, err
		}
		if checked == 0 && len(cands) == 0 {
			// Event, which checks room access, will not run: a page of no
			// events runs only that check, so an outsider learns nothing,
			// not even whether the room has history at that time.
			if _, err := s.timeline.Messages(ctx, &gsync.MessagesRequest{UserID: req.UserID, DeviceID: req.DeviceID, RoomID: req.RoomID}); err != nil {
				return nil, err
			}
		}
		for _, c := range cands[:min(len(cands), MaxCandidates-checked)] {
			ok, err := s.visible(ctx, req, c.EventID)
			if err != nil {
				return nil, err
			} else if ok {
				return &c.Result, nil
			}
			ts, pos = c.OriginServerTS, c.pos
			checked++
		}
		if len(cands) < batch {
			break
		}
	}
	dir := "backward"
	if req.Forward {
		dir = "forward"
	}
	return nil, httpx.NotFound("Unable to find event from %d in %s direction", req.TS, dir)
}

// candidateQuery returns the query for the next batch of candidates after
// a cursor (origin_ts, stream_pos), and the cursor to start from: just
// outside TS on the side the search comes from.
func candidateQuery(req Request) (query string, ts, pos int64) {
	if req.Forward {
		return `SELECT event_id, origin_ts, stream_pos FROM events
			WHERE room_id = $1 AND (origin_ts > $2 OR (origin_ts = $2 AND stream_pos > $3))
			ORDER BY origin_ts, stream_pos LIMIT $4`, req.TS, -1
	}
	return `SELECT event_id, origin_ts, stream_pos FROM events
		WHERE room_id = $1 AND (origin_ts < $2 OR (origin_ts = $2 AND stream_pos < $3))
		ORDER BY origin_ts DESC, stream_pos DESC LIMIT $4`, req.TS, math.MaxInt64
}

type candidate struct {
	Result
	pos int64
}

func (s *Service) candidates(ctx context.Context, query string, room id.RoomID, ts, pos int64) ([]candidate, error) {
	rows, err := s.db.Query(ctx, query, room, ts, pos, batch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.EventID, &c.OriginServerTS, &c.pos); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// visible asks the sync service whether the user may see one event.
func (s *Service) visible(ctx context.Context, req Request, eventID id.EventID) (bool, error) {
	_, err := s.timeline.Event(ctx, req.UserID, req.DeviceID, req.RoomID, eventID)
	var me *httpx.Error
	if errors.As(err, &me) && me.ErrCode == "M_NOT_FOUND" {
		return false, nil
	}
	return err == nil, err
}

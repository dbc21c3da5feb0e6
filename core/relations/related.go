package relations

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// Query selects a page of an event's relations.
type Query struct {
	RoomID  id.RoomID
	EventID id.EventID
	// RelType and EventType narrow the relations; EventType needs RelType.
	RelType   string
	EventType string
	// Dir is "b" (newest first, the default) or "f".
	Dir string
	// From and To are stream-position tokens (from /sync or an earlier page).
	From, To string
	// Limit is the page size: 0 means DefaultLimit, more than MaxLimit is capped.
	Limit int64
	// Recurse also returns relations of the relations, RecursionDepth deep.
	Recurse bool
}

// Page is the /relations response.
type Page struct {
	Chunk          []json.RawMessage `json:"chunk"`
	NextBatch      string            `json:"next_batch,omitempty"`
	PrevBatch      string            `json:"prev_batch,omitempty"`
	RecursionDepth int               `json:"recursion_depth,omitempty"`
}

// relCond keeps rows that are real relations: replies are not, and a
// redacted event lost its m.relates_to with the rest of its content. alias
// is the table prefix ("e.") or "".
func relCond(alias string) string {
	return alias + "rel_type IS NOT NULL AND " + alias + "rel_type <> 'm.in_reply_to' AND " + alias + "redacted_by IS NULL"
}

// Relations returns events relating to q.EventID in stream order, for a
// viewer allowed to read the room (see ReadLimit).
func (s *Service) Relations(ctx context.Context, viewer id.UserID, q Query) (*Page, error) {
	dir := q.Dir
	if dir == "" {
		dir = "b"
	}
	if dir != "b" && dir != "f" {
		return nil, httpx.InvalidParam("dir must be \"b\" or \"f\"")
	}
	limit, err := checkLimit(q.Limit, DefaultLimit)
	if err != nil {
		return nil, err
	}
	from, hasFrom, err := parsePos("from", q.From)
	if err != nil {
		return nil, err
	}
	to, hasTo, err := parsePos("to", q.To)
	if err != nil {
		return nil, err
	}
	readLimit, err := s.ReadLimit(ctx, q.RoomID, viewer)
	if err != nil {
		return nil, err
	}
	if _, err := s.parentEvent(ctx, q.RoomID, q.EventID, readLimit); err != nil {
		return nil, err
	}

	args := []any{q.EventID, q.RoomID}
	var where []string
	cond := func(expr string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(expr, "?", "$"+strconv.Itoa(len(args))))
	}
	var sqlText string
	if q.Recurse {
		sqlText = `WITH RECURSIVE rel (event_id, lvl) AS (
				SELECT event_id, 1 FROM events WHERE relates_to = $1 AND room_id = $2 AND ` + relCond("") + `
				UNION ALL
				SELECT e.event_id, rel.lvl + 1 FROM rel JOIN events e ON e.relates_to = rel.event_id
				WHERE rel.lvl < ` + strconv.Itoa(RecursionDepth) + ` AND e.room_id = $2 AND ` + relCond("e.") + `
			)
			SELECT e.stream_pos, e.event_id, e.sender, e.client, e.origin_ts FROM rel JOIN events e ON e.event_id = rel.event_id
			WHERE TRUE`
	} else {
		sqlText = `SELECT e.stream_pos, e.event_id, e.sender, e.client, e.origin_ts FROM events e
			WHERE e.relates_to = $1 AND e.room_id = $2 AND ` + relCond("e.")
	}
	if q.RelType != "" {
		cond("e.rel_type = ?", q.RelType)
	}
	if q.EventType != "" {
		cond("e.type = ?", q.EventType)
	}
	if readLimit != math.MaxInt64 {
		cond("e.stream_pos <= ?", readLimit)
	}
	order := "DESC"
	if dir == "b" {
		if hasFrom {
			cond("e.stream_pos <= ?", from)
		}
		if hasTo {
			cond("e.stream_pos > ?", to)
		}
	} else {
		order = "ASC"
		if hasFrom {
			cond("e.stream_pos > ?", from)
		}
		if hasTo {
			cond("e.stream_pos <= ?", to)
		}
	}
	for _, w := range where {
		sqlText += " AND " + w
	}
	args = append(args, limit+1)
	sqlText += " ORDER BY e.stream_pos " + order + " LIMIT $" + strconv.Itoa(len(args))

	evs, err := s.queryEvents(ctx, sqlText, args...)
	if err != nil {
		return nil, err
	}
	page := &Page{Chunk: []json.RawMessage{}}
	if q.Recurse {
		page.RecursionDepth = RecursionDepth
	}
	if hasFrom {
		page.PrevBatch = q.From
	}
	if len(evs) > limit {
		evs = evs[:limit]
		last := evs[len(evs)-1].pos
		if dir == "b" {
			page.NextBatch = formatPos(last - 1)
		} else {
			page.NextBatch = formatPos(last)
		}
	}
	for _, ev := range evs {
		out, err := s.render(ev, nil)
		if err != nil {
			return nil, err
		}
		page.Chunk = append(page.Chunk, out)
	}
	return page, nil
}

func (s *Service) queryEvents(ctx context.Context, query string, args ...any) ([]storedEvent, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var ev storedEvent
		var client string
		if err := rows.Scan(&ev.pos, &ev.eventID, &ev.sender, &client, &ev.originTS); err != nil {
			return nil, err
		}
		ev.client = []byte(client)
		out = append(out, ev)
	}
	return out, rows.Err()
}

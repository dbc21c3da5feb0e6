package sync

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// evRow is one stored event as /sync and the room read endpoints need it.
// client is the stored client JSON without "unsigned".
type evRow struct {
	pos        int64
	id         string
	room       string
	typ        string
	stateKey   *string
	sender     string
	ts         int64
	membership string
	client     []byte
	redactedBy string
	// relType is the event's own relation type ("" for none); redaction
	// clears it.
	relType string
}

func (e *evRow) isState() bool { return e.stateKey != nil }

// evCols are the columns scanEvent reads, qualified with the events alias e.
const evCols = `e.stream_pos, e.event_id, e.room_id, e.type, e.state_key, e.sender, e.origin_ts, e.membership, e.client, e.redacted_by, e.rel_type`

func scanEvent(rows *sql.Rows, extra ...any) (*evRow, error) {
	var ev evRow
	var sk, membership, redactedBy, relType sql.NullString
	dest := append([]any{&ev.pos, &ev.id, &ev.room, &ev.typ, &sk, &ev.sender, &ev.ts, &membership, &ev.client, &redactedBy, &relType}, extra...)
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	if sk.Valid {
		s := sk.String
		ev.stateKey = &s
	}
	ev.membership, ev.redactedBy, ev.relType = membership.String, redactedBy.String, relType.String
	return &ev, nil
}

// queryEvents runs a query selecting evCols (plus extra columns) and scans all rows.
func (s *Service) queryEvents(ctx context.Context, query string, args ...any) ([]*evRow, error) {
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	var out []*evRow
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// maxUnion bounds how many sub-selects one UNION ALL query has (SQLite's
// default limit on compound selects is 500).
const maxUnion = 100

// maxIn bounds the length of one IN list.
const maxIn = 500

// window is a range of one room's timeline: positions in (lo, hi].
type window struct {
	room   string
	lo, hi int64
	limit  int
}

// latestInWindows fetches the newest limit events of each window (newest
// first within each room), with one query per maxUnion windows. Each
// sub-select walks the (room_id, stream_pos) index backwards from hi.
func (s *Service) latestInWindows(ctx context.Context, ws []window, f *RoomEventFilter) (map[string][]*evRow, error) {
	out := make(map[string][]*evRow, len(ws))
	for start := 0; start < len(ws); start += maxUnion {
		chunk := ws[start:min(start+maxUnion, len(ws))]
		var q strings.Builder
		var args []any
		for i, w := range chunk {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			n := len(args)
			args = append(args, w.room, w.lo, w.hi)
			clause := ""
			if f != nil {
				var extra []any
				clause, extra = f.sqlClause(len(args) + 1)
				args = append(args, extra...)
			}
			fmt.Fprintf(&q, `SELECT * FROM (SELECT %s FROM events e WHERE e.room_id = $%d AND e.stream_pos > $%d AND e.stream_pos <= $%d%s ORDER BY e.stream_pos DESC LIMIT %d) AS t%d`,
				evCols, n+1, n+2, n+3, clause, w.limit, i)
		}
		evs, err := s.queryEvents(ctx, q.String(), args...)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			out[ev.room] = append(out[ev.room], ev)
		}
	}
	return out, nil
}

// inArgs renders an IN list of strings starting at parameter next.
func inArgs[T ~string](next int, values []T) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = string(v)
	}
	return storage.Placeholders(next, len(values)), args
}

// chunks splits values into slices of at most n.
func chunks[T any](values []T, n int) [][]T {
	var out [][]T
	for len(values) > n {
		out = append(out, values[:n])
		values = values[n:]
	}
	if len(values) > 0 {
		out = append(out, values)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

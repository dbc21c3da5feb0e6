package todevice

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// ForSync returns the to-device events a /sync covering (since, upto]
// delivers to the device, oldest first and at most Options.BatchSize. It
// first deletes what the client acknowledged by coming back with since,
// then marks what it returns as delivered in upto. A /sync that is computed
// again (a long poll, a retried request) returns the same unacknowledged
// messages again.
func (s *Service) ForSync(ctx context.Context, userID id.UserID, deviceID id.DeviceID, since, upto int64) ([]json.RawMessage, error) {
	if deviceID == "" {
		return nil, nil
	}
	if since > 0 {
		if err := s.ack(ctx, userID, deviceID, since); err != nil {
			return nil, err
		}
	}
	rows, err := s.db.Query(ctx, `SELECT stream_pos, seq, event, delivered_in FROM to_device_messages
		WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3 ORDER BY stream_pos, seq LIMIT $4`,
		userID, deviceID, upto, s.opts.BatchSize)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out              []json.RawMessage
		lastPos, lastSeq int64
		unmarked         bool
	)
	for rows.Next() {
		var ev string
		var delivered sql.NullInt64
		if err := rows.Scan(&lastPos, &lastSeq, &ev, &delivered); err != nil {
			return nil, err
		}
		unmarked = unmarked || !delivered.Valid
		out = append(out, json.RawMessage(ev))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if unmarked {
		_, err = s.db.Exec(ctx, `UPDATE to_device_messages SET delivered_in = $3
			WHERE user_id = $1 AND device_id = $2 AND delivered_in IS NULL
			AND (stream_pos < $4 OR (stream_pos = $4 AND seq <= $5))`,
			userID, deviceID, upto, lastPos, lastSeq)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ack deletes the messages a /sync at or before since delivered. The read
// first keeps the common case (nothing to acknowledge) off the writer.
func (s *Service) ack(ctx context.Context, userID id.UserID, deviceID id.DeviceID, since int64) error {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM to_device_messages WHERE user_id = $1 AND device_id = $2
		AND delivered_in IS NOT NULL AND delivered_in <= $3 LIMIT 1`, userID, deviceID, since).Scan(&one)
	if err == sql.ErrNoRows {
		return nil
	} else if err != nil {
		return err
	}
	_, err = s.db.Exec(ctx, `DELETE FROM to_device_messages WHERE user_id = $1 AND device_id = $2
		AND delivered_in IS NOT NULL AND delivered_in <= $3`, userID, deviceID, since)
	return err
}

// Cursor is a position in one device's queue: the last message read.
type Cursor struct {
	Pos, Seq int64
}

// String renders the cursor as an opaque next_batch token.
func (c Cursor) String() string { return fmt.Sprintf("d%d_%d", c.Pos, c.Seq) }

// ParseCursor parses a token from Cursor.String; "" is the start.
func ParseCursor(tok string) (Cursor, error) {
	if tok == "" {
		return Cursor{Pos: 0, Seq: -1}, nil
	}
	rest, ok := strings.CutPrefix(tok, "d")
	pos, seq, ok2 := strings.Cut(rest, "_")
	p, err1 := strconv.ParseInt(pos, 10, 64)
	q, err2 := strconv.ParseInt(seq, 10, 64)
	if !ok || !ok2 || err1 != nil || err2 != nil || p < 0 {
		return Cursor{}, httpx.InvalidParam("Invalid next_batch token")
	}
	return Cursor{Pos: p, Seq: q}, nil
}

// Peek returns up to Options.BatchSize messages after cur without
// acknowledging anything (MSC3814: a rehydrating client may be interrupted
// and another must be able to start over), and the cursor to continue from.
func (s *Service) Peek(ctx context.Context, userID id.UserID, deviceID id.DeviceID, cur Cursor) ([]json.RawMessage, Cursor, error) {
	rows, err := s.db.Query(ctx, `SELECT stream_pos, seq, event FROM to_device_messages
		WHERE user_id = $1 AND device_id = $2 AND (stream_pos > $3 OR (stream_pos = $3 AND seq > $4))
		ORDER BY stream_pos, seq LIMIT $5`, userID, deviceID, cur.Pos, cur.Seq, s.opts.BatchSize)
	if err != nil {
		return nil, cur, err
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var ev string
		if err := rows.Scan(&cur.Pos, &cur.Seq, &ev); err != nil {
			return nil, cur, err
		}
		out = append(out, json.RawMessage(ev))
	}
	return out, cur, rows.Err()
}

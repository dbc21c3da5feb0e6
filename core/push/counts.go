package push

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/tidwall/gjson"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Counts are a room's unread notification counts.
type Counts struct {
	Notifications int64
	Highlights    int64
}

// UnreadCounts returns the counts of those of rooms where the user has
// unread notifications; rooms without an entry have none.
func (s *Service) UnreadCounts(ctx context.Context, user id.UserID, rooms []id.RoomID) (map[id.RoomID]Counts, error) {
	out := map[id.RoomID]Counts{}
	const maxIn = 500
	for start := 0; start < len(rooms); start += maxIn {
		chunk := rooms[start:min(start+maxIn, len(rooms))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, user)
		for _, r := range chunk {
			args = append(args, r)
		}
		rows, err := s.db.Query(ctx, `SELECT room_id, notifs, highlights FROM notification_counts
			WHERE user_id = $1 AND notifs > 0 AND room_id IN (`+storage.Placeholders(2, len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var room id.RoomID
			var c Counts
			if err := rows.Scan(&room, &c.Notifications, &c.Highlights); err != nil {
				rows.Close()
				return nil, err
			}
			out[room] = c
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recountLimit bounds how many events a read receipt far behind the newest
// notification re-evaluates; older unread events then no longer count.
// NOTSPEC: the spec wants exact counts; this trades them for a bounded
// cost on the receipt's commit path in rooms with thousands unread.
const recountLimit = 1000

// MarkRead takes the user's notifications up to and including the event at
// position upTo off their counts: a receipt at or past the newest
// notification zeroes them, an earlier one recounts the events after it.
// It runs inside the receipt's transaction; register it with
// receipts.Service.OnRead (which also passes the receipt's position, unused).
func (s *Service) MarkRead(ctx context.Context, tx *storage.Tx, user id.UserID, room id.RoomID, upTo, _ int64) error {
	if err := flushCounts(ctx, tx); err != nil {
		return err
	}
	var lastPos int64
	err := tx.QueryRow(ctx, `SELECT last_pos FROM notification_counts WHERE room_id = $1 AND user_id = $2`,
		room, user).Scan(&lastPos)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	if upTo >= lastPos {
		return clearCounts(ctx, tx, user, room)
	}
	notifs, highlights, err := s.recount(ctx, tx, user, room, upTo, lastPos)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE notification_counts SET notifs = $3, highlights = $4 WHERE room_id = $1 AND user_id = $2`,
		room, user, notifs, highlights)
	return err
}

// recount evaluates the user's rules for the events in (after, upTo].
// Room state (display name, member count) is taken as it is now.
func (s *Service) recount(ctx context.Context, tx *storage.Tx, user id.UserID, room id.RoomID, after, upTo int64) (notifs, highlights int64, err error) {
	info, err := s.roomInfo(ctx, tx, room)
	if err != nil {
		return 0, 0, err
	}
	rules, err := s.rulesFor(ctx, tx, user)
	if err != nil {
		return 0, 0, err
	}
	rows, err := tx.Query(ctx, `SELECT type, state_key, sender, client FROM events
		WHERE room_id = $1 AND stream_pos > $2 AND stream_pos <= $3 AND sender <> $4
		ORDER BY stream_pos DESC LIMIT `+strconv.Itoa(recountLimit), room, after, upTo, user)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	m := member{displayName: info.members[user]}
	for rows.Next() {
		var typ, sender string
		var stateKey sql.NullString
		var client []byte
		if err := rows.Scan(&typ, &stateKey, &sender, &client); err != nil {
			return 0, 0, err
		}
		view := &eventView{typ: typ, sender: sender, roomID: room.String(), content: []byte(gjson.GetBytes(client, "content").Raw)}
		if stateKey.Valid {
			view.stateKey = &stateKey.String
		}
		if n, h := rules.eval(view, info, m); n {
			notifs++
			if h {
				highlights++
			}
		}
	}
	return notifs, highlights, rows.Err()
}

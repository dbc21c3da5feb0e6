package receipts

import (
	"context"
	"encoding/json"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// maxIn bounds the size of one IN list.
const maxIn = 500

type userReceipt struct {
	TS       int64  `json:"ts"`
	ThreadID string `json:"thread_id,omitempty"`
}

// Since returns, per room, the content of an m.receipt event holding the
// receipts that changed after since (all receipts when since is 0).
// Private receipts are only included for viewer.
func (s *Service) Since(ctx context.Context, rooms []id.RoomID, since int64, viewer id.UserID) (map[id.RoomID]json.RawMessage, error) {
	// content: event ID -> receipt type -> user -> receipt
	byRoom := map[id.RoomID]map[string]map[string]map[string]userReceipt{}
	for start := 0; start < len(rooms); start += maxIn {
		chunk := rooms[start:min(start+maxIn, len(rooms))]
		args := make([]any, 0, len(chunk)+2)
		args = append(args, since, viewer)
		for _, r := range chunk {
			args = append(args, r)
		}
		rows, err := s.db.Query(ctx, `
			SELECT room_id, receipt_type, user_id, thread_id, event_id, ts FROM receipts
			WHERE stream_pos > $1 AND (receipt_type <> 'm.read.private' OR user_id = $2)
			AND room_id IN (`+storage.Placeholders(3, len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var room id.RoomID
			var typ, user, thread, eventID string
			var ts int64
			if err := rows.Scan(&room, &typ, &user, &thread, &eventID, &ts); err != nil {
				rows.Close()
				return nil, err
			}
			content := byRoom[room]
			if content == nil {
				content = map[string]map[string]map[string]userReceipt{}
				byRoom[room] = content
			}
			types := content[eventID]
			if types == nil {
				types = map[string]map[string]userReceipt{}
				content[eventID] = types
			}
			users := types[typ]
			if users == nil {
				users = map[string]userReceipt{}
				types[typ] = users
			}
			users[user] = userReceipt{TS: ts, ThreadID: thread}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	out := make(map[id.RoomID]json.RawMessage, len(byRoom))
	for room, content := range byRoom {
		raw, err := json.Marshal(content)
		if err != nil {
			return nil, err
		}
		out[room] = raw
	}
	return out, nil
}

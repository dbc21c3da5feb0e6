// Package accountdata stores per-user account data, global and per room,
// written through the stream writer so each change reaches the user's
// clients in /sync. It does not decide which types clients may set (the
// HTTP layer refuses server-managed types) and does not render /sync.
package accountdata

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Service reads and writes account data.
type Service struct {
	db *storage.DB
	w  *stream.Writer
}

// New returns the account data service.
func New(db *storage.DB, w *stream.Writer) *Service { return &Service{db: db, w: w} }

// Item is one account data event.
type Item struct {
	Type    string
	Content json.RawMessage
}

// Set stores content (a JSON object) as the user's account data of type
// typ, global when room is "". Only the user's own /sync is woken.
func (s *Service) Set(ctx context.Context, user id.UserID, room id.RoomID, typ string, content json.RawMessage) error {
	_, err := s.w.Submit(ctx, stream.Change{Kind: stream.KindAccountData, UserIDs: []string{user.String()}},
		func(ctx context.Context, tx *storage.Tx, pos int64) error {
			return Write(ctx, tx, user, room, typ, content, pos)
		})
	return err
}

// Write stores account data inside an existing stream transaction at pos,
// for services that change account data as part of a larger write.
func Write(ctx context.Context, tx *storage.Tx, user id.UserID, room id.RoomID, typ string, content json.RawMessage, pos int64) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO account_data (user_id, room_id, type, content, stream_pos) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_pos = excluded.stream_pos`,
		user, room, typ, string(content), pos)
	return err
}

// Get returns one account data content, or M_NOT_FOUND.
func (s *Service) Get(ctx context.Context, user id.UserID, room id.RoomID, typ string) (json.RawMessage, error) {
	var content string
	err := s.db.QueryRow(ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`,
		user, room, typ).Scan(&content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, httpx.NotFound("Account data not found")
	} else if err != nil {
		return nil, err
	}
	return json.RawMessage(content), nil
}

// Since returns the account data changed after since (all of it when since
// is 0): global items and items per room.
func (s *Service) Since(ctx context.Context, user id.UserID, since int64) ([]Item, map[id.RoomID][]Item, error) {
	rows, err := s.db.Query(ctx, `
		SELECT room_id, type, content FROM account_data WHERE user_id = $1 AND stream_pos > $2
		ORDER BY stream_pos`, user, since)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var global []Item
	rooms := map[id.RoomID][]Item{}
	for rows.Next() {
		var room id.RoomID
		var it Item
		var content string
		if err := rows.Scan(&room, &it.Type, &content); err != nil {
			return nil, nil, err
		}
		it.Content = json.RawMessage(content)
		if room == "" {
			global = append(global, it)
		} else {
			rooms[room] = append(rooms[room], it)
		}
	}
	return global, rooms, rows.Err()
}

package backup

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// KeyData is one session's entry in a backup (KeyBackupData).
type KeyData struct {
	FirstMessageIndex int64           `json:"first_message_index"`
	ForwardedCount    int64           `json:"forwarded_count"`
	IsVerified        bool            `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

// ParseKeyData validates one KeyBackupData object: every field is required.
func ParseKeyData(raw json.RawMessage) (*KeyData, error) {
	var in struct {
		FirstMessageIndex *int64          `json:"first_message_index"`
		ForwardedCount    *int64          `json:"forwarded_count"`
		IsVerified        *bool           `json:"is_verified"`
		SessionData       json.RawMessage `json:"session_data"`
	}
	if err := httpx.DecodeBytes(raw, &in); err != nil {
		return nil, err
	}
	if in.FirstMessageIndex == nil || in.ForwardedCount == nil || in.IsVerified == nil {
		return nil, httpx.MissingParam("Key backup data needs first_message_index, forwarded_count and is_verified")
	}
	if *in.FirstMessageIndex < 0 || *in.ForwardedCount < 0 {
		return nil, httpx.InvalidParam("first_message_index and forwarded_count cannot be negative")
	}
	if d := bytes.TrimSpace(in.SessionData); len(d) == 0 || d[0] != '{' {
		return nil, httpx.MissingParam("session_data must be a JSON object")
	}
	compact, err := compactJSON(in.SessionData)
	if err != nil {
		return nil, err
	}
	return &KeyData{FirstMessageIndex: *in.FirstMessageIndex, ForwardedCount: *in.ForwardedCount,
		IsVerified: *in.IsVerified, SessionData: json.RawMessage(compact)}, nil
}

// better reports whether k should replace old: verified beats unverified,
// then the lower first_message_index (it decrypts more), then the lower
// forwarded_count (fewer hops).
func (k *KeyData) better(old *KeyData) bool {
	if k.IsVerified != old.IsVerified {
		return k.IsVerified
	}
	if k.FirstMessageIndex != old.FirstMessageIndex {
		return k.FirstMessageIndex < old.FirstMessageIndex
	}
	return k.ForwardedCount < old.ForwardedCount
}

// Keys maps room ID -> session ID -> key data.
type Keys map[id.RoomID]map[string]*KeyData

// PutKeys stores keys in the current version, keeping the better copy of
// each session, and returns the version's key count and etag.
func (s *Service) PutKeys(ctx context.Context, user id.UserID, version string, keys Keys) (int64, string, error) {
	var count, etag int64
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		n, err := s.checkCurrent(ctx, tx, user, version)
		if err != nil {
			return err
		}
		changed := false
		rooms := make([]id.RoomID, 0, len(keys))
		for r := range keys {
			rooms = append(rooms, r)
		}
		slices.Sort(rooms)
		for _, room := range rooms {
			c, err := putRoom(ctx, tx, user, n, room, keys[room])
			if err != nil {
				return err
			}
			changed = changed || c
		}
		if changed {
			if _, err := tx.Exec(ctx, `UPDATE e2e_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2`, user, n); err != nil {
				return err
			}
		}
		return countAndEtag(ctx, tx, user, n, &count, &etag)
	})
	return count, strconv.FormatInt(etag, 10), err
}

// checkCurrent returns the version number if it is the current version.
func (s *Service) checkCurrent(ctx context.Context, tx *storage.Tx, user id.UserID, version string) (int64, error) {
	cur, err := s.current(ctx, tx, user)
	if err != nil {
		return 0, err
	}
	n, ok := parseVersion(version)
	if cur == 0 {
		return 0, errUnknownVersion()
	}
	if !ok || n != cur {
		var exists int
		err := tx.QueryRow(ctx, `SELECT 1 FROM e2e_backup_versions WHERE user_id = $1 AND version = $2 AND deleted = FALSE`, user, n).Scan(&exists)
		if !ok || errors.Is(err, sql.ErrNoRows) {
			return 0, errUnknownVersion()
		} else if err != nil {
			return 0, err
		}
		return 0, WrongVersion(strconv.FormatInt(cur, 10))
	}
	return n, nil
}

func putRoom(ctx context.Context, tx *storage.Tx, user id.UserID, version int64, room id.RoomID, sessions map[string]*KeyData) (bool, error) {
	ids := make([]string, 0, len(sessions))
	for sid := range sessions {
		ids = append(ids, sid)
	}
	slices.Sort(ids)
	existing := map[string]*KeyData{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := []any{user, version, room}
		for _, sid := range chunk {
			args = append(args, sid)
		}
		rows, err := tx.Query(ctx, `SELECT session_id, first_message_index, forwarded_count, is_verified FROM e2e_backup_keys
			WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id IN (`+storage.Placeholders(4, len(chunk))+`)`, args...)
		if err != nil {
			return false, err
		}
		for rows.Next() {
			var sid string
			var k KeyData
			if err := rows.Scan(&sid, &k.FirstMessageIndex, &k.ForwardedCount, &k.IsVerified); err != nil {
				rows.Close()
				return false, err
			}
			existing[sid] = &k
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return false, err
		}
	}
	changed := false
	for _, sid := range ids {
		k := sessions[sid]
		if old, ok := existing[sid]; ok && !k.better(old) {
			continue
		}
		_, err := tx.Exec(ctx, `INSERT INTO e2e_backup_keys (user_id, version, room_id, session_id, first_message_index,
			forwarded_count, is_verified, session_data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET first_message_index = excluded.first_message_index,
			forwarded_count = excluded.forwarded_count, is_verified = excluded.is_verified, session_data = excluded.session_data`,
			user, version, room, sid, k.FirstMessageIndex, k.ForwardedCount, k.IsVerified, string(k.SessionData))
		if err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}

func countAndEtag(ctx context.Context, tx *storage.Tx, user id.UserID, version int64, count, etag *int64) error {
	return tx.QueryRow(ctx, `SELECT etag, (SELECT COUNT(*) FROM e2e_backup_keys k WHERE k.user_id = v.user_id AND k.version = v.version)
		FROM e2e_backup_versions v WHERE user_id = $1 AND version = $2`, user, version).Scan(etag, count)
}

// existing returns the number of an undeleted version.
func (s *Service) existing(ctx context.Context, version string, user id.UserID) (int64, error) {
	n, ok := parseVersion(version)
	if !ok {
		return 0, errUnknownVersion()
	}
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM e2e_backup_versions WHERE user_id = $1 AND version = $2 AND deleted = FALSE`, user, n).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errUnknownVersion()
	}
	return n, err
}

// Selector narrows a key read or delete to a room, or to one session of it.
type Selector struct {
	RoomID    id.RoomID
	SessionID string
}

func (sel Selector) where(args []any) (string, []any) {
	q := ""
	if sel.RoomID != "" {
		args = append(args, sel.RoomID)
		q += " AND room_id = $" + strconv.Itoa(len(args))
	}
	if sel.SessionID != "" {
		args = append(args, sel.SessionID)
		q += " AND session_id = $" + strconv.Itoa(len(args))
	}
	return q, args
}

// GetKeys returns the selected keys of a version as the spec's JSON:
// {"rooms":{...}} for all keys, {"sessions":{...}} for a room, and the
// key data itself for one session (M_NOT_FOUND when absent).
func (s *Service) GetKeys(ctx context.Context, user id.UserID, version string, sel Selector) (json.RawMessage, error) {
	n, err := s.existing(ctx, version, user)
	if err != nil {
		return nil, err
	}
	where, args := sel.where([]any{user, n})
	rows, err := s.db.Query(ctx, `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data
		FROM e2e_backup_keys WHERE user_id = $1 AND version = $2`+where+` ORDER BY room_id, session_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	w := &keysWriter{depth: sel.depth()}
	for rows.Next() {
		var room, sid, data string
		var k KeyData
		if err := rows.Scan(&room, &sid, &k.FirstMessageIndex, &k.ForwardedCount, &k.IsVerified, &data); err != nil {
			return nil, err
		}
		k.SessionData = json.RawMessage(data)
		if err := w.add(room, sid, &k); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if sel.SessionID != "" && w.n == 0 {
		return nil, httpx.NotFound("Key not found.")
	}
	return w.finish(), nil
}

// DeleteKeys deletes the selected keys of a version and returns its key
// count and etag.
func (s *Service) DeleteKeys(ctx context.Context, user id.UserID, version string, sel Selector) (int64, string, error) {
	n, err := s.existing(ctx, version, user)
	if err != nil {
		return 0, "", err
	}
	var count, etag int64
	err = s.db.InTx(ctx, func(tx *storage.Tx) error {
		where, args := sel.where([]any{user, n})
		res, err := tx.Exec(ctx, `DELETE FROM e2e_backup_keys WHERE user_id = $1 AND version = $2`+where, args...)
		if err != nil {
			return err
		}
		if deleted, _ := res.RowsAffected(); deleted > 0 {
			if _, err := tx.Exec(ctx, `UPDATE e2e_backup_versions SET etag = etag + 1 WHERE user_id = $1 AND version = $2`, user, n); err != nil {
				return err
			}
		}
		return countAndEtag(ctx, tx, user, n, &count, &etag)
	})
	return count, strconv.FormatInt(etag, 10), err
}

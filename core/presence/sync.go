package presence

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"maunium.net/go/mautrix/id"
)

// sharedUsers is the set of users joined to a room the user is joined to.
const sharedUsers = `
	SELECT b.state_key FROM current_state a JOIN current_state b ON b.room_id = a.room_id
	WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'
	AND b.type = 'm.room.member' AND b.membership = 'join'`

// audience lists who must be woken by the user's presence change.
func (s *Service) audience(ctx context.Context, user id.UserID) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT state_key FROM (`+sharedUsers+`) AS shared`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{user.String()}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		if u != user.String() {
			out = append(out, u)
		}
	}
	return out, rows.Err()
}

// CanSee reports whether viewer may see user's presence: themselves or a
// user sharing a room.
func (s *Service) CanSee(ctx context.Context, viewer, user id.UserID) (bool, error) {
	if viewer == user {
		return true, nil
	}
	var one int
	err := s.db.QueryRow(ctx, `
		SELECT 1 FROM current_state a JOIN current_state b ON b.room_id = a.room_id
		WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'
		AND b.type = 'm.room.member' AND b.state_key = $2 AND b.membership = 'join' LIMIT 1`, viewer, user).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

// Content renders st as m.presence content.
func (s *Service) Content(st Status) map[string]any {
	now := s.now().UnixMilli()
	c := map[string]any{"presence": st.State}
	if st.LastActiveTS > 0 {
		ago := max(now-st.LastActiveTS, 0)
		c["last_active_ago"] = ago
		c["currently_active"] = st.State == Online && ago < ActiveWindow.Milliseconds()
	}
	if st.StatusMsg != nil {
		c["status_msg"] = *st.StatusMsg
	}
	return c
}

// Since returns m.presence events for the viewer and the users sharing a
// room with them whose presence changed after since (all when since is 0).
// An incremental sync first reads the few rows that changed and only then
// checks who of them shares a room, so a quiet server costs one index probe.
func (s *Service) Since(ctx context.Context, viewer id.UserID, since int64) ([]json.RawMessage, error) {
	var rows *sql.Rows
	var err error
	if since == 0 {
		rows, err = s.db.Query(ctx, `
			SELECT user_id, state, status_msg, last_active_ts FROM presence
			WHERE user_id = $1 OR user_id IN (`+sharedUsers+`) ORDER BY stream_pos`, viewer)
	} else {
		rows, err = s.db.Query(ctx, `
			SELECT user_id, state, status_msg, last_active_ts FROM presence
			WHERE stream_pos > $1 ORDER BY stream_pos`, since)
	}
	if err != nil {
		return nil, err
	}
	type row struct {
		user string
		st   Status
	}
	var got []row
	for rows.Next() {
		var r row
		var msg sql.NullString
		if err := rows.Scan(&r.user, &r.st.State, &msg, &r.st.LastActiveTS); err != nil {
			rows.Close()
			return nil, err
		}
		if msg.Valid {
			r.st.StatusMsg = &msg.String
		}
		got = append(got, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil || len(got) == 0 {
		return nil, err
	}
	var visible map[string]bool
	if since > 0 {
		if visible, err = s.shared(ctx, viewer); err != nil {
			return nil, err
		}
	}
	var out []json.RawMessage
	for _, r := range got {
		if visible != nil && !visible[r.user] {
			continue
		}
		raw, err := json.Marshal(map[string]any{"type": "m.presence", "sender": r.user, "content": s.Content(r.st)})
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// shared returns the viewer and everyone sharing a room with them.
func (s *Service) shared(ctx context.Context, viewer id.UserID) (map[string]bool, error) {
	users, err := s.audience(ctx, viewer)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(users))
	for _, u := range users {
		out[u] = true
	}
	return out, nil
}

// sweep marks users offline who stopped syncing.
func (s *Service) sweep() {
	defer close(s.done)
	t := time.NewTicker(IdleTimeout / 3)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweepOnce()
		}
	}
}

func (s *Service) sweepOnce() {
	now := s.now()
	var idle []id.UserID
	s.mu.Lock()
	for user, c := range s.users {
		if now.Sub(c.lastSeen) > IdleTimeout && !c.writing {
			if c.State != Offline {
				idle = append(idle, user)
			}
			delete(s.users, user)
		}
	}
	s.mu.Unlock()
	for _, user := range idle {
		s.mu.Lock()
		_, back := s.users[user]
		s.mu.Unlock()
		if back {
			continue // synced again meanwhile
		}
		st, err := s.load(context.Background(), user)
		if err != nil || st.State == Offline {
			continue
		}
		st.State = Offline
		if err := s.write(context.Background(), user, st); err != nil {
			s.log.Warn().Err(err).Stringer("user_id", user).Msg("Failed to mark idle user offline")
		}
	}
}

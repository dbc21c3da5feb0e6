package sync

import (
	"context"
	"database/sql"
	"errors"
)

// membership is the user's membership of one room at some position: the
// membership value and the position of the member event that set it.
type membership struct {
	room  string
	value string
	pos   int64
}

// membershipsAt returns the user's membership of every room they have one
// in, as of position upto. current_state is newer than upto only for rooms
// whose membership changed while this sync was being computed; those few
// are looked up in events.
func (s *Service) membershipsAt(ctx context.Context, user string, upto int64) ([]membership, error) {
	rows, err := s.db.Query(ctx, `SELECT room_id, membership, stream_pos FROM current_state
		WHERE type = 'm.room.member' AND state_key = $1`, user)
	if err != nil {
		return nil, err
	}
	var out []membership
	var newer []string
	for rows.Next() {
		var m membership
		var value sql.NullString
		if err := rows.Scan(&m.room, &value, &m.pos); err != nil {
			rows.Close()
			return nil, err
		}
		m.value = value.String
		if m.pos > upto {
			newer = append(newer, m.room)
			continue
		}
		out = append(out, m)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, err
	}
	if len(newer) > 0 {
		old, err := s.membershipsBefore(ctx, user, newer, upto+1)
		if err != nil {
			return nil, err
		}
		for _, r := range newer {
			if m, ok := old[r]; ok {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// membershipsBefore returns the user's membership in each room as of just
// before position pos (rooms without one are absent).
func (s *Service) membershipsBefore(ctx context.Context, user string, rooms []string, pos int64) (map[string]membership, error) {
	out := map[string]membership{}
	for _, chunk := range chunks(rooms, maxIn) {
		in, args := inArgs(3, chunk)
		rows, err := s.db.Query(ctx, `SELECT room_id, membership, stream_pos FROM events
			WHERE type = 'm.room.member' AND state_key = $1 AND stream_pos < $2 AND room_id IN (`+in+`)`,
			append([]any{user, pos}, args...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var m membership
			var value sql.NullString
			if err := rows.Scan(&m.room, &value, &m.pos); err != nil {
				rows.Close()
				return nil, err
			}
			m.value = value.String
			if cur, ok := out[m.room]; !ok || m.pos > cur.pos {
				out[m.room] = m
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// membershipAt returns the user's membership of one room just after
// position pos ("" when none).
func (s *Service) membershipAt(ctx context.Context, user, room string, pos int64) (membership, error) {
	var m membership
	var value sql.NullString
	err := s.db.QueryRow(ctx, `SELECT membership, stream_pos FROM events
		WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2 AND stream_pos <= $3
		ORDER BY stream_pos DESC LIMIT 1`, room, user, pos).Scan(&value, &m.pos)
	if errors.Is(err, sql.ErrNoRows) {
		return membership{room: room}, nil
	}
	m.room, m.value = room, value.String
	return m, err
}

// forgotten returns the rooms the user forgot.
func (s *Service) forgotten(ctx context.Context, user string) (map[string]bool, error) {
	rows, err := s.db.Query(ctx, `SELECT room_id FROM forgotten_rooms WHERE user_id = $1`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out[r] = true
	}
	return out, rows.Err()
}

// activeRooms returns the rooms with events in (since, upto], or nil when
// the range is too long to scan (the caller then checks every room).
func (s *Service) activeRooms(ctx context.Context, since, upto int64) (map[string]bool, error) {
	const maxScan = 2000
	if upto-since > maxScan {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, `SELECT DISTINCT room_id FROM events WHERE stream_pos > $1 AND stream_pos <= $2`, since, upto)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out[r] = true
	}
	return out, rows.Err()
}

package sync

import (
	"context"
	"database/sql"
)

// summary is a joined room's m.heroes and member counts.
type summary struct {
	heroes  []string
	joined  int64
	invited int64
}

// summaries computes room summaries from current_state in two queries:
// counts per membership, and the first five other members by stream order
// (joined or invited first, else those who left).
func (s *Service) summaries(ctx context.Context, user string, rooms []string) (map[string]*summary, error) {
	out := make(map[string]*summary, len(rooms))
	for _, r := range rooms {
		out[r] = &summary{}
	}
	for _, chunk := range chunks(rooms, maxIn) {
		in, args := inArgs(1, chunk)
		rows, err := s.db.Query(ctx, `SELECT room_id, membership, COUNT(*) FROM current_state
			WHERE type = 'm.room.member' AND room_id IN (`+in+`) AND membership IN ('join', 'invite')
			GROUP BY room_id, membership`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var room, m string
			var n int64
			if err := rows.Scan(&room, &m, &n); err != nil {
				rows.Close()
				return nil, err
			}
			if m == "join" {
				out[room].joined = n
			} else {
				out[room].invited = n
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
		in, args = inArgs(2, chunk)
		rows, err = s.db.Query(ctx, `SELECT room_id, state_key, active FROM (
				SELECT room_id, state_key, stream_pos,
					CASE WHEN membership IN ('join', 'invite') THEN 1 ELSE 0 END AS active,
					ROW_NUMBER() OVER (PARTITION BY room_id, CASE WHEN membership IN ('join', 'invite') THEN 1 ELSE 0 END
						ORDER BY stream_pos) AS rn
				FROM current_state WHERE type = 'm.room.member' AND room_id IN (`+in+`) AND state_key <> $1
			) AS h WHERE rn <= 5 ORDER BY room_id, active DESC, stream_pos`, append([]any{user}, args...)...)
		if err != nil {
			return nil, err
		}
		inactive := map[string][]string{}
		for rows.Next() {
			var room, member string
			var active sql.NullInt64
			if err := rows.Scan(&room, &member, &active); err != nil {
				rows.Close()
				return nil, err
			}
			if active.Int64 == 1 {
				out[room].heroes = append(out[room].heroes, member)
			} else {
				inactive[room] = append(inactive[room], member)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
		// Members who left only stand in when nobody else is joined or invited.
		for room, list := range inactive {
			if len(out[room].heroes) == 0 {
				out[room].heroes = list
			}
		}
	}
	return out, nil
}

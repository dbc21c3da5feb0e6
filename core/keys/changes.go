package keys

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// DeviceListChanges returns what a /sync or /keys/changes covering
// (since, upto] tells viewer about device lists:
//
//   - changed: users sharing a room with viewer (and viewer) whose devices or
//     keys changed, users who started sharing a room with viewer (they
//     joined one of viewer's rooms, or viewer joined theirs), and users whose
//     master key viewer signed;
//   - left: users who shared a room with viewer before and share none now.
//
// An initial sync (since 0) reports nothing: the client queries everyone.
func (s *Service) DeviceListChanges(ctx context.Context, viewer id.UserID, since, upto int64) (changed, left []id.UserID, err error) {
	if since <= 0 || upto <= since {
		return nil, nil, nil
	}
	keyChanged, err := s.keyChanges(ctx, viewer, since, upto)
	if err != nil {
		return nil, nil, err
	}
	joined, leftCand, err := s.membershipChanges(ctx, viewer, since, upto)
	if err != nil {
		return nil, nil, err
	}
	sharing, err := s.sharingWith(ctx, viewer, append(slices.Clone(joined), leftCand...))
	if err != nil {
		return nil, nil, err
	}
	set := map[id.UserID]bool{}
	for _, u := range keyChanged {
		set[u] = true
	}
	for _, u := range joined {
		if sharing[u] && u != viewer {
			set[u] = true
		}
	}
	leftSet := map[id.UserID]bool{}
	for _, u := range leftCand {
		if !sharing[u] && u != viewer {
			leftSet[u] = true
			delete(set, u)
		}
	}
	return sortedUsers(set), sortedUsers(leftSet), nil
}

func sortedUsers(set map[id.UserID]bool) []id.UserID {
	out := make([]id.UserID, 0, len(set))
	for u := range set {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// keyChanges lists users with device list changes in the window that
// viewer must hear of.
func (s *Service) keyChanges(ctx context.Context, viewer id.UserID, since, upto int64) ([]id.UserID, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT c.user_id FROM device_list_changes c
		WHERE c.stream_pos > $2 AND c.stream_pos <= $3 AND (c.viewer = $1 OR (c.viewer = '' AND
		(c.user_id = $1 OR c.user_id IN (`+sharedUsers+`))))`, viewer, since, upto)
	if err != nil {
		return nil, err
	}
	return scanUsers(rows)
}

func scanUsers(rows *sql.Rows) ([]id.UserID, error) {
	defer rows.Close()
	var out []id.UserID
	for rows.Next() {
		var u id.UserID
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

type roomUser struct {
	room id.RoomID
	user id.UserID
}

// membershipChanges looks at membership events in the window in every room
// viewer has a membership in, and returns users who became joined
// (candidates for changed) and users who stopped being joined (candidates
// for left). When viewer itself joined or left a room, every current member
// of that room is a candidate.
func (s *Service) membershipChanges(ctx context.Context, viewer id.UserID, since, upto int64) (joined, left []id.UserID, err error) {
	rows, err := s.db.Query(ctx, `SELECT e.room_id, e.state_key, e.membership FROM events e
		WHERE e.type = 'm.room.member' AND e.stream_pos > $2 AND e.stream_pos <= $3
		AND e.room_id IN (SELECT room_id FROM current_state WHERE type = 'm.room.member' AND state_key = $1)
		ORDER BY e.stream_pos`, viewer, since, upto)
	if err != nil {
		return nil, nil, err
	}
	after := map[roomUser]string{}
	var order []roomUser
	for rows.Next() {
		var k roomUser
		var m sql.NullString
		if err := rows.Scan(&k.room, &k.user, &m); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if _, seen := after[k]; !seen {
			order = append(order, k)
		}
		after[k] = m.String
	}
	err = rows.Err()
	rows.Close()
	if err != nil || len(order) == 0 {
		return nil, nil, err
	}
	before, err := s.membershipsAt(ctx, order, since)
	if err != nil {
		return nil, nil, err
	}
	var joinedRooms, leftRooms []id.RoomID
	for _, k := range order {
		wasJoined, isJoined := before[k] == "join", after[k] == "join"
		if wasJoined == isJoined {
			continue
		}
		switch {
		case k.user == viewer && isJoined:
			joinedRooms = append(joinedRooms, k.room)
		case k.user == viewer:
			leftRooms = append(leftRooms, k.room)
		case isJoined:
			joined = append(joined, k.user)
		default:
			left = append(left, k.user)
		}
	}
	if m, err := s.joinedMembers(ctx, joinedRooms); err != nil {
		return nil, nil, err
	} else {
		joined = append(joined, m...)
	}
	if m, err := s.joinedMembers(ctx, leftRooms); err != nil {
		return nil, nil, err
	} else {
		left = append(left, m...)
	}
	return joined, left, nil
}

// membershipsAt returns each pair's membership as of position pos.
func (s *Service) membershipsAt(ctx context.Context, pairs []roomUser, pos int64) (map[roomUser]string, error) {
	out := make(map[roomUser]string, len(pairs))
	for start := 0; start < len(pairs); start += maxIn {
		chunk := pairs[start:min(start+maxIn, len(pairs))]
		var values strings.Builder
		args := []any{pos}
		for i, p := range chunk {
			if i > 0 {
				values.WriteString(", ")
			}
			values.WriteString("(" + storage.Placeholders(len(args)+1, 2) + ")")
			args = append(args, p.room, p.user)
		}
		rows, err := s.db.Query(ctx, `SELECT v.column1, v.column2, (SELECT p.membership FROM events p
			WHERE p.room_id = v.column1 AND p.type = 'm.room.member' AND p.state_key = v.column2 AND p.stream_pos <= $1
			ORDER BY p.stream_pos DESC LIMIT 1) FROM (VALUES `+values.String()+`) AS v`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k roomUser
			var m sql.NullString
			if err := rows.Scan(&k.room, &k.user, &m); err != nil {
				rows.Close()
				return nil, err
			}
			out[k] = m.String
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// joinedMembers lists the current joined members of rooms.
func (s *Service) joinedMembers(ctx context.Context, rooms []id.RoomID) ([]id.UserID, error) {
	var out []id.UserID
	for start := 0; start < len(rooms); start += maxIn {
		chunk := rooms[start:min(start+maxIn, len(rooms))]
		args := make([]any, len(chunk))
		for i, r := range chunk {
			args[i] = r
		}
		rows, err := s.db.Query(ctx, `SELECT DISTINCT state_key FROM current_state WHERE type = 'm.room.member'
			AND membership = 'join' AND room_id IN (`+storage.Placeholders(1, len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		users, err := scanUsers(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, users...)
	}
	return out, nil
}

// sharingWith reports which of users share a joined room with viewer now.
func (s *Service) sharingWith(ctx context.Context, viewer id.UserID, users []id.UserID) (map[id.UserID]bool, error) {
	out := map[id.UserID]bool{}
	slices.Sort(users)
	users = slices.Compact(users)
	for start := 0; start < len(users); start += maxIn {
		chunk := users[start:min(start+maxIn, len(users))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, viewer)
		for _, u := range chunk {
			args = append(args, u)
		}
		rows, err := s.db.Query(ctx, `SELECT DISTINCT b.state_key FROM current_state a JOIN current_state b ON b.room_id = a.room_id
			WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'
			AND b.type = 'm.room.member' AND b.membership = 'join' AND b.state_key IN (`+storage.Placeholders(2, len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		shared, err := scanUsers(rows)
		if err != nil {
			return nil, err
		}
		for _, u := range shared {
			out[u] = true
		}
	}
	return out, nil
}

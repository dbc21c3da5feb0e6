package sync

import (
	"context"
	"database/sql"
	"sort"

	"github.com/tidwall/gjson"
)

// History visibility values.
const (
	hvWorldReadable = "world_readable"
	hvShared        = "shared"
	hvInvited       = "invited"
	hvJoined        = "joined"
)

type posValue struct {
	pos   int64
	value string
}

// visibility holds what decides which of a room's events a user may see:
// the user's membership changes and the room's history_visibility changes,
// both in stream order. History is linear, so "membership at an event" is
// the last change before it.
type visibility struct {
	user        string
	memberships []posValue
	hv          []posValue
	everJoined  bool
}

// loadVisibility reads the visibility inputs of several rooms for user.
func (s *Service) loadVisibility(ctx context.Context, user string, rooms []string) (map[string]*visibility, error) {
	out := make(map[string]*visibility, len(rooms))
	for _, r := range rooms {
		out[r] = &visibility{user: user}
	}
	for _, chunk := range chunks(rooms, maxIn) {
		in, args := inArgs(2, chunk)
		rows, err := s.db.Query(ctx, `
			SELECT room_id, stream_pos, type, membership, client FROM events
			WHERE room_id IN (`+in+`) AND ((type = 'm.room.member' AND state_key = $1)
				OR (type = 'm.room.history_visibility' AND state_key = ''))
			ORDER BY stream_pos`, append([]any{user}, args...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var room, typ string
			var pos int64
			var membership sql.NullString
			var client []byte
			if err := rows.Scan(&room, &pos, &typ, &membership, &client); err != nil {
				rows.Close()
				return nil, err
			}
			v := out[room]
			if typ == "m.room.member" {
				m := membership.String
				v.memberships = append(v.memberships, posValue{pos, m})
				v.everJoined = v.everJoined || m == "join"
			} else {
				v.hv = append(v.hv, posValue{pos, gjson.GetBytes(client, "content.history_visibility").Str})
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

// before returns the value of the last change strictly before pos.
func before(list []posValue, pos int64, def string) string {
	i := sort.Search(len(list), func(i int) bool { return list[i].pos >= pos })
	if i == 0 {
		return def
	}
	return list[i-1].value
}

func hvRank(hv string) int {
	switch hv {
	case hvWorldReadable:
		return 3
	case hvShared:
		return 2
	case hvInvited:
		return 1
	}
	return 0
}

// visible applies the spec's history visibility rules to one event.
func (v *visibility) visible(ev *evRow) bool {
	if ev.typ == "m.room.member" && ev.stateKey != nil && *ev.stateKey == v.user {
		return true // users always see their own membership changes
	}
	m := before(v.memberships, ev.pos, "")
	if m == "join" {
		return true
	}
	hv := before(v.hv, ev.pos, hvShared)
	if ev.typ == "m.room.history_visibility" && ev.stateKey != nil && *ev.stateKey == "" {
		// A visibility change is shown to whoever either setting admits.
		if now := gjson.GetBytes(ev.client, "content.history_visibility").Str; hvRank(now) > hvRank(hv) {
			hv = now
		}
	}
	switch hv {
	case hvWorldReadable:
		return true
	case hvShared:
		return v.everJoined
	case hvInvited:
		return m == "invite"
	}
	return false
}

// filterVisible drops the events v does not admit, in place.
func (v *visibility) filterVisible(evs []*evRow) []*evRow {
	out := evs[:0]
	for _, ev := range evs {
		if v.visible(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// currentHV returns the room's latest history visibility.
func (v *visibility) currentHV() string {
	if len(v.hv) == 0 {
		return hvShared
	}
	return v.hv[len(v.hv)-1].value
}

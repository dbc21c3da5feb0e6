package directory

import (
	"context"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// MaxPublicRoomsLimit bounds one page of /publicRooms. NOTSPEC: Synapse
// treats a missing limit as "everything"; Gatehouse serves at most this many
// rooms per page and hands out a next_batch token for the rest.
const MaxPublicRoomsLimit = 500

// PublicRoom is one entry of the public room list.
type PublicRoom struct {
	RoomID           id.RoomID `json:"room_id"`
	Name             string    `json:"name,omitempty"`
	Topic            string    `json:"topic,omitempty"`
	AvatarURL        string    `json:"avatar_url,omitempty"`
	CanonicalAlias   string    `json:"canonical_alias,omitempty"`
	NumJoinedMembers int       `json:"num_joined_members"`
	WorldReadable    bool      `json:"world_readable"`
	GuestCanJoin     bool      `json:"guest_can_join"`
	JoinRule         string    `json:"join_rule,omitempty"`
	RoomType         string    `json:"room_type,omitempty"`
}

// PublicRoomsQuery selects a page of the public room list.
type PublicRoomsQuery struct {
	// Limit is the page size; 0 means MaxPublicRoomsLimit.
	Limit int
	// Since is a next_batch or prev_batch token from an earlier page.
	Since string
	// SearchTerm matches name, topic and canonical alias, ignoring case.
	SearchTerm string
	// RoomTypes keeps rooms of these types; a nil entry stands for rooms
	// without a type. Empty means every type.
	RoomTypes []*string
	// ThirdPartyInstanceID asks for rooms an appservice published for one
	// bridged network. No appservice publishes rooms here yet, so such a
	// query finds nothing.
	ThirdPartyInstanceID string
}

// PublicRoomsPage is the /publicRooms response.
type PublicRoomsPage struct {
	Chunk                  []PublicRoom `json:"chunk"`
	NextBatch              string       `json:"next_batch,omitempty"`
	PrevBatch              string       `json:"prev_batch,omitempty"`
	TotalRoomCountEstimate int          `json:"total_room_count_estimate"`
}

// PublicRooms returns one page of the published rooms that people can join
// or peek into, most joined members first (Synapse's order and filters).
// The total counts every listed room, ignoring the search filter.
func (s *Service) PublicRooms(ctx context.Context, q PublicRoomsQuery) (*PublicRoomsPage, error) {
	if q.Limit < 0 {
		return nil, httpx.InvalidParam("limit must not be negative")
	}
	var since *pageToken
	if q.Since != "" {
		t, err := parsePageToken(q.Since)
		if err != nil {
			return nil, err
		}
		since = &t
	}
	page := &PublicRoomsPage{Chunk: []PublicRoom{}}
	if q.ThirdPartyInstanceID != "" {
		return page, nil
	}
	listed, err := s.listedRooms(ctx)
	if err != nil {
		return nil, err
	}
	page.TotalRoomCountEstimate = len(listed)
	matches := slices.DeleteFunc(listed, func(r *PublicRoom) bool { return !q.matches(r) })
	slices.SortFunc(matches, func(a, b *PublicRoom) int {
		if a.NumJoinedMembers != b.NumJoinedMembers {
			return b.NumJoinedMembers - a.NumJoinedMembers
		}
		return strings.Compare(string(b.RoomID), string(a.RoomID))
	})
	limit := q.Limit
	if limit == 0 || limit > MaxPublicRoomsLimit {
		limit = MaxPublicRoomsLimit
	}
	paginate(page, matches, since, limit)
	return page, nil
}

func (q *PublicRoomsQuery) matches(r *PublicRoom) bool {
	if len(q.RoomTypes) > 0 && !slices.ContainsFunc(q.RoomTypes, func(t *string) bool {
		return (t == nil && r.RoomType == "") || (t != nil && *t == r.RoomType)
	}) {
		return false
	}
	if term := strings.ToLower(strings.TrimSpace(q.SearchTerm)); term != "" {
		return strings.Contains(strings.ToLower(r.Name), term) ||
			strings.Contains(strings.ToLower(r.Topic), term) ||
			strings.Contains(strings.ToLower(r.CanonicalAlias), term)
	}
	return true
}

// paginate cuts one page out of the sorted rooms, with Synapse's rules for
// which tokens to hand out: a token towards each side that may hold more.
func paginate(page *PublicRoomsPage, sorted []*PublicRoom, since *pageToken, limit int) {
	var results []*PublicRoom
	more := false
	if since == nil || since.forward {
		start := 0
		if since != nil {
			start = slices.IndexFunc(sorted, since.after)
			if start < 0 {
				start = len(sorted)
			}
		}
		results = sorted[start:]
		if more = len(results) > limit; more {
			results = results[:limit]
		}
	} else {
		end := slices.IndexFunc(sorted, func(r *PublicRoom) bool { return !since.before(r) })
		if end < 0 {
			end = len(sorted)
		}
		results = sorted[:end]
		if more = len(results) > limit; more {
			results = results[len(results)-limit:]
		}
	}
	for _, r := range results {
		page.Chunk = append(page.Chunk, *r)
	}
	if len(results) == 0 {
		return
	}
	first, last := results[0], results[len(results)-1]
	forward := since == nil || since.forward
	if (forward && more) || (!forward && since != nil) {
		page.NextBatch = pageToken{members: last.NumJoinedMembers, roomID: last.RoomID, forward: true}.String()
	}
	if (forward && since != nil) || (!forward && more) {
		page.PrevBatch = pageToken{members: first.NumJoinedMembers, roomID: first.RoomID}.String()
	}
}

// listedRooms loads every published room that Synapse would list: joined
// members, and a join rule that lets people in (public, knock,
// knock_restricted) or world-readable history. Two queries, whatever the
// number of rooms.
func (s *Service) listedRooms(ctx context.Context) ([]*PublicRoom, error) {
	byID := map[id.RoomID]*PublicRoom{}
	rows, err := s.db.Query(ctx, `
		SELECT cs.room_id, COUNT(*)
		FROM rooms r JOIN current_state cs ON cs.room_id = r.room_id
		WHERE r.visibility = 'public' AND cs.type = 'm.room.member' AND cs.membership = 'join'
		GROUP BY cs.room_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		r := &PublicRoom{}
		if err := rows.Scan(&r.RoomID, &r.NumJoinedMembers); err != nil {
			return nil, err
		}
		byID[r.RoomID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	srows, err := s.db.Query(ctx, `
		SELECT cs.room_id, cs.type, e.client
		FROM rooms r
		JOIN current_state cs ON cs.room_id = r.room_id AND cs.state_key = ''
		JOIN events e ON e.event_id = cs.event_id
		WHERE r.visibility = 'public' AND cs.type IN ('m.room.name', 'm.room.topic', 'm.room.avatar',
			'm.room.canonical_alias', 'm.room.join_rules', 'm.room.history_visibility',
			'm.room.guest_access', 'm.room.create')`)
	if err != nil {
		return nil, err
	}
	defer srows.Close()
	for srows.Next() {
		var roomID id.RoomID
		var evType, client string
		if err := srows.Scan(&roomID, &evType, &client); err != nil {
			return nil, err
		}
		if r := byID[roomID]; r != nil {
			applyState(r, evType, gjson.Get(client, "content"))
		}
	}
	if err := srows.Err(); err != nil {
		return nil, err
	}
	out := make([]*PublicRoom, 0, len(byID))
	for _, r := range byID {
		switch {
		case r.WorldReadable, r.JoinRule == "public", r.JoinRule == "knock", r.JoinRule == "knock_restricted":
			out = append(out, r)
		}
	}
	return out, nil
}

// applyState copies one state event's content into the entry. Fields of the
// wrong JSON type are ignored, as clients would.
func applyState(r *PublicRoom, evType string, content gjson.Result) {
	str := func(path string) string {
		if v := content.Get(path); v.Type == gjson.String {
			return v.Str
		}
		return ""
	}
	switch evType {
	case "m.room.name":
		r.Name = str("name")
	case "m.room.topic":
		r.Topic = str("topic")
	case "m.room.avatar":
		r.AvatarURL = str("url")
	case "m.room.canonical_alias":
		r.CanonicalAlias = str("alias")
	case "m.room.join_rules":
		r.JoinRule = str("join_rule")
	case "m.room.history_visibility":
		r.WorldReadable = str("history_visibility") == "world_readable"
	case "m.room.guest_access":
		r.GuestCanJoin = str("guest_access") == "can_join"
	case "m.room.create":
		r.RoomType = str("type")
	}
}

package rooms

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// RoomDetails is a server admin's summary of a room, shaped like Synapse's
// admin room list entries. Unset state reads as null.
type RoomDetails struct {
	RoomID             id.RoomID `json:"room_id"`
	Name               *string   `json:"name"`
	Topic              *string   `json:"topic"`
	Avatar             *string   `json:"avatar"`
	CanonicalAlias     *string   `json:"canonical_alias"`
	JoinedMembers      int64     `json:"joined_members"`
	JoinedLocalMembers int64     `json:"joined_local_members"`
	Version            string    `json:"version"`
	Creator            id.UserID `json:"creator"`
	Encryption         *string   `json:"encryption"`
	Federatable        bool      `json:"federatable"`
	Public             bool      `json:"public"`
	JoinRules          *string   `json:"join_rules"`
	GuestAccess        *string   `json:"guest_access"`
	HistoryVisibility  *string   `json:"history_visibility"`
	StateEvents        int64     `json:"state_events"`
	RoomType           *string   `json:"room_type"`
}

// roomOrders maps Synapse's order_by values to comparisons, ascending.
var roomOrders = map[string]func(a, b *RoomDetails) int{
	"name":                 func(a, b *RoomDetails) int { return cmpOptional(a.Name, b.Name) },
	"alphabetical":         func(a, b *RoomDetails) int { return cmpOptional(a.Name, b.Name) },
	"canonical_alias":      func(a, b *RoomDetails) int { return cmpOptional(a.CanonicalAlias, b.CanonicalAlias) },
	"joined_members":       func(a, b *RoomDetails) int { return cmp.Compare(a.JoinedMembers, b.JoinedMembers) },
	"size":                 func(a, b *RoomDetails) int { return cmp.Compare(a.JoinedMembers, b.JoinedMembers) },
	"joined_local_members": func(a, b *RoomDetails) int { return cmp.Compare(a.JoinedLocalMembers, b.JoinedLocalMembers) },
	"version":              func(a, b *RoomDetails) int { return cmp.Compare(a.Version, b.Version) },
	"creator":              func(a, b *RoomDetails) int { return cmp.Compare(a.Creator, b.Creator) },
	"encryption":           func(a, b *RoomDetails) int { return cmpOptional(a.Encryption, b.Encryption) },
	"federatable":          func(a, b *RoomDetails) int { return cmpBool(a.Federatable, b.Federatable) },
	"public":               func(a, b *RoomDetails) int { return cmpBool(a.Public, b.Public) },
	"join_rules":           func(a, b *RoomDetails) int { return cmpOptional(a.JoinRules, b.JoinRules) },
	"guest_access":         func(a, b *RoomDetails) int { return cmpOptional(a.GuestAccess, b.GuestAccess) },
	"history_visibility":   func(a, b *RoomDetails) int { return cmpOptional(a.HistoryVisibility, b.HistoryVisibility) },
	"state_events":         func(a, b *RoomDetails) int { return cmp.Compare(a.StateEvents, b.StateEvents) },
}

// cmpOptional orders unset values after set ones.
func cmpOptional(a, b *string) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return cmp.Compare(*a, *b)
}

func cmpBool(a, b bool) int {
	if a == b {
		return 0
	} else if !a {
		return -1
	}
	return 1
}

// RoomListParams are the query of Synapse's GET /_synapse/admin/v1/rooms.
type RoomListParams struct {
	OrderBy    string // default "name"
	Backwards  bool   // dir=b
	From       int
	Limit      int
	SearchTerm string // case-insensitive, in the name, canonical alias or room ID
}

// ListRooms returns one page of the rooms this server knows and how many
// match in all. It reads every room's summary (a few rows each) and sorts
// in memory: fine for an admin's occasional look, not for a hot path.
func (s *Service) ListRooms(ctx context.Context, p RoomListParams) ([]RoomDetails, int, error) {
	if p.OrderBy == "" {
		p.OrderBy = "name"
	}
	order := roomOrders[p.OrderBy]
	if order == nil {
		return nil, 0, httpx.InvalidParam("Unknown value for order_by: %q", p.OrderBy)
	}
	all, err := s.roomDetails(ctx, "")
	if err != nil {
		return nil, 0, err
	}
	if term := strings.ToLower(p.SearchTerm); term != "" {
		all = slices.DeleteFunc(all, func(r RoomDetails) bool {
			return !strings.Contains(strings.ToLower(string(r.RoomID)), term) &&
				(r.Name == nil || !strings.Contains(strings.ToLower(*r.Name), term)) &&
				(r.CanonicalAlias == nil || !strings.Contains(strings.ToLower(*r.CanonicalAlias), term))
		})
	}
	slices.SortStableFunc(all, func(a, b RoomDetails) int {
		c := order(&a, &b)
		if p.Backwards {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.RoomID, b.RoomID))
	})
	total := len(all)
	start := min(max(p.From, 0), total)
	end := min(start+max(p.Limit, 0), total)
	return all[start:end], total, nil
}

// RoomDetails returns the admin summary of one room, or ErrUnknownRoom.
func (s *Service) RoomDetails(ctx context.Context, roomID id.RoomID) (*RoomDetails, error) {
	list, err := s.roomDetails(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrUnknownRoom
	}
	return &list[0], nil
}

// roomDetails summarises one room, or every room when only is "".
func (s *Service) roomDetails(ctx context.Context, only id.RoomID) ([]RoomDetails, error) {
	local := "%:" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s.opts.ServerName)
	rows, err := s.db.Query(ctx, `
		SELECT r.room_id, r.room_version, r.creator, r.visibility,
			SUM(CASE WHEN c.type = 'm.room.member' AND c.membership = 'join' THEN 1 ELSE 0 END),
			SUM(CASE WHEN c.type = 'm.room.member' AND c.membership = 'join' AND c.state_key LIKE $1 ESCAPE '\' THEN 1 ELSE 0 END),
			COUNT(c.room_id)
		FROM rooms r LEFT JOIN current_state c ON c.room_id = r.room_id
		WHERE $2 = '' OR r.room_id = $2
		GROUP BY r.room_id, r.room_version, r.creator, r.visibility`, local, only)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RoomDetails{}
	index := map[id.RoomID]int{}
	for rows.Next() {
		var d RoomDetails
		var visibility string
		if err := rows.Scan(&d.RoomID, &d.Version, &d.Creator, &visibility, &d.JoinedMembers, &d.JoinedLocalMembers, &d.StateEvents); err != nil {
			return nil, err
		}
		d.Public, d.Federatable = visibility == "public", true
		index[d.RoomID] = len(out)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, s.fillRoomState(ctx, only, out, index)
}

// fillRoomState copies the summary's state fields into out.
func (s *Service) fillRoomState(ctx context.Context, only id.RoomID, out []RoomDetails, index map[id.RoomID]int) error {
	rows, err := s.db.Query(ctx, `
		SELECT c.room_id, c.type, e.client FROM current_state c JOIN events e ON e.event_id = c.event_id
		WHERE c.state_key = '' AND ($1 = '' OR c.room_id = $1) AND c.type IN ('m.room.name', 'm.room.topic',
			'm.room.avatar', 'm.room.canonical_alias', 'm.room.encryption', 'm.room.join_rules',
			'm.room.guest_access', 'm.room.history_visibility', 'm.room.create')`, only)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var roomID id.RoomID
		var evType, client string
		if err := rows.Scan(&roomID, &evType, &client); err != nil {
			return err
		}
		i, ok := index[roomID]
		if !ok {
			continue
		}
		d, content := &out[i], gjson.Get(client, "content")
		switch evType {
		case "m.room.name":
			d.Name = nonEmpty(content.Get("name"))
		case "m.room.topic":
			d.Topic = nonEmpty(content.Get("topic"))
		case "m.room.avatar":
			d.Avatar = nonEmpty(content.Get("url"))
		case "m.room.canonical_alias":
			d.CanonicalAlias = nonEmpty(content.Get("alias"))
		case "m.room.encryption":
			d.Encryption = nonEmpty(content.Get("algorithm"))
		case "m.room.join_rules":
			d.JoinRules = nonEmpty(content.Get("join_rule"))
		case "m.room.guest_access":
			d.GuestAccess = nonEmpty(content.Get("guest_access"))
		case "m.room.history_visibility":
			d.HistoryVisibility = nonEmpty(content.Get("history_visibility"))
		case "m.room.create":
			d.Federatable = content.Get(`m\.federate`).Type != gjson.False
			d.RoomType = nonEmpty(content.Get("type"))
		}
	}
	return rows.Err()
}

func nonEmpty(v gjson.Result) *string {
	if v.Type != gjson.String || v.Str == "" {
		return nil
	}
	return &v.Str
}

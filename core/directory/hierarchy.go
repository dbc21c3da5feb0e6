package directory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// Hierarchy limits. The spec asks servers to default and cap both; these
// are Synapse's page size and a depth no real space tree reaches.
const (
	DefaultHierarchyLimit = 50
	MaxHierarchyLimit     = 50
	MaxHierarchyDepth     = 50
)

// HierarchyQuery selects a page of a space's tree.
type HierarchyQuery struct {
	// SuggestedOnly follows only children whose m.space.child content has
	// "suggested": true.
	SuggestedOnly bool
	// MaxDepth is how many levels below the root to go (0: the root
	// alone); negative means MaxHierarchyDepth.
	MaxDepth int
	// Limit is the page size; 0 means DefaultHierarchyLimit.
	Limit int
	// From is a next_batch token from an earlier page.
	From string
}

// HierarchyRoom is one room of the tree: its summary and, for a space, its
// m.space.child events as stripped state.
type HierarchyRoom struct {
	PublicRoom
	ChildrenState []json.RawMessage `json:"children_state"`
}

// HierarchyPage is the /hierarchy response.
type HierarchyPage struct {
	Rooms     []HierarchyRoom `json:"rooms"`
	NextBatch string          `json:"next_batch,omitempty"`
}

// Hierarchy walks the space tree below root depth-first, as the spec's
// /hierarchy describes: each room is followed by its subtree, children in
// the spec's order (m.space.child "order", then timestamp, then room ID).
// A room the user may not preview is left out with its subtree, a room
// seen before (a loop, or a room in two subspaces) is listed once, and
// rooms this server does not know are left out: there is no federation to
// ask yet. An unknown or hidden root is M_FORBIDDEN.
//
// Pages are stateless: next_batch records how many rooms were served, and
// the next page walks the tree again and skips them, so a token survives a
// restart and a page reflects the tree as it is now.
func (s *Service) Hierarchy(ctx context.Context, user id.UserID, root id.RoomID, q HierarchyQuery) (*HierarchyPage, error) {
	if err := ValidateRoomID(string(root)); err != nil {
		return nil, err
	}
	tok, err := q.token(root)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultHierarchyLimit
	}
	limit = min(limit, MaxHierarchyLimit)
	want := tok.skip + limit + 1 // one more tells whether there is a next page
	type queued struct {
		room  id.RoomID
		depth int
	}
	stack := []queued{{root, 0}}
	seen := map[id.RoomID]bool{}
	var found []HierarchyRoom
	for len(stack) > 0 && len(found) < want {
		next := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[next.room] {
			continue
		}
		seen[next.room] = true
		node, err := s.spaceNode(ctx, user, next.room, tok.suggested)
		if err != nil {
			return nil, err
		}
		if node == nil {
			if next.room == root {
				return nil, httpx.Forbidden("You cannot view room %s", root)
			}
			continue
		}
		found = append(found, node.room)
		if next.depth < tok.maxDepth {
			for i := len(node.children) - 1; i >= 0; i-- {
				stack = append(stack, queued{node.children[i].room, next.depth + 1})
			}
		}
	}
	page := &HierarchyPage{Rooms: []HierarchyRoom{}}
	if tok.skip < len(found) {
		page.Rooms = found[tok.skip:min(len(found), tok.skip+limit)]
	}
	if len(found) == want {
		next := tok
		next.skip += limit
		page.NextBatch = next.String()
	}
	return page, nil
}

// token checks the query and returns the walk it asks for: the From
// token's, which must agree with the query, or a new one.
func (q HierarchyQuery) token(root id.RoomID) (hierarchyToken, error) {
	if q.Limit < 0 {
		return hierarchyToken{}, httpx.InvalidParam("limit must be a positive integer")
	}
	depth := q.MaxDepth
	if depth < 0 || depth > MaxHierarchyDepth {
		depth = MaxHierarchyDepth
	}
	want := hierarchyToken{root: root, suggested: q.SuggestedOnly, maxDepth: depth}
	if q.From == "" {
		return want, nil
	}
	tok, err := parseHierarchyToken(q.From)
	if err != nil {
		return hierarchyToken{}, err
	}
	if tok.root != want.root {
		return hierarchyToken{}, httpx.InvalidParam("The pagination token is for another room")
	}
	if tok.suggested != want.suggested || tok.maxDepth != want.maxDepth {
		return hierarchyToken{}, httpx.InvalidParam("suggested_only and max_depth cannot change on paginated requests")
	}
	return tok, nil
}

// spaceNode is one room as the walk sees it.
type spaceNode struct {
	room     HierarchyRoom
	children []spaceChild
}

// spaceChild is a valid m.space.child link.
type spaceChild struct {
	room     id.RoomID
	order    string
	hasOrder bool
	ts       int64
}

// spaceNode summarises roomID from its current state, or returns nil when
// the server does not know the room or user may not preview it.
func (s *Service) spaceNode(ctx context.Context, user id.UserID, roomID id.RoomID, suggestedOnly bool) (*spaceNode, error) {
	state, err := s.rooms.CurrentState(ctx, roomID)
	if errors.Is(err, rooms.ErrUnknownRoom) || (err == nil && len(state) == 0) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	n := &spaceNode{room: HierarchyRoom{PublicRoom: PublicRoom{RoomID: roomID}, ChildrenState: []json.RawMessage{}}}
	r := &n.room.PublicRoom
	var membership event.Membership
	var childEvents []*rooms.Event
	var joinRules *rooms.Event
	for _, ev := range state {
		sk := *ev.StateKey()
		switch ev.Type() {
		case event.StateMember.Type:
			m := ev.Membership()
			if m == event.MembershipJoin {
				r.NumJoinedMembers++
			}
			if sk == user.String() {
				membership = m
			}
		case event.StateSpaceChild.Type:
			childEvents = append(childEvents, ev)
		default:
			if sk != "" {
				continue
			}
			if ev.Type() == event.StateJoinRules.Type {
				joinRules = ev
			}
			applyState(r, ev.Type(), gjson.ParseBytes(ev.PDU.Content))
		}
	}
	if r.JoinRule == "" {
		// Without m.room.join_rules the auth rules treat the room as
		// invite-only, while a chunk without join_rule reads as public.
		r.JoinRule = string(event.JoinRuleInvite)
	}
	ok, err := s.canPreview(ctx, user, membership, r, joinRules, state[0].Version)
	if err != nil || !ok {
		return nil, err
	}
	if r.RoomType != string(event.RoomTypeSpace) {
		return n, nil // children_state stays empty for rooms that are not spaces
	}
	type linked struct {
		child spaceChild
		ev    *rooms.Event
	}
	var links []linked
	for _, ev := range childEvents {
		if c, ok := parseSpaceChild(ev, suggestedOnly); ok {
			links = append(links, linked{c, ev})
		}
	}
	slices.SortFunc(links, func(a, b linked) int { return compareChildren(a.child, b.child) })
	for _, l := range links {
		n.children = append(n.children, l.child)
		stripped, err := json.Marshal(struct {
			Type           string          `json:"type"`
			StateKey       string          `json:"state_key"`
			Content        json.RawMessage `json:"content"`
			Sender         id.UserID       `json:"sender"`
			OriginServerTS int64           `json:"origin_server_ts"`
		}{l.ev.Type(), *l.ev.StateKey(), l.ev.PDU.Content, l.ev.Sender(), l.ev.PDU.OriginServerTS})
		if err != nil {
			return nil, err
		}
		n.room.ChildrenState = append(n.room.ChildrenState, stripped)
	}
	return n, nil
}

// canPreview applies the spec's rule for who may see a room's summary
// without joining (room summaries, MSC3173): members and invitees; anyone
// when the history is world-readable or the join rule lets anyone in or
// knock; members of an allowed room when the join rule is restricted.
func (s *Service) canPreview(ctx context.Context, user id.UserID, m event.Membership, r *PublicRoom, joinRules *rooms.Event, v id.RoomVersion) (bool, error) {
	if m == event.MembershipJoin || m == event.MembershipInvite || r.WorldReadable {
		return true, nil
	}
	switch event.JoinRule(r.JoinRule) {
	case event.JoinRulePublic:
		return true, nil
	case event.JoinRuleKnock:
		return v.Knocks(), nil
	case event.JoinRuleKnockRestricted:
		return v.KnockRestricted(), nil
	case event.JoinRuleRestricted:
		if !v.RestrictedJoins() || joinRules == nil {
			return false, nil
		}
	default:
		return false, nil
	}
	for _, allow := range gjson.GetBytes(joinRules.PDU.Content, "allow").Array() {
		roomID := allow.Get("room_id")
		if allow.Get("type").Str != "m.room_membership" || roomID.Type != gjson.String || ValidateRoomID(roomID.Str) != nil {
			continue
		}
		am, err := s.rooms.MembershipOf(ctx, id.RoomID(roomID.Str), user)
		if errors.Is(err, rooms.ErrUnknownRoom) {
			continue
		} else if err != nil {
			return false, err
		}
		if am == event.MembershipJoin {
			return true, nil
		}
	}
	return false, nil
}

// parseSpaceChild reads an m.space.child event. A child counts only when
// its content has a non-empty "via" list of strings (a redacted or cleared
// event removes the child) and its state key is a room ID.
func parseSpaceChild(ev *rooms.Event, suggestedOnly bool) (spaceChild, bool) {
	content := gjson.ParseBytes(ev.PDU.Content)
	via := content.Get("via")
	if !via.IsArray() || len(via.Array()) == 0 || ValidateRoomID(*ev.StateKey()) != nil {
		return spaceChild{}, false
	}
	for _, v := range via.Array() {
		if v.Type != gjson.String {
			return spaceChild{}, false
		}
	}
	if suggestedOnly && content.Get("suggested").Type != gjson.True {
		return spaceChild{}, false
	}
	c := spaceChild{room: id.RoomID(*ev.StateKey()), ts: ev.PDU.OriginServerTS}
	if o := content.Get("order"); o.Type == gjson.String && validChildOrder(o.Str) {
		c.order, c.hasOrder = o.Str, true
	}
	return c, true
}

// validChildOrder reports whether order is a usable m.space.child "order":
// at most 50 characters, all printable ASCII.
func validChildOrder(order string) bool {
	return len(order) <= 50 && !strings.ContainsFunc(order, func(r rune) bool { return r < 0x20 || r > 0x7E })
}

// compareChildren is the spec's child order: children with an "order"
// first, by order; then by the m.space.child event's timestamp; then by
// room ID.
func compareChildren(a, b spaceChild) int {
	if a.hasOrder != b.hasOrder {
		if a.hasOrder {
			return -1
		}
		return 1
	}
	return cmp.Or(strings.Compare(a.order, b.order), cmp.Compare(a.ts, b.ts), strings.Compare(string(a.room), string(b.room)))
}

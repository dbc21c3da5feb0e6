package sync

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// MSC4186 room lists: which of the user's rooms a connection may see, in
// which order, and the list filters.

// bumpTypes are the event types that move a room up the list (bump_stamp),
// as the MSC names them, with the unstable poll and beacon types.
var bumpTypes = []string{"m.room.create", "m.room.message", "m.room.encrypted", "m.sticker", "m.call.invite",
	"m.poll.start", "org.matrix.msc3381.poll.start", "m.beacon_info", "org.matrix.msc3672.beacon_info"}

var bumpTypesSQL = "'" + strings.Join(bumpTypes, "', '") + "'"

// candidate is one room a connection may list.
type candidate struct {
	room string
	m    membership
	// last is the newest event the user may see; bump the newest bump
	// event (for rooms the user is not joined to, both are the membership).
	last, bump int64
	attrs      *roomAttrs
}

type roomAttrs struct {
	createType string
	encrypted  bool
}

type roomInfo struct {
	last, bump int64
	attrs      *roomAttrs
}

// leftInfo records whether a room the user left or was banned from at pos
// belongs in their lists: when someone else removed them from a room they
// had joined or been invited to.
type leftInfo struct {
	pos     int64
	include bool
}

// roomCache keeps, per connection, each room's positions and attributes
// as of asOf, so a wake-up re-reads only the rooms that had events since.
type roomCache struct {
	mu    sync.Mutex
	asOf  int64
	rooms map[string]*roomInfo
	left  map[string]leftInfo
}

// candidates returns the rooms the connection may list as of upto: joined
// and invited rooms, rooms someone else removed the user from, and rooms
// the user left that the connection already sent.
func (sl *Sliding) candidates(ctx context.Context, c *slidingConn, base *connState, user string, upto int64) ([]*candidate, error) {
	s := sl.s
	ms, err := s.membershipsAt(ctx, user, upto)
	if err != nil {
		return nil, err
	}
	var out []*candidate
	var left []membership
	for _, m := range ms {
		switch m.value {
		case "join", "invite":
			out = append(out, &candidate{room: m.room, m: m})
		case "leave", "ban":
			left = append(left, m)
		}
	}
	if len(left) > 0 {
		forgotten, err := s.forgotten(ctx, user)
		if err != nil {
			return nil, err
		}
		include, err := sl.leftIncluded(ctx, c, user, left)
		if err != nil {
			return nil, err
		}
		for _, m := range left {
			if !forgotten[m.room] && (base.rooms[m.room] != nil || include[m.room]) {
				out = append(out, &candidate{room: m.room, m: m, last: m.pos, bump: m.pos})
			}
		}
	}
	return out, sl.positions(ctx, c, out, upto)
}

// leftIncluded decides, for rooms the user left or was banned from, which
// belong in lists (see leftInfo), reading only rooms not decided before.
func (sl *Sliding) leftIncluded(ctx context.Context, c *slidingConn, user string, left []membership) (map[string]bool, error) {
	out := map[string]bool{}
	var todo []membership
	c.cache.mu.Lock()
	for _, m := range left {
		if li, ok := c.cache.left[m.room]; ok && li.pos == m.pos {
			out[m.room] = li.include
		} else {
			todo = append(todo, m)
		}
	}
	c.cache.mu.Unlock()
	for _, chunk := range chunks(todo, maxUnion) {
		var q strings.Builder
		args := []any{user}
		for i, m := range chunk {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			n := len(args)
			args = append(args, m.room, m.pos)
			// The membership event itself (its sender) and the one before it.
			fmt.Fprintf(&q, `SELECT * FROM (SELECT e.room_id, e.stream_pos, e.sender, e.membership FROM events e
				WHERE e.room_id = $%d AND e.type = 'm.room.member' AND e.state_key = $1 AND e.stream_pos <= $%d
				ORDER BY e.stream_pos DESC LIMIT 2) AS t%d`, n+1, n+2, i)
		}
		rows, err := sl.s.db.Query(ctx, q.String(), args...)
		if err != nil {
			return nil, err
		}
		type row struct {
			pos        int64
			sender, mv string
		}
		got := map[string][]row{}
		for rows.Next() {
			var room string
			var r row
			var mv sql.NullString
			if err := rows.Scan(&room, &r.pos, &r.sender, &mv); err != nil {
				rows.Close()
				return nil, err
			}
			r.mv = mv.String
			got[room] = append(got[room], r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
		c.cache.mu.Lock()
		for _, m := range chunk {
			rs := got[m.room]
			sort.Slice(rs, func(i, j int) bool { return rs[i].pos > rs[j].pos })
			include := len(rs) == 2 && rs[0].sender != user && (rs[1].mv == "join" || rs[1].mv == "invite")
			out[m.room] = include
			c.cache.left[m.room] = leftInfo{pos: m.pos, include: include}
		}
		c.cache.mu.Unlock()
	}
	return out, nil
}

// positions fills last and bump of the joined and invited candidates from
// the connection's cache, reading the rooms that had events since the
// cache was filled.
func (sl *Sliding) positions(ctx context.Context, c *slidingConn, cands []*candidate, upto int64) error {
	rc := &c.cache
	rc.mu.Lock()
	if rc.asOf == 0 {
		rc.asOf = upto // a new connection: nothing cached to invalidate
	} else if upto > rc.asOf {
		active, err := sl.s.activeRooms(ctx, rc.asOf, upto)
		if err != nil {
			rc.mu.Unlock()
			return err
		}
		if active == nil {
			clear(rc.rooms)
		}
		for r := range active {
			delete(rc.rooms, r)
		}
		rc.asOf = upto
	}
	var todo []string
	for _, cd := range cands {
		if cd.m.value != "join" {
			continue
		}
		if info := rc.rooms[cd.room]; info != nil {
			cd.last, cd.bump, cd.attrs = info.last, info.bump, info.attrs
		} else {
			todo = append(todo, cd.room)
		}
	}
	rc.mu.Unlock()
	for _, cd := range cands {
		if cd.m.value == "invite" {
			cd.last, cd.bump = cd.m.pos, cd.m.pos
		}
	}
	if len(todo) == 0 {
		return nil
	}
	got, err := sl.s.latestPositions(ctx, todo, upto)
	if err != nil {
		return err
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	// Only positions read as of the cache's own position may enter it: a
	// newer request may have moved it on (and invalidated these rooms)
	// while this one read.
	cacheable := rc.asOf == upto
	for _, cd := range cands {
		if p, ok := got[cd.room]; ok && cd.m.value == "join" {
			cd.last, cd.bump = p[0], p[1]
			if cacheable {
				rc.rooms[cd.room] = &roomInfo{last: p[0], bump: p[1]}
			}
		}
	}
	return nil
}

// latestPositions returns each room's newest event and newest bump event
// at or before upto, walking the (room_id, stream_pos) index backwards.
func (s *Service) latestPositions(ctx context.Context, rooms []string, upto int64) (map[string][2]int64, error) {
	out := make(map[string][2]int64, len(rooms))
	for _, chunk := range chunks(rooms, maxUnion/2) {
		var q strings.Builder
		args := []any{upto}
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			args = append(args, r)
			n := len(args)
			fmt.Fprintf(&q, `SELECT * FROM (SELECT e.room_id, e.stream_pos, 0 AS k FROM events e WHERE e.room_id = $%d AND e.stream_pos <= $1
				ORDER BY e.stream_pos DESC LIMIT 1) AS a%d UNION ALL
				SELECT * FROM (SELECT e.room_id, e.stream_pos, 1 AS k FROM events e WHERE e.room_id = $%d AND e.stream_pos <= $1
				AND e.type IN (%s) ORDER BY e.stream_pos DESC LIMIT 1) AS b%d`, n, i, n, bumpTypesSQL, i)
		}
		rows, err := s.db.Query(ctx, q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("latest positions: %w", err)
		}
		for rows.Next() {
			var room string
			var pos int64
			var k int
			if err := rows.Scan(&room, &pos, &k); err != nil {
				rows.Close()
				return nil, err
			}
			p := out[room]
			p[k] = pos
			out[room] = p
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listFilter evaluates list filters; what it needs is loaded on first use.
type listFilter struct {
	sl    *Sliding
	c     *slidingConn
	user  id.UserID
	dm    map[string]bool
	tags  map[string]map[string]bool
	kids  map[string]map[string]bool // space -> child rooms
	attrs bool
}

// apply returns the candidates that pass f, newest first.
func (lf *listFilter) apply(ctx context.Context, cands []*candidate, f *SlidingFilters) ([]*candidate, error) {
	if f.IsDM != nil {
		if err := lf.loadDM(ctx); err != nil {
			return nil, err
		}
	}
	if f.IsEncrypted != nil || f.HasRoomTypes || len(f.NotRoomTypes) > 0 {
		if err := lf.loadAttrs(ctx, cands); err != nil {
			return nil, err
		}
	}
	if len(f.Tags) > 0 || len(f.NotTags) > 0 {
		if err := lf.loadTags(ctx); err != nil {
			return nil, err
		}
	}
	var children map[string]bool
	if f.Spaces != nil {
		var err error
		if children, err = lf.spaceChildren(ctx, f.Spaces); err != nil {
			return nil, err
		}
	}
	out := make([]*candidate, 0, len(cands))
	for _, cd := range cands {
		if f.IsDM != nil && lf.dm[cd.room] != *f.IsDM ||
			f.IsInvite != nil && (cd.m.value == "invite") != *f.IsInvite ||
			f.IsEncrypted != nil && (cd.attrs != nil && cd.attrs.encrypted) != *f.IsEncrypted ||
			f.Spaces != nil && !children[cd.room] {
			continue
		}
		if f.HasRoomTypes || len(f.NotRoomTypes) > 0 {
			typ := ""
			if cd.attrs != nil {
				typ = cd.attrs.createType
			}
			if f.HasRoomTypes && !contains(f.RoomTypes, typ) || contains(f.NotRoomTypes, typ) {
				continue
			}
		}
		if len(f.Tags) > 0 || len(f.NotTags) > 0 {
			tags := lf.tags[cd.room]
			if anyIn(f.NotTags, tags) || len(f.Tags) > 0 && !anyIn(f.Tags, tags) {
				continue
			}
		}
		out = append(out, cd)
	}
	sortByRecency(out)
	return out, nil
}

// sortByRecency orders rooms newest bump first, room ID breaking ties.
func sortByRecency(cands []*candidate) {
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].bump != cands[j].bump {
			return cands[i].bump > cands[j].bump
		}
		return cands[i].room < cands[j].room
	})
}

func anyIn(list []string, set map[string]bool) bool {
	for _, x := range list {
		if set[x] {
			return true
		}
	}
	return false
}

// loadDM reads the rooms the user's m.direct account data names.
func (lf *listFilter) loadDM(ctx context.Context) error {
	if lf.dm != nil {
		return nil
	}
	lf.dm = map[string]bool{}
	src := lf.sl.s.src.AccountData
	if src == nil {
		return nil
	}
	raw, err := src.Get(ctx, lf.user, "", "m.direct")
	var he *httpx.Error
	if errors.As(err, &he) && he.ErrCode == "M_NOT_FOUND" {
		return nil
	} else if err != nil {
		return err
	}
	var direct map[string][]string
	if json.Unmarshal(raw, &direct) != nil {
		return nil // not ours to validate; a malformed m.direct names no DMs
	}
	for _, rooms := range direct {
		for _, r := range rooms {
			lf.dm[r] = true
		}
	}
	return nil
}

// loadTags reads the m.tag room account data of every room.
func (lf *listFilter) loadTags(ctx context.Context) error {
	if lf.tags != nil {
		return nil
	}
	lf.tags = map[string]map[string]bool{}
	src := lf.sl.s.src.AccountData
	if src == nil {
		return nil
	}
	_, rooms, err := src.Since(ctx, lf.user, 0)
	if err != nil {
		return err
	}
	for room, items := range rooms {
		for _, it := range items {
			if it.Type != "m.tag" {
				continue
			}
			set := map[string]bool{}
			gjson.GetBytes(it.Content, "tags").ForEach(func(k, _ gjson.Result) bool {
				set[k.Str] = true
				return true
			})
			lf.tags[room.String()] = set
		}
	}
	return nil
}

// loadAttrs reads the create type and encryption of the candidates that
// do not have them yet (they are cached with the room's positions).
func (lf *listFilter) loadAttrs(ctx context.Context, cands []*candidate) error {
	if lf.attrs {
		return nil
	}
	lf.attrs = true
	var todo []string
	for _, cd := range cands {
		if cd.attrs == nil {
			cd.attrs = &roomAttrs{}
			todo = append(todo, cd.room)
		}
	}
	byRoom := map[string]*candidate{}
	for _, cd := range cands {
		byRoom[cd.room] = cd
	}
	for _, chunk := range chunks(todo, maxIn) {
		in, args := inArgs(1, chunk)
		evs, err := lf.sl.s.queryEvents(ctx, `SELECT `+evCols+` FROM current_state cs JOIN events e ON e.event_id = cs.event_id
			WHERE cs.room_id IN (`+in+`) AND cs.state_key = '' AND cs.type IN ('m.room.create', 'm.room.encryption')`, args...)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			a := byRoom[ev.room].attrs
			if ev.typ == "m.room.create" {
				a.createType = gjson.GetBytes(ev.client, "content.type").Str
			} else {
				a.encrypted = true
			}
		}
	}
	rc := &lf.c.cache
	rc.mu.Lock()
	for _, cd := range cands {
		// Attributes read after the entry's positions are at least as new.
		if info := rc.rooms[cd.room]; info != nil && cd.m.value == "join" && info.attrs == nil && info.last == cd.last {
			info.attrs = cd.attrs
		}
	}
	rc.mu.Unlock()
	return nil
}

// spaceChildren returns the rooms that the joined spaces among spaces
// name in m.space.child events with a non-empty via (subspaces are not
// followed, as the MSC says).
func (lf *listFilter) spaceChildren(ctx context.Context, spaces []string) (map[string]bool, error) {
	if lf.kids == nil {
		lf.kids = map[string]map[string]bool{}
	}
	out := map[string]bool{}
	var todo []string
	for _, sp := range spaces {
		if kids, ok := lf.kids[sp]; ok {
			for k := range kids {
				out[k] = true
			}
		} else {
			todo = append(todo, sp)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	joined := map[string]bool{}
	for _, sp := range todo {
		m, err := lf.sl.s.membershipAt(ctx, lf.user.String(), sp, lf.sl.s.notifier.Pos())
		if err != nil {
			return nil, err
		}
		joined[sp] = m.value == "join"
		lf.kids[sp] = map[string]bool{}
	}
	for _, chunk := range chunks(todo, maxIn) {
		in, args := inArgs(1, chunk)
		evs, err := lf.sl.s.queryEvents(ctx, `SELECT `+evCols+` FROM current_state cs JOIN events e ON e.event_id = cs.event_id
			WHERE cs.room_id IN (`+in+`) AND cs.type = 'm.space.child'`, args...)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			via := gjson.GetBytes(ev.client, "content.via")
			if !joined[ev.room] || !via.IsArray() || len(via.Array()) == 0 {
				continue
			}
			lf.kids[ev.room][*ev.stateKey] = true
			out[*ev.stateKey] = true
		}
	}
	return out, nil
}

package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// This file serves core/search (POST /search): which rooms and events a
// user may search, decided by the same membership and history_visibility
// rules as /messages and /context, and the rendering of results with
// their context, so search and the room read endpoints never disagree.

// SearchScope is what one user may search, as of one stream position:
// the rooms they are joined to (up to that position) and the rooms they
// left or were banned from after having joined (up to their leave), each
// with the room's visibility rules. Rooms the user never joined are not
// searched, world_readable or not (Synapse searches joined rooms only).
type SearchScope struct {
	s      *Service
	user   string
	device string
	pos    int64
	rooms  map[string]*access
}

// SearchScope returns what user may search now.
func (s *Service) SearchScope(ctx context.Context, user id.UserID, device id.DeviceID) (*SearchScope, error) {
	now := s.notifier.Pos()
	ms, err := s.membershipsAt(ctx, user.String(), now)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range ms {
		if m.value == "join" || m.value == "leave" || m.value == "ban" {
			ids = append(ids, m.room)
		}
	}
	vis, err := s.loadVisibility(ctx, user.String(), ids)
	if err != nil {
		return nil, err
	}
	sc := &SearchScope{s: s, user: user.String(), device: device.String(), pos: now, rooms: make(map[string]*access, len(ids))}
	for _, m := range ms {
		v := vis[m.room]
		switch {
		case m.value == "join":
			sc.rooms[m.room] = &access{room: m.room, member: m, upto: now, vis: v}
		case (m.value == "leave" || m.value == "ban") && v.everJoined:
			sc.rooms[m.room] = &access{room: m.room, member: m, upto: m.pos, vis: v}
		}
	}
	return sc, nil
}

// Pos returns the stream position the scope was taken at; no room is
// readable past it.
func (sc *SearchScope) Pos() int64 { return sc.pos }

// Rooms returns the searchable rooms with the last position readable in
// each.
func (sc *SearchScope) Rooms() map[id.RoomID]int64 {
	out := make(map[id.RoomID]int64, len(sc.rooms))
	for r, a := range sc.rooms {
		out[id.RoomID(r)] = a.upto
	}
	return out
}

// Visible reports whether the user may see the event of type evType (and
// stateKey, nil for a message event) at pos in room.
func (sc *SearchScope) Visible(room id.RoomID, pos int64, evType string, stateKey *string) bool {
	a := sc.rooms[string(room)]
	if a == nil || pos > a.upto {
		return false
	}
	return a.vis.visible(&evRow{pos: pos, room: string(room), typ: evType, stateKey: stateKey})
}

// SearchHit is one event to render as a search result.
type SearchHit struct {
	Room id.RoomID
	Pos  int64
}

// SearchRenderRequest says what to render besides the hits themselves.
type SearchRenderRequest struct {
	Hits []SearchHit
	// Context asks for up to Before and After visible events around each
	// hit (newest first before it, oldest first after it), as /context
	// serves them; Profile adds the senders' profiles at the last of them.
	Context       bool
	Before, After int
	Profile       bool
	// State asks for the state of each room with a hit, as GET /state
	// serves it.
	State bool
}

// RenderedHit is one rendered search result.
type RenderedHit struct {
	Room    id.RoomID
	Pos     int64
	EventID id.EventID
	Sender  id.UserID
	// Event is the client-format event with its unsigned data.
	Event json.RawMessage
	// Context is the spec's result context object, nil unless asked for.
	Context json.RawMessage
}

// SearchRendered is the rendering of a SearchRenderRequest.
type SearchRendered struct {
	// Hits follow the request's order. A hit whose event is gone or was
	// redacted since it was found is left out.
	Hits  []RenderedHit
	State map[id.RoomID]json.RawMessage
}

// searchHit is a hit being rendered.
type searchHit struct {
	a             *access
	ev            *evRow
	before, after []*evRow
	profiles      []*evRow
}

// Render loads and renders the hits, which must be events the scope admits
// (Visible). It makes a constant number of batched queries for the hits
// and their context, plus one state lookup per hit and room pair for
// profiles.
func (sc *SearchScope) Render(ctx context.Context, req *SearchRenderRequest) (*SearchRendered, error) {
	s := sc.s
	hits, err := sc.loadHits(ctx, req.Hits)
	if err != nil {
		return nil, err
	}
	if req.Context {
		if err := sc.loadContext(ctx, hits, req.Before, req.After); err != nil {
			return nil, err
		}
		if req.Profile {
			if err := sc.loadProfiles(ctx, hits); err != nil {
				return nil, err
			}
		}
	}
	var state map[string][]*evRow
	if req.State {
		var reqs []stateReq
		seen := map[string]bool{}
		for _, h := range hits {
			if !seen[h.a.room] {
				seen[h.a.room] = true
				reqs = append(reqs, stateReq{room: h.a.room, before: h.a.upto + 1})
			}
		}
		if state, err = s.stateBefore(ctx, reqs, false); err != nil {
			return nil, err
		}
	}
	var all, timeline []*evRow
	scopes := map[string]relScope{}
	for _, h := range hits {
		timeline = append(append(append(timeline, h.before...), h.ev), h.after...)
		scopes[h.a.room] = relScope{upto: h.a.upto, vis: h.a.vis}
	}
	all = append(all, timeline...)
	for _, evs := range state {
		all = append(all, evs...)
	}
	d, err := s.decorate(ctx, sc.user, sc.device, all, nil)
	if err != nil {
		return nil, err
	}
	if err := s.bundleRelations(ctx, d, sc.user, timeline, scopes); err != nil {
		return nil, err
	}
	out := &SearchRendered{Hits: make([]RenderedHit, 0, len(hits))}
	for _, h := range hits {
		r := RenderedHit{Room: id.RoomID(h.ev.room), Pos: h.ev.pos, EventID: id.EventID(h.ev.id), Sender: id.UserID(h.ev.sender),
			Event: d.appendEvent(nil, h.ev)}
		if req.Context {
			r.Context = h.appendContext(nil, d, req.Profile)
		}
		out.Hits = append(out.Hits, r)
	}
	if req.State {
		out.State = make(map[id.RoomID]json.RawMessage, len(state))
		for room, evs := range state {
			b := []byte{'['}
			for i, ev := range evs {
				if i > 0 {
					b = append(b, ',')
				}
				b = d.appendEvent(b, ev)
			}
			out.State[id.RoomID(room)] = append(b, ']')
		}
	}
	return out, nil
}

// loadHits loads the hits' events, leaving out those gone, redacted or
// not admitted.
func (sc *SearchScope) loadHits(ctx context.Context, want []SearchHit) ([]*searchHit, error) {
	byPos := make(map[int64]*evRow, len(want))
	for _, chunk := range chunks(want, maxIn) {
		args := make([]any, len(chunk))
		for i, h := range chunk {
			args[i] = h.Pos
		}
		evs, err := sc.s.queryEvents(ctx, `SELECT `+evCols+` FROM events e WHERE e.stream_pos IN (`+storage.Placeholders(1, len(args))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			byPos[ev.pos] = ev
		}
	}
	var out []*searchHit
	for _, h := range want {
		ev := byPos[h.Pos]
		a := sc.rooms[string(h.Room)]
		if ev == nil || a == nil || ev.room != string(h.Room) || ev.redactedBy != "" || ev.pos > a.upto || !a.vis.visible(ev) {
			continue
		}
		out = append(out, &searchHit{a: a, ev: ev})
	}
	return out, nil
}

// loadContext fills the events around each hit: one UNION ALL query per
// maxUnion hits and direction. Like /context, each side is limited in SQL
// and then filtered for visibility.
func (sc *SearchScope) loadContext(ctx context.Context, hits []*searchHit, before, after int) error {
	if err := sc.contextSide(ctx, hits, before, false); err != nil {
		return err
	}
	return sc.contextSide(ctx, hits, after, true)
}

// contextSide loads up to n events before (newest first) or after (oldest
// first, up to the read bound) each hit.
func (sc *SearchScope) contextSide(ctx context.Context, hits []*searchHit, n int, after bool) error {
	if n <= 0 {
		return nil
	}
	for start := 0; start < len(hits); start += maxUnion {
		chunk := hits[start:min(start+maxUnion, len(hits))]
		// The limit is a parameter, so the statement text (cached per
		// text on SQLite) depends only on the number of hits.
		var q strings.Builder
		args := []any{n}
		for i, h := range chunk {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			k := len(args)
			cond, order := fmt.Sprintf("e.stream_pos < $%d", k+2), "DESC"
			args = append(args, h.ev.room, h.ev.pos)
			if after {
				cond, order = fmt.Sprintf("e.stream_pos > $%d AND e.stream_pos <= $%d", k+2, k+3), "ASC"
				args = append(args, h.a.upto)
			}
			fmt.Fprintf(&q, `SELECT * FROM (SELECT %s, %d AS k FROM events e WHERE e.room_id = $%d AND %s ORDER BY e.stream_pos %s LIMIT $1) AS t%d`,
				evCols, i, k+1, cond, order, i)
		}
		rows, err := sc.s.db.Query(ctx, q.String(), args...)
		if err != nil {
			return fmt.Errorf("query search context: %w", err)
		}
		for rows.Next() {
			var k int
			ev, err := scanEvent(rows, &k)
			if err != nil {
				rows.Close()
				return err
			}
			h := chunk[k]
			if !h.a.vis.visible(ev) {
				continue
			}
			if after {
				h.after = append(h.after, ev)
			} else {
				h.before = append(h.before, ev)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// loadProfiles loads, for each hit, the member events of the senders of
// the hit and its context as of the last of those events (Synapse's
// "historic profile"). stateBefore takes one request per room, so hits
// are looked up in rounds with at most one hit of each room.
func (sc *SearchScope) loadProfiles(ctx context.Context, hits []*searchHit) error {
	pending := hits
	for len(pending) > 0 {
		var round, rest []*searchHit
		seen := map[string]bool{}
		var reqs []stateReq
		for _, h := range pending {
			if seen[h.a.room] {
				rest = append(rest, h)
				continue
			}
			seen[h.a.room] = true
			round = append(round, h)
			last := h.ev.pos
			if len(h.after) > 0 {
				last = h.after[len(h.after)-1].pos
			}
			evs := append(append(append([]*evRow{}, h.before...), h.ev), h.after...)
			reqs = append(reqs, stateReq{room: h.a.room, before: last + 1, members: senders(evs)})
		}
		got, err := sc.s.stateBefore(ctx, reqs, true)
		if err != nil {
			return err
		}
		for _, h := range round {
			h.profiles = got[h.a.room]
		}
		pending = rest
	}
	return nil
}

// appendContext appends the spec's result context object.
func (h *searchHit) appendContext(b []byte, d *decorator, profile bool) []byte {
	start, end := h.ev.pos-1, h.ev.pos
	if len(h.before) > 0 {
		start = h.before[len(h.before)-1].pos - 1
	}
	if len(h.after) > 0 {
		end = h.after[len(h.after)-1].pos
	}
	list := func(b []byte, evs []*evRow) []byte {
		b = append(b, '[')
		for i, ev := range evs {
			if i > 0 {
				b = append(b, ',')
			}
			b = d.appendEvent(b, ev)
		}
		return append(b, ']')
	}
	b = append(b, `{"events_before":`...)
	b = list(b, h.before)
	b = append(b, `,"events_after":`...)
	b = list(b, h.after)
	b = append(b, `,"start":`...)
	b = appendString(b, FormatToken(start))
	b = append(b, `,"end":`...)
	b = appendString(b, FormatToken(end))
	if profile {
		b = append(b, `,"profile_info":{`...)
		n := 0
		for _, m := range h.profiles {
			if m.stateKey == nil {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendKey(b, *m.stateKey)
			b = append(b, '{')
			first := true
			for _, f := range [...][2]string{{"displayname", "content.displayname"}, {"avatar_url", "content.avatar_url"}} {
				if v := gjson.GetBytes(m.client, f[1]); v.Type == gjson.String {
					if !first {
						b = append(b, ',')
					}
					first = false
					b = appendKey(b, f[0])
					b = appendString(b, v.Str)
				}
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

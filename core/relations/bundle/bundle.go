// Package bundle computes the bundled aggregations the client-server API
// puts under an event's unsigned "m.relations" (spec "Aggregations of child
// events"): the most recent valid edit (m.replace), the summary of a thread
// root (m.thread) and the events referencing it (m.reference).
//
// It reads the events table's relates_to and rel_type columns, which
// core/rooms fills at persist time and clears on redaction. A page of
// events costs one query when nothing relates to it, and at most three
// otherwise, whatever its size: one finds every relation of the page
// (thread replies counted in SQL, so a long thread is one row), one finds
// the edits of the threads' latest replies, and one loads the stored events
// that end up in the bundles. Bundled events are spliced in as stored client
// JSON with their own "unsigned" object, never decoded.
//
// It is a leaf package (storage only) so that core/sync (/sync, /messages,
// /context, /event) and core/relations (/threads) share one implementation.
// The caller decides what the viewer may see (Scope); this package never
// writes.
//
// NOTSPEC: m.thread's count includes replies the viewer's history
// visibility hides (the spec calls it approximate); latest_event is always
// a reply the viewer may see, or the thread summary is left out. Ignored
// users are not taken out, as nothing else in the server ignores them yet.
package bundle

import (
	"context"
	"database/sql"
	"encoding/json"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Relation types with a bundled aggregation, and the ones whose events get
// no bundle at all (an edit or a reaction has nothing to aggregate).
const (
	relReplace    = "m.replace"
	relThread     = "m.thread"
	relReference  = "m.reference"
	relAnnotation = "m.annotation"
)

// Parent is an event that may receive a bundle.
type Parent struct {
	EventID, RoomID, Sender, Type string
	// RelType is the parent's own relation type, "" when it has none.
	RelType string
	// Redacted parents get no m.replace (spec: an edit of a redacted event
	// is not bundled), but keep their threads and references.
	Redacted bool
}

// Child is a relation event as Scope.Visible sees it.
type Child struct {
	Pos      int64
	EventID  string
	RoomID   string
	Type     string
	StateKey *string
	Sender   string
}

// Scope is what the viewer may see of one room's relations.
type Scope struct {
	// Upto is the last stream position of the room the viewer may read.
	Upto int64
	// Visible, when set, decides about each relation at or before Upto
	// (history visibility). It is called without I/O; nil admits all.
	Visible func(Child) bool
}

// Request asks for the bundles of a page of events.
type Request struct {
	// Viewer is the user the bundles are for (current_user_participated).
	Viewer string
	// Now is the time in milliseconds, for the age of bundled events.
	Now     int64
	Parents []Parent
	// Scopes holds the Scope of each room of Parents; events of a room
	// without one get no bundle.
	Scopes map[string]Scope
}

// Load returns the value of unsigned "m.relations" of each parent that has
// any aggregation, keyed by event ID.
func Load(ctx context.Context, db *storage.DB, req *Request) (map[string][]byte, error) {
	l := &loader{db: db, req: req, byID: map[string]*agg{}}
	groups := map[int64][]string{}
	for i := range req.Parents {
		p := &req.Parents[i]
		sc, ok := req.Scopes[p.RoomID]
		if !ok || p.RelType == relReplace || p.RelType == relAnnotation || l.byID[p.EventID] != nil {
			continue
		}
		l.byID[p.EventID] = &agg{parent: p}
		groups[sc.Upto] = append(groups[sc.Upto], p.EventID)
	}
	if len(l.byID) == 0 {
		return nil, nil
	}
	// Rooms share one bound except where the viewer left some of them, so
	// there is usually one group.
	for upto, ids := range groups {
		for _, chunk := range chunks(ids, maxIn) {
			if err := l.relations(ctx, upto, chunk); err != nil {
				return nil, err
			}
		}
	}
	if err := l.latestEdits(ctx); err != nil {
		return nil, err
	}
	if err := l.loadEvents(ctx); err != nil {
		return nil, err
	}
	return l.render(), nil
}

// loader carries one Load call.
type loader struct {
	db   *storage.DB
	req  *Request
	byID map[string]*agg
}

// agg is what one parent's bundle is made of.
type agg struct {
	parent *Parent
	edits  edits
	refs   []Child
	// thread is set for a thread root: its reply count, the position of
	// its latest reply and whether the viewer sent one.
	thread *threadSum
	latest *stored
	// latestEdits are the edits of the latest reply, bundled inside it.
	latestEdits edits
}

type threadSum struct {
	count  int64
	latest int64
	mine   bool
}

// edits are the valid replacements of one event, most recent first; the
// first whose stored content has m.new_content is chosen.
type edits struct {
	list   []editRow
	next   int
	chosen *stored
}

type editRow struct {
	Child
	ts int64
}

// want returns the position of the edit to try next, if any.
func (e *edits) want() (int64, bool) {
	if e.chosen != nil || e.next >= len(e.list) {
		return 0, false
	}
	return e.list[e.next].Pos, true
}

// offer considers the stored event of the edit being tried.
func (e *edits) offer(ev *stored) {
	if ev == nil || (ev.typ != "m.room.encrypted" && !gjson.GetBytes(ev.client, `content.m\.new_content`).IsObject()) {
		e.next++ // not a valid replacement (or gone): try the next one
		return
	}
	e.chosen = ev
}

func (e *edits) sort() {
	sort.Slice(e.list, func(i, j int) bool {
		a, b := e.list[i], e.list[j]
		if a.ts != b.ts {
			return a.ts > b.ts
		}
		return a.EventID > b.EventID
	})
}

// stored is a stored event to splice into a bundle.
type stored struct {
	pos      int64
	eventID  string
	room     string
	typ      string
	stateKey *string
	sender   string
	ts       int64
	client   []byte
}

// visible applies the room's scope to a relation event.
func (l *loader) visible(c Child) bool {
	sc, ok := l.req.Scopes[c.RoomID]
	return ok && c.Pos <= sc.Upto && (sc.Visible == nil || sc.Visible(c))
}

// relations finds the edits and references of ids and their thread
// summaries, in one query. Each thread is one row (its reply count, latest
// reply and whether the viewer sent one), read from the
// events_thread_replies index alone: redacted replies need no redacted_by
// test because redaction clears rel_type. Edits and references come
// through events_relates. Placeholders run in order, each used once (the IN list
// is bound twice), which keeps SQLite's binding positional and cheap.
func (l *loader) relations(ctx context.Context, upto int64, ids []string) error {
	in1, args := inList(1, ids)
	n := len(args)
	in2, _ := inList(n+3, ids)
	args = append(args, upto, l.req.Viewer)
	args = append(args, args[:n]...)
	args = append(args, upto)
	rows, err := l.db.Query(ctx, `
		SELECT e.relates_to, e.rel_type, e.room_id, e.stream_pos, e.event_id, e.origin_ts, e.sender, e.type, e.state_key, 0, 0
		FROM events e
		WHERE e.relates_to IN (`+in1+`) AND e.rel_type IN ('m.replace', 'm.reference')
			AND e.redacted_by IS NULL AND e.stream_pos <= $`+strconv.Itoa(n+1)+`
		UNION ALL
		SELECT t.relates_to, 'm.thread', t.room_id, MAX(t.stream_pos), '', 0, '', '', NULL, COUNT(*),
			MAX(CASE WHEN t.sender = $`+strconv.Itoa(n+2)+` THEN 1 ELSE 0 END)
		FROM events t
		WHERE t.relates_to IN (`+in2+`) AND t.rel_type = 'm.thread' AND t.stream_pos <= $`+strconv.Itoa(2*n+3)+`
		GROUP BY t.relates_to, t.room_id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var relates, relType string
		var r editRow
		var sk sql.NullString
		var count, mine int64
		if err := rows.Scan(&relates, &relType, &r.RoomID, &r.Pos, &r.EventID, &r.ts, &r.Sender, &r.Type, &sk, &count, &mine); err != nil {
			return err
		}
		a := l.byID[relates]
		if a == nil || r.RoomID != a.parent.RoomID {
			continue
		}
		if sk.Valid {
			r.StateKey = &sk.String
		}
		p := a.parent
		switch relType {
		case relReplace:
			// Spec "Validity of replacement events"; m.new_content is
			// checked once the stored event is loaded.
			if !p.Redacted && r.Sender == p.Sender && r.Type == p.Type && r.StateKey == nil && l.visible(r.Child) {
				a.edits.list = append(a.edits.list, r)
			}
		case relReference:
			if l.visible(r.Child) {
				a.refs = append(a.refs, r.Child)
			}
		case relThread:
			// Threads cannot nest: a reply in a thread is no root.
			if p.RelType != relThread && count > 0 {
				a.thread = &threadSum{count: count, latest: r.Pos, mine: mine > 0 || p.Sender == l.req.Viewer}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		a := l.byID[id]
		a.edits.sort()
		sort.Slice(a.refs, func(i, j int) bool { return a.refs[i].Pos < a.refs[j].Pos })
	}
	return nil
}

// latestEdits finds the edits of the threads' latest replies.
func (l *loader) latestEdits(ctx context.Context) error {
	byLatest := map[int64]*agg{}
	var pos []int64
	var bound int64
	for _, a := range l.byID {
		if a.thread != nil {
			byLatest[a.thread.latest] = a
			pos = append(pos, a.thread.latest)
			bound = max(bound, l.req.Scopes[a.parent.RoomID].Upto)
		}
	}
	for _, chunk := range chunks(pos, maxIn) {
		in, args := inList(2, chunk)
		rows, err := l.db.Query(ctx, `
			SELECT l.stream_pos, l.room_id, l.sender, l.type, e.room_id, e.stream_pos, e.event_id, e.origin_ts, e.sender, e.type, e.state_key
			FROM events l JOIN events e ON e.relates_to = l.event_id
			WHERE l.stream_pos IN (`+in+`) AND e.rel_type = 'm.replace' AND e.redacted_by IS NULL AND e.stream_pos <= $1`,
			append([]any{bound}, args...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var lpos int64
			var lroom, lsender, ltype string
			var r editRow
			var sk sql.NullString
			if err := rows.Scan(&lpos, &lroom, &lsender, &ltype, &r.RoomID, &r.Pos, &r.EventID, &r.ts, &r.Sender, &r.Type, &sk); err != nil {
				rows.Close()
				return err
			}
			a := byLatest[lpos]
			if a == nil || sk.Valid || r.RoomID != lroom || r.Sender != lsender || r.Type != ltype || !l.visible(r.Child) {
				continue
			}
			a.latestEdits.list = append(a.latestEdits.list, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	for _, a := range byLatest {
		a.latestEdits.sort()
	}
	return nil
}

// loadEvents loads the stored events the bundles splice in: chosen edits
// and latest replies. An edit without m.new_content is passed over for the
// next most recent, so this may take more than one round (rarely).
func (l *loader) loadEvents(ctx context.Context) error {
	for {
		var want []int64
		for _, a := range l.byID {
			if p, ok := a.edits.want(); ok {
				want = append(want, p)
			}
			if a.thread != nil {
				if a.latest == nil {
					want = append(want, a.thread.latest)
				}
				if p, ok := a.latestEdits.want(); ok {
					want = append(want, p)
				}
			}
		}
		if len(want) == 0 {
			return nil
		}
		got, err := l.load(ctx, want)
		if err != nil {
			return err
		}
		for _, a := range l.byID {
			if p, ok := a.edits.want(); ok {
				a.edits.offer(got[p])
			}
			if a.thread == nil {
				continue
			}
			if a.latest == nil {
				ev := got[a.thread.latest]
				if ev == nil || !l.visible(Child{Pos: ev.pos, EventID: ev.eventID, RoomID: ev.room, Type: ev.typ, StateKey: ev.stateKey, Sender: ev.sender}) {
					a.thread = nil // no latest reply to show: leave the summary out
					continue
				}
				a.latest = ev
			}
			if p, ok := a.latestEdits.want(); ok {
				a.latestEdits.offer(got[p])
			}
		}
	}
}

func (l *loader) load(ctx context.Context, pos []int64) (map[int64]*stored, error) {
	out := make(map[int64]*stored, len(pos))
	for _, chunk := range chunks(pos, maxIn) {
		in, args := inList(1, chunk)
		rows, err := l.db.Query(ctx, `SELECT stream_pos, event_id, room_id, type, state_key, sender, origin_ts, client
			FROM events WHERE stream_pos IN (`+in+`) AND redacted_by IS NULL`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var ev stored
			var sk sql.NullString
			if err := rows.Scan(&ev.pos, &ev.eventID, &ev.room, &ev.typ, &sk, &ev.sender, &ev.ts, &ev.client); err != nil {
				rows.Close()
				return nil, err
			}
			if sk.Valid {
				ev.stateKey = &sk.String
			}
			out[ev.pos] = &ev
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// render writes each bundle as a JSON object.
func (l *loader) render() map[string][]byte {
	out := make(map[string][]byte)
	now := l.req.Now
	for id, a := range l.byID {
		var b []byte
		next := func(key string) {
			if b == nil {
				b = append(b, '{')
			} else {
				b = append(b, ',')
			}
			b = append(b, key...)
		}
		if e := a.edits.chosen; e != nil {
			next(`"m.replace":`)
			b = appendEvent(b, e, now, nil)
		}
		if t := a.thread; t != nil && a.latest != nil {
			next(`"m.thread":{"latest_event":`)
			var rel []byte
			if e := a.latestEdits.chosen; e != nil {
				rel = appendEvent([]byte(`{"m.replace":`), e, now, nil)
				rel = append(rel, '}')
			}
			b = appendEvent(b, a.latest, now, rel)
			b = append(b, `,"count":`...)
			b = strconv.AppendInt(b, t.count, 10)
			b = append(b, `,"current_user_participated":`...)
			b = strconv.AppendBool(b, t.mine)
			b = append(b, '}')
		}
		if len(a.refs) > 0 {
			next(`"m.reference":{"chunk":[`)
			for i, r := range a.refs {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"event_id":`...)
				b = appendString(b, r.EventID)
				b = append(b, '}')
			}
			b = append(b, "]}"...)
		}
		if b != nil {
			out[id] = append(b, '}')
		}
	}
	return out
}

// appendEvent appends a stored client event with an "unsigned" object
// holding its age and, when set, its own m.relations.
func appendEvent(b []byte, ev *stored, now int64, relations []byte) []byte {
	body := ev.client
	for len(body) > 0 && (body[len(body)-1] == ' ' || body[len(body)-1] == '\n' || body[len(body)-1] == '\r' || body[len(body)-1] == '\t') {
		body = body[:len(body)-1]
	}
	if len(body) < 2 || body[len(body)-1] != '}' {
		return append(b, "{}"...)
	}
	b = append(b, body[:len(body)-1]...)
	b = append(b, `,"unsigned":{"age":`...)
	b = strconv.AppendInt(b, max(now-ev.ts, 0), 10)
	if relations != nil {
		b = append(b, `,"m.relations":`...)
		b = append(b, relations...)
	}
	return append(b, "}}"...)
}

// appendString appends s as a JSON string; IDs take the fast path.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// maxIn bounds one IN list; a page of events is at most 1000.
const maxIn = 512

// inList renders an IN list starting at parameter next. Its length is
// rounded up (to a power of two up to 32, then to a multiple of 32) by
// repeating the last value, so that the SQLite statement cache, which
// keeps one prepared statement per query text, holds about twenty shapes
// per query instead of one per page size.
func inList[T any](next int, values []T) (string, []any) {
	n := 1
	for n < len(values) && n < 32 {
		n *= 2
	}
	if len(values) > n {
		n = (len(values) + 31) / 32 * 32
	}
	args := make([]any, n)
	for i := range args {
		args[i] = values[min(i, len(values)-1)]
	}
	return storage.Placeholders(next, n), args
}

// chunks splits values into slices of at most n.
func chunks[T any](values []T, n int) [][]T {
	var out [][]T
	for len(values) > n {
		out = append(out, values[:n])
		values = values[n:]
	}
	if len(values) > 0 {
		out = append(out, values)
	}
	return out
}

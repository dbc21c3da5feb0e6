package search

import (
	"context"
	"database/sql"
	"fmt"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// Reading the index: SQL narrows the rows by the full-text query, rooms,
// keys and senders; every row then goes through params.keep, which applies
// each room's read bound, the rest of the filter and the sync service's
// visibility rules. A page reads batches until it has one result more
// than its limit (so next_batch is only set when more results exist) or
// has examined maxScan rows.

const (
	// maxScan bounds the rows one page examines. Past it the page ends
	// early with a next_batch after the last row examined (a user who
	// joined a "joined"-visibility room late and searches a word common
	// in its earlier history gets short pages, not a full-room scan).
	maxScan = 5000
	// countCap bounds the rows counted one by one; past it count is
	// the number of matching rows in the rooms searched, visible or not,
	// up to maxCount (the spec asks for "an approximate count"). Each
	// row counted costs a row lookup on SQLite.
	countCap = 1000
	maxCount = 10000
	// rankWindow bounds how many matches rank order ranks: the newest
	// ones. NOTSPEC: an older match ranks nowhere when a search has more
	// matches than this in the rooms searched (Synapse stops at 500
	// results); without the bound one page would rank every match.
	rankWindow = 2000
)

func badJSON(msg string) error { return httpx.BadJSON("%s", msg) }
func badTokenOrder() error     { return httpx.InvalidParam("next_batch was made for another order_by") }

// params is one search with its SQL arguments.
type params struct {
	crit  *criteria
	scope *gsync.SearchScope
	upto  int64
	after cursor
	// group and key limit the search to one room or sender (a group's
	// next_batch).
	group, key string

	rooms               map[string]int64 // room -> last readable position
	roomsArg, fieldsArg string
	senders, notSenders any // JSON arrays, or nil for no condition
}

// prepare works out the SQL arguments; it returns false when nothing can
// match.
func (p *params) prepare() bool {
	c, f := p.crit, p.crit.filter
	if c.query.empty() {
		return false
	}
	p.rooms = map[string]int64{}
	for room, upto := range p.scope.Rooms() {
		if !f.AllowsRoom(string(room)) || p.group == groupRoom && string(room) != p.key {
			continue
		}
		p.rooms[string(room)] = min(upto, p.upto)
	}
	var fields []string
	for _, k := range c.keys {
		if f.AllowsType(keyTypes[k]) {
			fields = append(fields, k)
		}
	}
	if len(p.rooms) == 0 || len(fields) == 0 {
		return false
	}
	p.roomsArg, p.fieldsArg = jsonList(sortedKeys(p.rooms)), jsonList(fields)
	switch {
	case p.group == groupSender:
		if !f.AllowsSender(p.key) {
			return false
		}
		p.senders = jsonList([]string{p.key})
	case f.Senders != nil:
		if len(*f.Senders) == 0 {
			return false
		}
		p.senders = jsonList(*f.Senders)
	}
	if len(f.NotSenders) > 0 {
		p.notSenders = jsonList(f.NotSenders)
	}
	return true
}

// row is one candidate row of the index.
type row struct {
	pos                 int64
	room, sender, field string
	rank                int64
	hasURL              bool
}

func (r *row) cursor(order byte) cursor {
	if order == orderRecent {
		return cursor{pos: r.pos}
	}
	return cursor{rank: r.rank, pos: r.pos}
}

var emptyStateKey = ""

// keep reports whether the user may get r as a result.
func (p *params) keep(r *row) bool {
	upto, ok := p.rooms[r.room]
	if !ok || r.pos > upto {
		return false
	}
	f := p.crit.filter
	typ := keyTypes[r.field]
	if !f.AllowsSender(r.sender) || !f.AllowsType(typ) || p.group == groupSender && r.sender != p.key {
		return false
	}
	var sk *string
	if typ != "m.room.message" {
		sk = &emptyStateKey
	}
	return p.scope.Visible(id.RoomID(r.room), r.pos, typ, sk)
}

// baseArgs are $1 to $6 of every read statement.
func (s *Service) baseArgs(p *params) []any {
	match := p.crit.query.fts5()
	if s.db.Dialect == storage.Postgres {
		match = p.crit.query.tsquery()
	}
	return []any{match, p.roomsArg, p.fieldsArg, p.upto, p.senders, p.notSenders}
}

// page returns up to limit results after p.after, and the cursor of the
// next page when there may be more.
func (s *Service) page(ctx context.Context, p *params) ([]*row, *cursor, error) {
	limit := p.crit.limit
	batch := min(max(2*(limit+1), 20), 500)
	cur := p.after
	var hits []*row
	scanned := 0
	for {
		rows, err := s.pageRows(ctx, p, cur, batch)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			cur = r.cursor(p.crit.order)
			scanned++
			if !p.keep(r) || p.crit.filter.ContainsURL != nil && *p.crit.filter.ContainsURL != r.hasURL {
				continue
			}
			hits = append(hits, r)
			if len(hits) > limit {
				next := hits[limit-1].cursor(p.crit.order)
				return hits[:limit], &next, nil
			}
		}
		if len(rows) < batch {
			return hits, nil, nil
		}
		if scanned >= maxScan {
			return hits, &cur, nil
		}
	}
}

// pageRows reads up to n rows after cur in the request's order.
func (s *Service) pageRows(ctx context.Context, p *params, cur cursor, n int) ([]*row, error) {
	q, args := s.sql.pageRank, append(s.baseArgs(p), cur.rank, cur.pos, n, rankWindow)
	if p.crit.order == orderRecent {
		q, args = s.sql.pageRecent, append(s.baseArgs(p), cur.pos, n)
	}
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var out []*row
	for rows.Next() {
		r := &row{}
		if err := rows.Scan(&r.pos, &r.room, &r.sender, &r.field, &r.rank, &r.hasURL); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// count returns how many results the search has in all.
func (s *Service) count(ctx context.Context, p *params) (int, error) {
	rows, err := s.db.Query(ctx, s.sql.countRows, append(s.baseArgs(p), countCap+1)...)
	if err != nil {
		return 0, fmt.Errorf("search count: %w", err)
	}
	n, total := 0, 0
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.pos, &r.room, &r.sender, &r.field); err != nil {
			rows.Close()
			return 0, err
		}
		total++
		if p.keep(&r) {
			n++
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil || total <= countCap {
		return n, err
	}
	var all sql.NullInt64
	if err := s.db.QueryRow(ctx, s.sql.countAll, append(s.baseArgs(p), maxCount)...).Scan(&all); err != nil {
		return 0, fmt.Errorf("search count: %w", err)
	}
	return int(all.Int64), nil
}

// Package search owns server-side search (POST /search, the spec's
// "Server Side Search" module): the full-text index of room messages,
// names and topics, the search term syntax (query.go), ranking, and the
// next_batch tokens (token.go).
//
// The index (index.go) is written off the send path by a background
// indexer (indexer.go) that follows a durable cursor through the events
// table, one transaction per batch; a search first indexes whatever is
// still pending, so a user always finds what was sent before they
// searched. A redaction deletes its target's row in its own transaction.
// Events stored before migration 018 were indexed by it.
//
// What a user may find is not decided here: the sync service, which owns
// the membership and history_visibility rules of /messages and /context,
// gives the rooms to search and checks every candidate row, and it
// renders the results, so search can never show an event those endpoints
// would hide. Rooms searched are those the user is joined to and those
// they left after joining (up to their leave).
//
// Like Synapse, only the room_events category exists. Unlike Synapse, rank
// order pages with next_batch too: rank depends on the row alone (see
// index.go), and each later page searches only events up to the first
// page's stream position, so pages never repeat a result. NOTSPEC: rank
// order ranks the newest rankWindow matches only, and count is exact up to
// countCap matches (store.go).
//
// Group "order" is the 1-based position of the group's first result in
// results (Synapse sends the rank of that result, a float, where the spec
// says integer).
package search

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// Timeline is what search needs from the sync service, which owns the
// visibility rules of room history.
type Timeline interface {
	// SearchScope returns the rooms the user may search and the rules
	// for which of their events the user may see.
	SearchScope(ctx context.Context, user id.UserID, device id.DeviceID) (*gsync.SearchScope, error)
}

var _ Timeline = (*gsync.Service)(nil)

// Service keeps the index and searches it.
type Service struct {
	db       *storage.DB
	timeline Timeline
	sql      *dialectSQL
	isql     *indexSQL
	idx      *indexer
	log      zerolog.Logger
}

// New returns a Service on db, checking visibility with timeline. Register
// PersistHook with the rooms service before any event is sent, subscribe
// OnCommit to the stream writer, then call Start (and Close at shutdown).
// Without Start, searches still index what they need themselves.
func New(db *storage.DB, timeline Timeline, log zerolog.Logger) *Service {
	return &Service{db: db, timeline: timeline, sql: newDialectSQL(db.Dialect), isql: newIndexSQL(db.Dialect),
		idx: newIndexer(), log: log}
}

// Request is one POST /search.
type Request struct {
	UserID    id.UserID
	DeviceID  id.DeviceID
	Body      *Body
	NextBatch string
}

// Search answers POST /search.
func (s *Service) Search(ctx context.Context, req *Request) (any, error) {
	if req.Body == nil || req.Body.SearchCategories == nil {
		return nil, badJSON("search_categories is required")
	}
	re := req.Body.SearchCategories.RoomEvents
	if re == nil {
		return map[string]any{"search_categories": map[string]any{}}, nil
	}
	c, err := re.validate()
	if err != nil {
		return nil, err
	}
	var tok *token
	if req.NextBatch != "" {
		if tok, err = parseToken(req.NextBatch); err != nil {
			return nil, err
		}
		if tok.order != c.order {
			return nil, badTokenOrder()
		}
	}
	scope, err := s.timeline.SearchScope(ctx, req.UserID, req.DeviceID)
	if err != nil {
		return nil, err
	}
	// Read-your-writes: index every event stored up to the scope's
	// position (which follows the caller's own sends), as far as this
	// search can see.
	if err := s.catchUp(ctx, scope.Pos(), nil); err != nil {
		return nil, err
	}
	res, err := s.search(ctx, c, tok, scope)
	if err != nil {
		return nil, err
	}
	return map[string]any{"search_categories": map[string]any{"room_events": res}}, nil
}

// roomEvents is the room_events part of the response.
type roomEvents struct {
	Count      int                                `json:"count"`
	Highlights []string                           `json:"highlights"`
	Results    []result                           `json:"results"`
	State      map[id.RoomID]json.RawMessage      `json:"state,omitempty"`
	Groups     map[string]map[string]*groupResult `json:"groups,omitempty"`
	NextBatch  string                             `json:"next_batch,omitempty"`
}

type result struct {
	Rank    float64         `json:"rank"`
	Result  json.RawMessage `json:"result"`
	Context json.RawMessage `json:"context,omitempty"`
}

// groupResult is one group of a grouping. Order is the 1-based position
// of the group's first result in results.
type groupResult struct {
	NextBatch string   `json:"next_batch,omitempty"`
	Order     int      `json:"order"`
	Results   []string `json:"results"`
}

// rankScale is how much the stored integer rank is scaled up.
const rankScale = 1e6

// search runs a validated request in scope.
func (s *Service) search(ctx context.Context, c *criteria, tok *token, scope *gsync.SearchScope) (*roomEvents, error) {
	res := &roomEvents{Highlights: []string{}, Results: []result{}}
	p := &params{crit: c, scope: scope, upto: scope.Pos(), after: start}
	if tok != nil {
		p.upto, p.after = min(tok.upto, scope.Pos()), tok.after
		p.group, p.key = tok.group, tok.key
	}
	if !p.prepare() {
		return res, nil
	}
	hits, next, err := s.page(ctx, p)
	if err != nil {
		return nil, err
	}
	if res.Count, err = s.count(ctx, p); err != nil {
		return nil, err
	}
	req := &gsync.SearchRenderRequest{Context: c.context, Before: c.before, After: c.after, Profile: c.profile, State: c.state}
	ranks := make(map[int64]int64, len(hits))
	for _, h := range hits {
		req.Hits = append(req.Hits, gsync.SearchHit{Room: id.RoomID(h.room), Pos: h.pos})
		ranks[h.pos] = h.rank
	}
	rendered, err := scope.Render(ctx, req)
	if err != nil {
		return nil, err
	}
	hl := newHighlighter(c.query)
	for _, h := range rendered.Hits {
		res.Results = append(res.Results, result{Rank: float64(ranks[h.Pos]) / rankScale, Result: h.Event, Context: h.Context})
		hl.add(eventText(h.Event))
	}
	res.Highlights = hl.words()
	res.State = rendered.State
	if next != nil {
		t := &token{order: c.order, upto: p.upto, after: *next, group: p.group, key: p.key}
		res.NextBatch = t.String()
	}
	res.Groups = groups(c, p, rendered.Hits, next)
	s.log.Debug().Int("results", len(res.Results)).Int("count", res.Count).
		Bool("more", next != nil).Msg("Searched")
	return res, nil
}

// groups builds the requested groupings of the page's results. A group's
// next_batch continues the search within that group; it is set whenever
// the page has a next_batch, so it may lead to an empty page.
func groups(c *criteria, p *params, hits []gsync.RenderedHit, next *cursor) map[string]map[string]*groupResult {
	if len(c.groups) == 0 {
		return nil
	}
	out := map[string]map[string]*groupResult{}
	for kind := range c.groups {
		m := map[string]*groupResult{}
		for i, h := range hits {
			value := string(h.Room)
			if kind == groupSender {
				value = string(h.Sender)
			}
			g := m[value]
			if g == nil {
				g = &groupResult{Order: i + 1, Results: []string{}}
				if next != nil {
					g.NextBatch = (&token{order: c.order, upto: p.upto, after: *next, group: kind, key: value}).String()
				}
				m[value] = g
			}
			g.Results = append(g.Results, string(h.EventID))
		}
		out[kind] = m
	}
	return out
}

// eventText returns the searchable text of a rendered event.
func eventText(ev json.RawMessage) string {
	var out []byte
	for _, v := range gjson.GetManyBytes(ev, "content.body", "content.name", "content.topic") {
		if v.Type == gjson.String {
			out = append(append(out, v.Str...), ' ')
		}
	}
	return string(out)
}

// sortedKeys returns m's keys sorted, for stable SQL arguments.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func jsonList(list []string) string {
	if list == nil {
		list = []string{}
	}
	b, err := json.Marshal(list)
	if err != nil {
		panic(fmt.Sprintf("search: encode list: %v", err)) // strings always encode
	}
	return string(b)
}

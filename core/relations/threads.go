package relations

import (
	"context"
	"encoding/json"
	"math"
	"strconv"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// ThreadsQuery selects a page of a room's threads.
type ThreadsQuery struct {
	RoomID id.RoomID
	// Include is "all" (default) or "participated": threads whose root or
	// a reply the viewer sent.
	Include string
	// From is a next_batch token from an earlier page.
	From  string
	Limit int64
}

// ThreadsPage is the /threads response.
type ThreadsPage struct {
	Chunk     []json.RawMessage `json:"chunk"`
	NextBatch string            `json:"next_batch,omitempty"`
}

// threadSummary is the bundled m.thread aggregation of a root.
type threadSummary struct {
	LatestEvent             json.RawMessage `json:"latest_event"`
	Count                   int             `json:"count"`
	CurrentUserParticipated bool            `json:"current_user_participated"`
}

type thread struct {
	root   id.EventID
	latest int64
	count  int
}

// Threads lists thread roots, the most recently active first, each with its
// m.thread summary in unsigned.m.relations. A next_batch token is the stream
// position just below the last thread's latest reply.
func (s *Service) Threads(ctx context.Context, viewer id.UserID, q ThreadsQuery) (*ThreadsPage, error) {
	include := q.Include
	if include == "" {
		include = "all"
	}
	if include != "all" && include != "participated" {
		return nil, httpx.InvalidParam("include must be \"all\" or \"participated\"")
	}
	limit, err := checkLimit(q.Limit, DefaultLimit)
	if err != nil {
		return nil, err
	}
	from, hasFrom, err := parsePos("from", q.From)
	if err != nil {
		return nil, err
	}
	readLimit, err := s.ReadLimit(ctx, q.RoomID, viewer)
	if err != nil {
		return nil, err
	}
	before := int64(math.MaxInt64)
	if hasFrom {
		before = from
	}
	threads, err := s.threadPage(ctx, q.RoomID, viewer, include == "participated", readLimit, before, limit+1)
	if err != nil {
		return nil, err
	}
	page := &ThreadsPage{Chunk: []json.RawMessage{}}
	if len(threads) > limit {
		threads = threads[:limit]
		page.NextBatch = formatPos(threads[len(threads)-1].latest - 1)
	}
	if len(threads) == 0 {
		return page, nil
	}
	roots, latest, participated, err := s.threadDetails(ctx, q.RoomID, viewer, threads)
	if err != nil {
		return nil, err
	}
	for _, t := range threads {
		root, ok := roots[t.root]
		if !ok {
			continue
		}
		latestEv, err := s.render(latest[t.latest], nil)
		if err != nil {
			return nil, err
		}
		summary, err := json.Marshal(map[string]threadSummary{"m.thread": {
			LatestEvent: latestEv, Count: t.count,
			CurrentUserParticipated: include == "participated" || participated[t.root] || root.sender == string(viewer),
		}})
		if err != nil {
			return nil, err
		}
		out, err := s.render(root, summary)
		if err != nil {
			return nil, err
		}
		page.Chunk = append(page.Chunk, out)
	}
	return page, nil
}

// threadPage finds up to n threads whose latest reply visible at readLimit
// is at or below before, newest activity first.
func (s *Service) threadPage(ctx context.Context, roomID id.RoomID, viewer id.UserID, participated bool, readLimit, before int64, n int) ([]thread, error) {
	query := `
		SELECT t.relates_to, MAX(t.stream_pos), COUNT(*)
		FROM events t JOIN events root ON root.event_id = t.relates_to
		WHERE t.room_id = $1 AND root.room_id = $1 AND t.rel_type = 'm.thread' AND t.redacted_by IS NULL
			AND t.stream_pos <= $2`
	args := []any{roomID, readLimit, before}
	if participated {
		query += ` AND (root.sender = $4 OR EXISTS (
			SELECT 1 FROM events p WHERE p.relates_to = t.relates_to AND p.room_id = $1 AND p.rel_type = 'm.thread'
				AND p.sender = $4 AND p.redacted_by IS NULL AND p.stream_pos <= $2))`
		args = append(args, viewer)
	}
	args = append(args, n)
	query += ` GROUP BY t.relates_to HAVING MAX(t.stream_pos) <= $3 ORDER BY MAX(t.stream_pos) DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []thread
	for rows.Next() {
		var t thread
		if err := rows.Scan(&t.root, &t.latest, &t.count); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// threadDetails loads the roots, the latest replies and the viewer's
// participation for a page of threads in three queries.
func (s *Service) threadDetails(ctx context.Context, roomID id.RoomID, viewer id.UserID, threads []thread) (
	roots map[id.EventID]storedEvent, latest map[int64]storedEvent, participated map[id.EventID]bool, err error,
) {
	rootArgs := make([]any, len(threads))
	posArgs := make([]any, len(threads))
	for i, t := range threads {
		rootArgs[i], posArgs[i] = t.root, t.latest
	}
	const cols = `SELECT stream_pos, event_id, sender, client, origin_ts FROM events WHERE `
	rootEvs, err := s.queryEvents(ctx, cols+`event_id IN (`+storage.Placeholders(1, len(rootArgs))+`)`, rootArgs...)
	if err != nil {
		return nil, nil, nil, err
	}
	latestEvs, err := s.queryEvents(ctx, cols+`stream_pos IN (`+storage.Placeholders(1, len(posArgs))+`)`, posArgs...)
	if err != nil {
		return nil, nil, nil, err
	}
	roots, latest = map[id.EventID]storedEvent{}, map[int64]storedEvent{}
	for _, ev := range rootEvs {
		roots[id.EventID(ev.eventID)] = ev
	}
	for _, ev := range latestEvs {
		latest[ev.pos] = ev
	}
	args := append([]any{roomID, viewer}, rootArgs...)
	rows, err := s.db.Query(ctx, `SELECT DISTINCT relates_to FROM events
		WHERE room_id = $1 AND sender = $2 AND rel_type = 'm.thread' AND redacted_by IS NULL
			AND relates_to IN (`+storage.Placeholders(3, len(rootArgs))+`)`, args...)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	participated = map[id.EventID]bool{}
	for rows.Next() {
		var root id.EventID
		if err := rows.Scan(&root); err != nil {
			return nil, nil, nil, err
		}
		participated[root] = true
	}
	return roots, latest, participated, rows.Err()
}

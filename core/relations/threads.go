package relations

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"strconv"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/relations/bundle"
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

type thread struct {
	root   id.EventID
	latest int64
}

// Threads lists thread roots, the most recently active first, each with its
// bundled aggregations (the m.thread summary, and any edit or references)
// in unsigned.m.relations. A next_batch token is the stream position just
// below the last thread's latest reply.
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
	roots, bundles, err := s.threadRoots(ctx, q.RoomID, viewer, threads, readLimit)
	if err != nil {
		return nil, err
	}
	for _, t := range threads {
		root, ok := roots[t.root]
		if !ok {
			continue
		}
		out, err := s.render(root, bundles[string(t.root)])
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
		SELECT t.relates_to, MAX(t.stream_pos)
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
		if err := rows.Scan(&t.root, &t.latest); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// threadRoots loads the roots of a page of threads and their bundled
// aggregations (core/relations/bundle, shared with /sync and /messages).
func (s *Service) threadRoots(ctx context.Context, roomID id.RoomID, viewer id.UserID, threads []thread, readLimit int64) (
	map[id.EventID]storedEvent, map[string][]byte, error,
) {
	args := make([]any, len(threads))
	for i, t := range threads {
		args[i] = t.root
	}
	rows, err := s.db.Query(ctx, `SELECT stream_pos, event_id, sender, client, origin_ts, type, rel_type, redacted_by
		FROM events WHERE room_id = $1 AND event_id IN (`+storage.Placeholders(2, len(args))+`)`, append([]any{roomID}, args...)...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	roots := map[id.EventID]storedEvent{}
	var parents []bundle.Parent
	for rows.Next() {
		var ev storedEvent
		var client, typ string
		var relType, redactedBy sql.NullString
		if err := rows.Scan(&ev.pos, &ev.eventID, &ev.sender, &client, &ev.originTS, &typ, &relType, &redactedBy); err != nil {
			return nil, nil, err
		}
		ev.client = []byte(client)
		roots[id.EventID(ev.eventID)] = ev
		parents = append(parents, bundle.Parent{EventID: ev.eventID, RoomID: string(roomID), Sender: ev.sender, Type: typ,
			RelType: relType.String, Redacted: redactedBy.Valid})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	bundles, err := bundle.Load(ctx, s.db, &bundle.Request{Viewer: string(viewer), Now: s.now().UnixMilli(), Parents: parents,
		Scopes: map[string]bundle.Scope{string(roomID): {Upto: readLimit}}})
	return roots, bundles, err
}

package search

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Indexing happens off the send path. search_index_state holds one
// durable cursor, indexed_upto: every event at or below it that should be
// in event_search is there. A background goroutine, woken by the stream
// writer's commits (OnCommit), waits indexDebounce so one transaction
// takes a batch of events (FTS5 costs far less per row in a big
// transaction), then indexes the events past the cursor, at most
// indexBatchSize per transaction, and moves the cursor in that same
// transaction. Start catches up whatever is behind; Search first brings
// the index up to date itself (read-your-writes), under the same mutex.
//
// Redactions still delete their target's row in their own transaction
// (PersistHook); an event redacted before the indexer reached it is
// skipped because its redacted_by is set. On SQLite the single writer
// orders the two. On PostgreSQL, under READ COMMITTED, an indexer could
// read a target just before its redaction commits and insert its row just
// after the redaction's DELETE looked for it; so the indexer holds an
// exclusive transaction-level advisory lock (indexLockKey) and a
// redaction takes it shared before its DELETE. Whichever comes second
// sees what the first committed. Neither waits on the other's row locks,
// so the two cannot deadlock. The lock also serialises the indexers of
// several processes sharing the database; rows are still inserted ON
// CONFLICT DO NOTHING and the cursor only moves forward.

const (
	// indexDebounce is how long the indexer waits after a commit before
	// indexing, so that one transaction indexes many events.
	indexDebounce = 50 * time.Millisecond
	// indexBatchSize bounds the events one indexing transaction reads,
	// which keeps SQLite's single writer free for sends.
	indexBatchSize = 500
	// indexRetry is how long the indexer waits after a failed batch
	// before trying again when no commit wakes it sooner.
	indexRetry = 5 * time.Second
	// indexLockKey is the PostgreSQL advisory lock taken by the indexer
	// (exclusive) and by redactions (shared), with the hash of the schema
	// as second key so that databases in other schemas (tests) do not
	// wait on each other.
	indexLockKey int32 = 0x67687372 // "ghsr"
)

// indexer is the Service's indexing state.
type indexer struct {
	// mu serialises indexing: the background batches and the catch-up
	// of searches.
	mu      sync.Mutex
	loaded  bool          // guarded by mu: done holds the durable cursor
	done    int64         // guarded by mu: the cursor as last read or written
	changed chan struct{} // guarded by mu: closed and replaced when done moves

	batch     int           // events read per transaction
	wake      chan struct{} // holds a token while indexing may be due
	stop      chan struct{}
	stopped   chan struct{}
	startOnce sync.Once
	closeOnce sync.Once
}

func newIndexer() *indexer {
	return &indexer{batch: indexBatchSize, changed: make(chan struct{}), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), stopped: make(chan struct{})}
}

// indexSQL is the indexer's SQL in the database's dialect.
type indexSQL struct {
	pending, cursor, lock, rows, insert, advance string
	// redactionLock is run by a redaction before it deletes its target's
	// row; empty on SQLite.
	redactionLock string
}

func newIndexSQL(d storage.Dialect) *indexSQL {
	var lock, redactionLock string
	insert := `INSERT INTO event_search (rowid, room_id, sender, field, text)
		SELECT json_extract(value, '$.p'), json_extract(value, '$.r'), json_extract(value, '$.s'),
			json_extract(value, '$.f'), json_extract(value, '$.t') FROM json_each($1)`
	if d == storage.Postgres {
		lock = `SELECT pg_advisory_xact_lock(CAST($1 AS INTEGER), hashtext(current_schema()))`
		redactionLock = `SELECT pg_advisory_xact_lock_shared(CAST($1 AS INTEGER), hashtext(current_schema()))`
		insert = `INSERT INTO event_search (stream_pos, room_id, sender, field, text)
			SELECT p, r, s, f, t FROM json_to_recordset(CAST($1 AS json)) AS x(p BIGINT, r TEXT, s TEXT, f TEXT, t TEXT)
			ON CONFLICT (stream_pos) DO NOTHING`
	}
	return &indexSQL{
		// pending returns the last position of the next batch of events
		// in ($1, $3], or NULL when there is none.
		pending: `SELECT MAX(stream_pos) FROM (SELECT stream_pos FROM events WHERE stream_pos > $1 AND stream_pos <= $3
			ORDER BY stream_pos LIMIT $2) AS b`,
		cursor: `SELECT indexed_upto FROM search_index_state`,
		lock:   lock,
		// rows are the events with searchable text in ($1, $2], by the
		// rules of indexRow.
		rows: `SELECT stream_pos, room_id, sender, type, client FROM events
			WHERE stream_pos > $1 AND stream_pos <= $2 AND redacted_by IS NULL
				AND (type = 'm.room.message' OR (type IN ('m.room.name', 'm.room.topic') AND state_key = ''))
			ORDER BY stream_pos`,
		insert:        insert,
		advance:       `UPDATE search_index_state SET indexed_upto = $1 WHERE indexed_upto < $1`,
		redactionLock: redactionLock,
	}
}

// indexRow is one event_search row, as the insert statement reads it.
type indexRow struct {
	Pos    int64  `json:"p"`
	Room   string `json:"r"`
	Sender string `json:"s"`
	Field  string `json:"f"`
	Text   string `json:"t"`
}

// searchText returns the field and text an event of type typ with client
// JSON client is indexed under, or ok false when it has none: the body of
// a message, the name or topic of a room (state key "", which the caller
// checks), only when a non-empty string.
func searchText(typ string, client []byte) (field, text string, ok bool) {
	var path string
	switch typ {
	case "m.room.message":
		field, path = "content.body", "content.body"
	case "m.room.name":
		field, path = "content.name", "content.name"
	case "m.room.topic":
		field, path = "content.topic", "content.topic"
	default:
		return "", "", false
	}
	v := gjson.GetBytes(client, path)
	if v.Type != gjson.String || v.Str == "" {
		return "", "", false
	}
	text = v.Str
	if strings.IndexByte(text, 0) >= 0 {
		// PostgreSQL text cannot hold NUL.
		text = strings.ReplaceAll(text, "\x00", "")
	}
	return field, text, true
}

// OnCommit is the stream.Writer hook (register it with Subscribe): a batch
// that stored events wakes the background indexer. It never blocks.
func (s *Service) OnCommit(changes []stream.Change) {
	for _, c := range changes {
		if c.Kind == stream.KindEvent {
			s.kick()
			return
		}
	}
}

func (s *Service) kick() {
	select {
	case s.idx.wake <- struct{}{}:
	default: // already due
	}
}

// Start starts the background indexer, which first catches up with the
// events stored while no indexer ran. Subscribe OnCommit to the stream
// writer before; call Close to stop it.
func (s *Service) Start() {
	s.idx.startOnce.Do(func() {
		s.kick()
		go s.run()
	})
}

// Close stops the background indexer, letting a running batch finish.
// Events left unindexed are indexed by the next Start or search.
func (s *Service) Close() {
	s.idx.closeOnce.Do(func() {
		close(s.idx.stop)
		started := true
		s.idx.startOnce.Do(func() { started = false })
		if started {
			<-s.idx.stopped
		}
	})
}

func (s *Service) run() {
	defer close(s.idx.stopped)
	ctx := context.Background()
	var retry <-chan time.Time
	for {
		select {
		case <-s.idx.stop:
			return
		case <-s.idx.wake:
		case <-retry:
		}
		retry = nil
		t := time.NewTimer(indexDebounce)
		select {
		case <-s.idx.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if err := s.catchUp(ctx, math.MaxInt64, s.idx.stop); err != nil {
			s.log.Err(err).Msg("Search indexing failed")
			retry = time.After(indexRetry)
		}
	}
}

// catchUp indexes the events stored at or below upto, batch by batch,
// until none is left or stop is closed. A search passes its own position,
// so it never chases events sent after it started.
func (s *Service) catchUp(ctx context.Context, upto int64, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		more, err := s.indexBatch(ctx, upto)
		if err != nil || !more {
			return err
		}
	}
}

// indexBatch indexes the next batch of events past the cursor, and at or
// below upto, in one transaction. It reports false when there was nothing
// to index.
func (s *Service) indexBatch(ctx context.Context, upto int64) (bool, error) {
	ix := s.idx
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.loaded {
		if err := s.db.QueryRow(ctx, s.isql.cursor).Scan(&ix.done); err != nil {
			return false, fmt.Errorf("search: read index cursor: %w", err)
		}
		ix.loaded = true
		close(ix.changed)
		ix.changed = make(chan struct{})
	}
	if ix.done >= upto {
		return false, nil // a search with nothing pending: no query at all
	}
	// Read outside the transaction: the writer is needed only when there
	// is something to index.
	var hi sql.NullInt64
	if err := s.db.QueryRow(ctx, s.isql.pending, ix.done, ix.batch, upto).Scan(&hi); err != nil {
		return false, fmt.Errorf("search: look for events to index: %w", err)
	}
	if !hi.Valid {
		return false, nil
	}
	start := time.Now()
	var from int64
	var n int
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		if s.isql.lock != "" {
			if _, err := tx.Exec(ctx, s.isql.lock, indexLockKey); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if err := tx.QueryRow(ctx, s.isql.cursor).Scan(&from); err != nil {
			return fmt.Errorf("read index cursor: %w", err)
		}
		if from >= hi.Int64 {
			return nil // indexed meanwhile by another process
		}
		rows, err := s.readRows(ctx, tx, from, hi.Int64)
		if err != nil {
			return err
		}
		if n = len(rows); n > 0 {
			b, err := json.Marshal(rows)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, s.isql.insert, string(b)); err != nil {
				return fmt.Errorf("insert: %w", err)
			}
		}
		_, err = tx.Exec(ctx, s.isql.advance, hi.Int64)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("search: index events: %w", err)
	}
	s.advanced(max(from, hi.Int64))
	s.log.Debug().Int64("from", from).Int64("upto", hi.Int64).Int("rows", n).
		Dur("took", time.Since(start)).Msg("Indexed events for search")
	return true, nil
}

// readRows returns the rows to index for the events in (from, upto].
func (s *Service) readRows(ctx context.Context, tx *storage.Tx, from, upto int64) ([]indexRow, error) {
	rs, err := tx.Query(ctx, s.isql.rows, from, upto)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rs.Close()
	var out []indexRow
	for rs.Next() {
		var r indexRow
		var typ string
		var client []byte
		if err := rs.Scan(&r.Pos, &r.Room, &r.Sender, &typ, &client); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		var ok bool
		if r.Field, r.Text, ok = searchText(typ, client); ok {
			out = append(out, r)
		}
	}
	return out, rs.Err()
}

// advanced records a committed cursor. Call with idx.mu held.
func (s *Service) advanced(pos int64) {
	ix := s.idx
	if pos > ix.done {
		ix.done = pos
		close(ix.changed)
		ix.changed = make(chan struct{})
	}
}

// Package stream owns the server's one ordered stream of changes. Every write
// that a /sync (or an appservice, or a federation sender) must later see goes
// through the Writer, which gives it the next stream position and commits
// concurrent writes together in one transaction (group commit). Positions
// therefore become visible strictly in order, and a /sync token is a single
// integer. Subscribers learn about committed changes through hooks.
//
// This package knows nothing of rooms or users beyond the IDs in a Change.
package stream

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Kind says what a change was, so subscribers can skip what they do not serve.
type Kind uint8

const (
	// KindEvent is a room event. Its ApplyFunc must store the event in
	// the events table at its position: a batch that ends with one then
	// leaves stream_head alone (one page less to commit), and NewWriter
	// resumes after the newer of stream_head and the newest event.
	KindEvent Kind = iota + 1
	KindAccountData
	KindReceipt
	KindTyping
	KindPresence
	KindToDevice
	KindDeviceList
	KindProfile
	KindOther
)

// Change describes one committed write. RoomID is set for room-scoped changes
// (every member of the room may care); UserIDs lists users who care
// regardless of rooms (the target of a membership, the owner of account data).
type Change struct {
	Pos     int64
	Kind    Kind
	RoomID  string
	UserIDs []string
	// Data carries kind-specific detail for in-process subscribers (e.g. the
	// persisted event); it is never stored.
	Data any
}

// ApplyFunc writes one change inside the batch transaction. It may run more
// than once (with different positions) if another change in its batch fails,
// so it must only write to tx.
type ApplyFunc func(ctx context.Context, tx *storage.Tx, pos int64) error

type op struct {
	ctx    context.Context
	change Change
	apply  ApplyFunc
	done   chan error
}

// Writer serialises and batches stream writes.
//
// There is no writer goroutine: a goroutine waiting for its write becomes
// the committer (the leader) when nobody else is committing, and commits
// everything queued so far, its own write included. A lone sender thus
// commits on its own goroutine with no hand-off, and concurrent senders
// queue behind the leader and share its next transaction. A leader that has
// committed passes the turn to the waiters if writes are left in the queue.
type Writer struct {
	db    *storage.DB
	log   zerolog.Logger
	hooks []func([]Change)

	mu      sync.Mutex
	queue   []*op // enqueued, not yet taken by a leader
	leading bool  // a goroutine is committing
	closed  bool
	pos     int64 // last committed position
	// turn holds a token while the queue has writes and no leader; a
	// waiter that takes it tries to lead.
	turn chan struct{}
}

// MaxBatch bounds how many writes share a transaction.
const MaxBatch = 256

// NewWriter loads the last committed position.
func NewWriter(ctx context.Context, db *storage.DB, log zerolog.Logger) (*Writer, error) {
	w := &Writer{db: db, log: log, turn: make(chan struct{}, 1)}
	var newestEvent int64
	err := db.QueryRow(ctx, `SELECT pos FROM stream_head WHERE id = 1`).Scan(&w.pos)
	if err == nil {
		err = db.QueryRow(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM events`).Scan(&newestEvent)
	}
	if err != nil {
		return nil, fmt.Errorf("read stream head: %w", err)
	}
	w.pos = max(w.pos, newestEvent)
	return w, nil
}

// Subscribe adds a hook called, in commit order and from the committing
// goroutine, with every committed batch. Hooks must not block: hand work to
// your own goroutine. Subscribe before the first Submit.
func (w *Writer) Subscribe(fn func([]Change)) {
	w.mu.Lock()
	w.hooks = append(w.hooks, fn)
	w.mu.Unlock()
}

// Pos returns the last committed position.
func (w *Writer) Pos() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pos
}

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("stream writer closed")

// Submit commits one change and returns its position once it is durable.
// apply may be nil for changes that live only in memory (typing).
func (w *Writer) Submit(ctx context.Context, c Change, apply ApplyFunc) (int64, error) {
	return w.Enqueue(ctx, c, apply).Wait()
}

// Pending is a queued write.
type Pending struct {
	w   *Writer
	o   *op
	err error
}

// Enqueue queues a write without waiting for it. Writes commit in the order
// they were enqueued, so a caller holding a lock (a room's) can enqueue, let
// go of the lock, and then Wait, while the next writer builds on top. The
// write commits when its Wait (or a later write's) leads a commit, or at
// Close: always Wait for the last write you enqueue.
func (w *Writer) Enqueue(ctx context.Context, c Change, apply ApplyFunc) *Pending {
	o := &op{ctx: context.WithoutCancel(ctx), change: c, apply: apply, done: make(chan error, 1)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return &Pending{err: ErrClosed}
	}
	w.queue = append(w.queue, o)
	return &Pending{w: w, o: o}
}

// Wait blocks until the write is durable and returns its position. Once
// queued the write happens even if the caller goes away: a client that
// disconnects must not leave a half-known event behind.
func (p *Pending) Wait() (int64, error) {
	if p.err != nil {
		return 0, p.err
	}
	for {
		select {
		case err := <-p.o.done:
			return p.result(err)
		default:
		}
		p.w.lead()
		select {
		case err := <-p.o.done:
			return p.result(err)
		case <-p.w.turn:
		}
	}
}

func (p *Pending) result(err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return p.o.change.Pos, nil
}

// lead commits one batch from the queue unless another goroutine is
// committing, then passes the turn on if writes are left.
func (w *Writer) lead() {
	w.mu.Lock()
	if w.leading || len(w.queue) == 0 {
		w.mu.Unlock()
		return
	}
	w.leading = true
	n := min(len(w.queue), MaxBatch)
	batch := w.queue[:n:n]
	w.queue = w.queue[n:]
	if len(w.queue) == 0 {
		w.queue = nil // let the batch's array go with the batch
	}
	w.mu.Unlock()

	defer func() {
		if r := recover(); r != nil {
			// A panic in an ApplyFunc used to end the process from the
			// writer goroutine; the HTTP server would now recover it on
			// the leader's goroutine and leave the writer wedged.
			stack := debug.Stack()
			go panic(fmt.Sprintf("stream commit: %v\n\n%s", r, stack))
			select {}
		}
	}()
	w.commit(batch)

	w.mu.Lock()
	w.leading = false
	more := len(w.queue) > 0
	w.mu.Unlock()
	if more {
		select {
		case w.turn <- struct{}{}:
		default: // a token is already waiting
		}
	}
}

// Close stops accepting writes and commits the queued ones.
func (w *Writer) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	for {
		w.mu.Lock()
		idle := !w.leading && len(w.queue) == 0
		w.mu.Unlock()
		if idle {
			return
		}
		w.lead()
		select {
		case <-w.turn:
		case <-time.After(time.Millisecond):
		}
	}
}

// commit writes a batch in one transaction. If one write fails the batch is
// rolled back, the failing write gets its error, and the rest are retried.
func (w *Writer) commit(batch []*op) {
	for len(batch) > 0 {
		failed, err := w.tryCommit(batch)
		if err == nil {
			w.publish(batch)
			for _, o := range batch {
				o.done <- nil
			}
			return
		}
		if failed < 0 {
			// The transaction itself failed (disk full, connection lost).
			w.log.Err(err).Int("writes", len(batch)).Msg("Stream commit failed")
			for _, o := range batch {
				o.done <- err
			}
			return
		}
		// Later events of the same room were built on the failed one (it is
		// their prev_event): committing them would leave a hole in the
		// room's history, so they fail too and their senders retry.
		bad := batch[failed].change
		batch[failed].done <- err
		rest := batch[:failed:failed]
		for _, o := range batch[failed+1:] {
			if bad.Kind == KindEvent && o.change.Kind == KindEvent && o.change.RoomID == bad.RoomID && bad.RoomID != "" {
				o.done <- ErrPredecessorFailed
				continue
			}
			rest = append(rest, o)
		}
		batch = rest
	}
}

// ErrPredecessorFailed is returned for an event whose batch held a failed
// event of the same room queued before it.
var ErrPredecessorFailed = errors.New("an earlier event in this room failed to store")

func (w *Writer) tryCommit(batch []*op) (failed int, err error) {
	pos := w.pos
	failed = -1
	err = w.db.InTx(context.Background(), func(tx *storage.Tx) error {
		for i, o := range batch {
			pos++
			o.change.Pos = pos
			if o.apply == nil {
				continue
			}
			if err := o.apply(o.ctx, tx, pos); err != nil {
				failed = i
				return err
			}
		}
		if last := batch[len(batch)-1]; last.change.Kind == KindEvent && last.apply != nil {
			return nil // the event's row records pos (see KindEvent)
		}
		_, err := tx.Exec(context.Background(), `UPDATE stream_head SET pos = $1 WHERE id = 1`, pos)
		return err
	})
	if err != nil {
		return failed, err
	}
	return -1, nil
}

func (w *Writer) publish(batch []*op) {
	changes := make([]Change, len(batch))
	for i, o := range batch {
		changes[i] = o.change
	}
	w.mu.Lock()
	w.pos = changes[len(changes)-1].Pos
	hooks := w.hooks
	w.mu.Unlock()
	for _, h := range hooks {
		h(changes)
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// SQLite copies the WAL back into the database file (a checkpoint) on the
// connection whose commit took the WAL past wal_autocheckpoint pages, so
// every thousandth page or so one send waited for the copy and two fsyncs.
// The checkpointer does that work on a connection of its own, shortly after
// commits, so the writer only appends to the WAL. Durability is unchanged:
// a commit is durable once in the WAL, with or without a checkpoint.
//
// A PASSIVE checkpoint never blocks the writer or readers, but the WAL can
// only start over from its beginning once a checkpoint has caught up with
// the last commit, which under steady load may not happen; the writer's
// own autocheckpoint, at a much higher mark, then bounds the WAL's size and
// finds most of it already copied.

// checkpointDelay lets a burst of commits gather so one checkpoint copies
// each hot page once.
const checkpointDelay = 100 * time.Millisecond

// writerAutocheckpoint is the writer's fallback wal_autocheckpoint, in
// pages (40 MB of WAL at the default page size).
const writerAutocheckpoint = 10000

type checkpointer struct {
	db *sql.DB
	// scheduled is set from the first commit after a checkpoint until the
	// next one starts, so most commits only read it: waking a goroutine
	// on every commit would cost a thread wake-up per send.
	scheduled atomic.Bool

	mu      sync.Mutex
	timer   *time.Timer
	closed  bool
	running sync.WaitGroup
}

func newCheckpointer(db *sql.DB) *checkpointer {
	return &checkpointer{db: db}
}

// committed tells the checkpointer the WAL grew. It never blocks.
func (c *checkpointer) committed() {
	if c.scheduled.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.scheduled.Load() {
		return
	}
	c.scheduled.Store(true)
	c.running.Add(1)
	c.timer = time.AfterFunc(checkpointDelay, c.run)
}

func (c *checkpointer) run() {
	defer c.running.Done()
	// Commits from now on schedule the next checkpoint.
	c.scheduled.Store(false)
	// Errors need no handling: the next commit schedules another, and the
	// writer's autocheckpoint is the fallback.
	_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
}

// close stops the checkpointer; the last connection to close checkpoints
// the whole WAL anyway.
func (c *checkpointer) close() error {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil && c.timer.Stop() {
		c.running.Done() // it will not run
	}
	c.mu.Unlock()
	c.running.Wait()
	return c.db.Close()
}

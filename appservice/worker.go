package appservice

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// worker delivers one appservice's outbox, one transaction at a time so
// the appservice sees events in order. It holds at most one transaction in
// memory; everything else waits in the database, so an appservice that is
// down for an hour costs disk, not RAM. It never polls: it sleeps until a
// commit wakes it, or a backoff ends, or a ping pokes it.
type worker struct {
	p   *Pusher
	as  *AppService
	log zerolog.Logger

	backoff time.Duration
	fails   int
	lastTxn int64
}

func (w *worker) run(ctx context.Context) {
	defer w.p.wg.Done()
	var cur *txn
	var ack int64
	// After a database error the outbox is read afresh: a transaction may
	// have been assigned (or not acknowledged) without this loop knowing.
	needResume := true
	for ctx.Err() == nil {
		if needResume {
			t, last, err := w.p.resume(ctx, w.as)
			if err != nil {
				w.dbFailed(ctx, err)
				continue
			}
			cur, w.lastTxn, ack, needResume = t, last, 0, false
		}
		if cur == nil {
			t, err := w.p.next(ctx, w.as, ack, w.lastTxn+1)
			if err != nil {
				w.dbFailed(ctx, err)
				needResume = true
				continue
			}
			ack = 0
			if t == nil {
				select {
				case <-ctx.Done():
					return
				case <-w.as.wake:
				case <-w.as.poke:
				}
				continue
			}
			cur, w.lastTxn = t, t.id
		}
		if err := w.send(ctx, cur); err != nil {
			if ctx.Err() != nil {
				return
			}
			w.failed(cur, err)
			w.wait(ctx)
			continue
		}
		if w.fails > 0 {
			w.log.Info().Int("failed_attempts", w.fails).Int64("txn_id", cur.id).Msg("Appservice is reachable again")
		}
		w.fails, w.backoff = 0, 0
		ack, cur = cur.id, nil
	}
}

func (w *worker) dbFailed(ctx context.Context, err error) {
	if ctx.Err() == nil {
		w.log.Err(err).Msg("Failed to read the appservice queue")
		w.wait(ctx)
	}
}

func (w *worker) send(ctx context.Context, t *txn) error {
	body, err := w.p.buildBody(ctx, w.as, t)
	if err != nil {
		return err
	}
	return w.p.out.PutTransaction(ctx, w.as, strconv.FormatInt(t.id, 10), body)
}

// failed logs a failed attempt: the first at warning level, then every
// tenth, so a bridge that is down for hours does not flood the log.
func (w *worker) failed(t *txn, err error) {
	w.fails++
	ev := w.log.Debug()
	if w.fails == 1 || w.fails%10 == 0 {
		ev = w.log.Warn()
	}
	ev.Err(err).Int64("txn_id", t.id).Int("rows", len(t.rows)).Int("attempt", w.fails).
		Msg("Appservice transaction failed; it will be retried with the same ID")
}

// wait sleeps for the next backoff step (doubling from MinBackoff up to
// MaxBackoff, with jitter so appservices restarted together do not retry in
// lockstep). A poke ends it early and restarts the backoff.
func (w *worker) wait(ctx context.Context) {
	o := w.p.opts
	w.backoff = min(max(2*w.backoff, o.MinBackoff), o.MaxBackoff)
	d := w.backoff/2 + rand.N(w.backoff/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-w.as.poke:
		w.backoff = 0
	}
}

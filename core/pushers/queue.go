package pushers

import (
	"context"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Notified queues a notification about ev for every HTTP pusher of user. It
// is called by core/push inside ev's commit transaction, once per local user
// the event notifies (highlight when a rule asked for it). It only writes to
// tx, and only just before commit (one insert for the whole batch), so a
// rolled back event queues nothing. For a user without pushers it is one
// map lookup.
func (p *Pushers) Notified(ctx context.Context, tx *storage.Tx, user id.UserID, ev *rooms.Event, highlight bool) error {
	ids := p.pushersOf(user)
	if len(ids) == 0 {
		return nil
	}
	q := tx.Value(p, func() any {
		q := &txQueue{p: p}
		tx.BeforeCommit(q.flush)
		return q
	}).(*txQueue)
	for _, pid := range ids {
		q.rows = append(q.rows, queued{pusher: pid, pos: ev.Pos, highlight: highlight})
	}
	// The goroutines start once the commit is published (OnCommit): started
	// now, they could look before the rows are visible and stop. A batch
	// that rolls back leaves its positions staged; they are reused by the
	// next commit and cost at most a needless look at the queue.
	p.runMu.Lock()
	p.staged[ev.Pos] = append(p.staged[ev.Pos], ids...)
	p.runMu.Unlock()
	return nil
}

type queued struct {
	pusher, pos int64
	highlight   bool
}

// txQueue collects one transaction's queue rows.
type txQueue struct {
	p    *Pushers
	rows []queued
}

// rowsPerInsert keeps an insert's parameters (4 a row) well under SQLite's
// limit.
const rowsPerInsert = 200

func (q *txQueue) flush(ctx context.Context, tx *storage.Tx) error {
	now := q.p.now().UnixMilli()
	for start := 0; start < len(q.rows); start += rowsPerInsert {
		chunk := q.rows[start:min(start+rowsPerInsert, len(q.rows))]
		var b strings.Builder
		b.WriteString(`INSERT INTO pusher_queue (pusher_id, stream_pos, highlight, queued_ts) VALUES `)
		args := make([]any, 0, 4*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(" + storage.Placeholders(len(args)+1, 4) + ")")
			args = append(args, r.pusher, r.pos, r.highlight, now)
		}
		// A user notified twice by one event (it cannot happen today)
		// still gets one notification.
		b.WriteString(` ON CONFLICT (pusher_id, stream_pos) DO NOTHING`)
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	q.rows = q.rows[:0]
	return nil
}

package push

import (
	"context"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// The stream writer commits many events in one transaction, and in a busy
// room each of them notifies the same members. PersistHook therefore only
// adds to pendingCounts, and the batch's increments are written with one
// upsert per (room, user) just before the transaction commits. Anything
// that reads or rewrites notification_counts inside a transaction calls
// flushCounts (or drop) first, so it sees the batch's earlier events.

type pendingKey struct{}

type countKey struct {
	room id.RoomID
	user id.UserID
}

type countAdd struct {
	notifs, highlights, lastPos int64
}

type pendingCounts struct {
	rows  map[countKey]*countAdd
	order []countKey
}

// pendingIn returns tx's pending increments, registering their write.
func pendingIn(tx *storage.Tx) *pendingCounts {
	return tx.Value(pendingKey{}, func() any {
		p := &pendingCounts{rows: map[countKey]*countAdd{}}
		tx.BeforeCommit(p.flush)
		return p
	}).(*pendingCounts)
}

func (p *pendingCounts) add(room id.RoomID, user id.UserID, pos int64, highlight bool) {
	k := countKey{room, user}
	a := p.rows[k]
	if a == nil {
		a = &countAdd{}
		p.rows[k] = a
		p.order = append(p.order, k)
	}
	a.notifs++
	if highlight {
		a.highlights++
	}
	a.lastPos = pos
}

func (p *pendingCounts) drop(room id.RoomID, user id.UserID) {
	delete(p.rows, countKey{room, user})
}

// flushCounts writes tx's pending increments now.
func flushCounts(ctx context.Context, tx *storage.Tx) error {
	return pendingIn(tx).flush(ctx, tx)
}

// countsPerStatement keeps an upsert's parameters (5 a row) well under
// SQLite's limit.
const countsPerStatement = 150

func (p *pendingCounts) flush(ctx context.Context, tx *storage.Tx) error {
	args := make([]any, 0, 5*min(len(p.rows), countsPerStatement))
	for _, k := range p.order {
		a := p.rows[k]
		if a == nil {
			continue // dropped
		}
		args = append(args, k.user, k.room, a.lastPos, a.highlights, a.notifs)
		if len(args) == 5*countsPerStatement {
			if err := upsertCounts(ctx, tx, args); err != nil {
				return err
			}
			args = args[:0]
		}
	}
	clear(p.rows)
	p.order = p.order[:0]
	if len(args) == 0 {
		return nil
	}
	return upsertCounts(ctx, tx, args)
}

// upsertCounts adds rows of (user, room, last_pos, highlights, notifs) to
// the running counts with one statement; keys are distinct, as PostgreSQL
// requires.
func upsertCounts(ctx context.Context, tx *storage.Tx, args []any) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO notification_counts (user_id, room_id, last_pos, highlights, notifs) VALUES `)
	for i := 0; i < len(args); i += 5 {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "(%s)", storage.Placeholders(i+1, 5))
	}
	q.WriteString(` ON CONFLICT (room_id, user_id) DO UPDATE SET notifs = notification_counts.notifs + excluded.notifs,
		highlights = notification_counts.highlights + excluded.highlights, last_pos = excluded.last_pos`)
	_, err := tx.Exec(ctx, q.String(), args...)
	return err
}

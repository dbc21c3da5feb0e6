package appservice

import (
	"cmp"
	"context"
	"database/sql"
	"slices"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// txn is one transaction: an ID and the outbox rows assigned to it.
type txn struct {
	id   int64
	rows []queued
}

// queued is one outbox row, with the event's stored fields for events.
type queued struct {
	pos, seq int64
	kind     int
	data     string
	// For kindEvent: the stored client JSON and what unsigned needs.
	client   sql.NullString
	roomID   string
	evType   string
	stateKey sql.NullString
	originTS int64
}

// resume is a worker's first look at the outbox: the transaction that was
// assigned before a restart, to be resent as it was (same ID, same rows),
// and the last transaction ID ever used, so no ID is reused.
func (p *Pusher) resume(ctx context.Context, as *AppService) (*txn, int64, error) {
	var last int64
	var lo, hi sql.NullInt64
	if err := p.db.QueryRow(ctx, `SELECT last_txn FROM appservice_state WHERE as_id = $1`, as.ID).Scan(&last); err != nil {
		return nil, 0, err
	}
	if err := p.db.QueryRow(ctx, `SELECT MIN(txn_id), MAX(txn_id) FROM appservice_queue WHERE as_id = $1 AND txn_id IS NOT NULL`,
		as.ID).Scan(&lo, &hi); err != nil {
		return nil, 0, err
	}
	last = max(last, hi.Int64)
	if !lo.Valid {
		return nil, last, nil
	}
	rows, err := p.loadTxn(ctx, as, lo.Int64)
	if err != nil {
		return nil, 0, err
	}
	return &txn{id: lo.Int64, rows: rows}, last, nil
}

// next deletes the rows of ack, the transaction just accepted (0 for
// none), and gives the oldest queued rows (at most BatchSize) the ID newID,
// in one database transaction: one write per round trip. It returns nil
// when the outbox is empty. Rows get their transaction ID before it is ever
// sent, so every retry carries exactly the same rows and no row is in two
// transactions. The last ID used is recoverable after a restart from the
// queue (rows of newID) or, once the outbox is empty, appservice_state.
func (p *Pusher) next(ctx context.Context, as *AppService, ack, newID int64) (*txn, error) {
	var assigned int64
	assign := func(ex func(ctx context.Context, query string, args ...any) (sql.Result, error)) error {
		// The batch is a key range up to its last row, so both databases
		// walk the primary key instead of scanning the whole backlog (an
		// IN (subquery) form made PostgreSQL scan every queued row).
		res, err := ex(ctx, `UPDATE appservice_queue SET txn_id = $1
			WHERE as_id = $2 AND txn_id IS NULL AND (pos, seq) <= (
				SELECT pos, seq FROM (
					SELECT pos, seq FROM appservice_queue WHERE as_id = $2 AND txn_id IS NULL ORDER BY pos, seq LIMIT $3
				) AS batch ORDER BY pos DESC, seq DESC LIMIT 1)`,
			newID, as.ID, p.opts.BatchSize)
		if err != nil {
			return err
		}
		assigned, err = res.RowsAffected()
		return err
	}
	var err error
	if ack == 0 {
		err = assign(p.db.Exec)
	} else {
		err = p.db.InTx(ctx, func(tx *storage.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM appservice_queue WHERE as_id = $1 AND txn_id = $2`, as.ID, ack); err != nil {
				return err
			}
			if err := assign(tx.Exec); err != nil || assigned > 0 {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE appservice_state SET last_txn = $1 WHERE as_id = $2`, ack, as.ID)
			return err
		})
	}
	if err != nil || assigned == 0 {
		return nil, err
	}
	rows, err := p.loadTxn(ctx, as, newID)
	if err != nil {
		return nil, err
	}
	return &txn{id: newID, rows: rows}, nil
}

// loadTxnSQL reads one transaction's rows, joining stored events. It has
// no ORDER BY on purpose: given one, SQLite walks the primary key
// (as_id, pos, seq) to skip a sort of at most BatchSize rows, reading every
// queued row of the appservice to find the batch, so each transaction cost
// grew with the backlog (a 165,000-row backlog drained at 2,500-5,000 rows/s
// instead of 40,000). Without it, both databases read the batch through
// appservice_queue_txn, and loadTxn sorts.
const loadTxnSQL = `
	SELECT q.pos, q.seq, q.kind, q.data, e.client, e.room_id, e.type, e.state_key, e.origin_ts
	FROM appservice_queue q LEFT JOIN events e ON q.kind = 1 AND e.stream_pos = q.pos
	WHERE q.as_id = $1 AND q.txn_id = $2`

// loadTxn reads a transaction's rows in (pos, seq) order.
func (p *Pusher) loadTxn(ctx context.Context, as *AppService, txnID int64) ([]queued, error) {
	rows, err := p.db.Query(ctx, loadTxnSQL, as.ID, txnID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var q queued
		var data, roomID, evType sql.NullString
		var ts sql.NullInt64
		if err := rows.Scan(&q.pos, &q.seq, &q.kind, &data, &q.client, &roomID, &evType, &q.stateKey, &ts); err != nil {
			return nil, err
		}
		q.data, q.roomID, q.evType, q.originTS = data.String, roomID.String, evType.String, ts.Int64
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b queued) int {
		return cmp.Or(cmp.Compare(a.pos, b.pos), cmp.Compare(a.seq, b.seq))
	})
	return out, rows.Err()
}

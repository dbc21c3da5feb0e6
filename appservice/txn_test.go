package appservice

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// TestTxnFromLargeBacklog queues 2,000 to-device messages and then one at
// an earlier stream position (as the ephemeral worker queues receipts after
// the events around them). The first transaction must carry the earliest
// messages in stream order, and its rows must be read through the
// transaction index: reading them by walking the whole backlog made every
// transaction cost grow with the backlog (a 165,000-row backlog on SQLite
// drained ten times slower).
func TestTxnFromLargeBacklog(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		reg := bridgeReg(t, "http://127.0.0.1:1")
		p, err := NewPusher(ctx, db, NewRegistry([]*registration.Registration{reg}, server, nil),
			PusherOptions{BatchSize: 5}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		as := p.reg.byID[reg.ID]
		err = db.InTx(ctx, func(tx *storage.Tx) error {
			for i := range 2000 {
				data := fmt.Sprintf(`{"content":{"n":%d}}`, i+1)
				if err := enqueue(ctx, tx, as, int64(10*(i+2)), seqOf(kindToDevice, 0), kindToDevice, &data); err != nil {
					return err
				}
			}
			late := `{"content":{"n":0}}`
			return enqueue(ctx, tx, as, 10, seqOf(kindToDevice, 0), kindToDevice, &late)
		})
		if err != nil {
			t.Fatal(err)
		}

		tx, err := p.next(ctx, as, 0, 1)
		if err != nil || tx == nil {
			t.Fatalf("next: %v, %v", tx, err)
		}
		body, err := p.buildBody(ctx, as, tx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range gjson.GetBytes(body, "to_device").Array() {
			got = append(got, m.Get("content.n").Raw)
		}
		if want := []string{"0", "1", "2", "3", "4"}; !slices.Equal(got, want) {
			t.Fatalf("first transaction carries to-device messages %v, want %v", got, want)
		}

		plan := explain(t, db, loadTxnSQL, as.ID, tx.id)
		if !strings.Contains(plan, "appservice_queue_txn") {
			t.Fatalf("a transaction's rows are not read through appservice_queue_txn:\n%s", plan)
		}
	})
}

// explain returns the database's plan for query.
func explain(t *testing.T, db *storage.DB, query string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	prefix := "EXPLAIN "
	if db.Dialect == storage.SQLite {
		prefix = "EXPLAIN QUERY PLAN "
	} else if _, err := db.Exec(ctx, `ANALYZE appservice_queue`); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, prefix+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals[len(vals)-1]) // SQLite's detail column, PostgreSQL's only one
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

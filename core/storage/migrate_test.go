package storage_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/sqlite"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// TestMigrationsKeepIndexes applies the migrations one at a time and checks
// that none loses an index an earlier one made: a migration that rebuilds a
// table (as 012 does on SQLite) must recreate every index of it.
func TestMigrationsKeepIndexes(t *testing.T) {
	open := map[string]func(t *testing.T) *storage.DB{
		"sqlite": func(t *testing.T) *storage.DB {
			pool, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(t.TempDir(), "m.db")))
			if err != nil {
				t.Fatal(err)
			}
			pool.SetMaxOpenConns(1)
			t.Cleanup(func() { _ = pool.Close() })
			return &storage.DB{Dialect: storage.SQLite, Writer: pool, Reader: pool}
		},
		"postgres": func(t *testing.T) *storage.DB {
			pool, err := sql.Open("pgx", storagetest.PostgresDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = pool.Close() })
			return &storage.DB{Dialect: storage.Postgres, Writer: pool, Reader: pool}
		},
	}
	indexQuery := map[storage.Dialect]string{
		storage.SQLite:   `SELECT name FROM sqlite_master WHERE type = 'index'`,
		storage.Postgres: `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()`,
	}
	versions, err := storage.MigrationVersions()
	if err != nil {
		t.Fatal(err)
	}
	for name, mk := range open {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := mk(t)
			indexes := func() map[string]bool {
				rows, err := db.Reader.QueryContext(ctx, indexQuery[db.Dialect])
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				out := map[string]bool{}
				for rows.Next() {
					var n string
					if err := rows.Scan(&n); err != nil {
						t.Fatal(err)
					}
					out[n] = true
				}
				return out
			}
			before := map[string]bool{}
			for _, v := range versions {
				if err := db.MigrateTo(ctx, v); err != nil {
					t.Fatalf("migration %d: %v", v, err)
				}
				after := indexes()
				for idx := range before {
					// Constraint indexes come and go with the table's
					// key layout (012 folds some into the table).
					if !after[idx] && !strings.HasPrefix(idx, "sqlite_autoindex_") {
						t.Errorf("migration %d dropped index %s", v, idx)
					}
				}
				before = after
			}
		})
	}
}

// TestSQLiteHotTablesKeepRows upgrades a database holding rows in every
// table that migrations 012 and 014 rebuild and checks the rows are still
// there (014 gives old transaction IDs the scope of their event).
func TestSQLiteHotTablesKeepRows(t *testing.T) {
	ctx := context.Background()
	pool, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(t.TempDir(), "m.db")))
	if err != nil {
		t.Fatal(err)
	}
	pool.SetMaxOpenConns(1)
	defer pool.Close()
	db := &storage.DB{Dialect: storage.SQLite, Writer: pool, Reader: pool}
	if err := db.MigrateTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender, depth, origin_ts, membership, pdu, client)
			VALUES (7, '$e', '!r:x', 'm.room.member', '@a:x', '@a:x', 3, 1, 'join', '{"p":1}', '{"c":1}')`,
		`INSERT INTO event_txns (user_id, device_id, txn_id, event_id) VALUES ('@a:x', 'D', 't1', '$e')`,
		`INSERT INTO forward_extremities (room_id, event_id) VALUES ('!r:x', '$e')`,
		`INSERT INTO notification_counts (room_id, user_id, notifs, highlights, last_pos) VALUES ('!r:x', '@b:x', 2, 1, 7)`,
		`INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership) VALUES ('!r:x', 'm.room.member', '@a:x', '$e', 7, 'join')`,
	} {
		if _, err := pool.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var pdu, txnEvent, extremity, membership string
	var notifs, pos int64
	for _, c := range []struct {
		q    string
		dest []any
	}{
		{`SELECT pdu, stream_pos FROM events WHERE event_id = '$e'`, []any{&pdu, &pos}},
		{`SELECT event_id FROM event_txns WHERE user_id = '@a:x' AND device_id = 'D' AND scope = 'send !r:x' AND txn_id = 't1'`, []any{&txnEvent}},
		{`SELECT event_id FROM forward_extremities WHERE room_id = '!r:x'`, []any{&extremity}},
		{`SELECT notifs FROM notification_counts WHERE room_id = '!r:x' AND user_id = '@b:x'`, []any{&notifs}},
		{`SELECT membership FROM current_state WHERE room_id = '!r:x' AND state_key = '@a:x'`, []any{&membership}},
	} {
		if err := pool.QueryRowContext(ctx, c.q).Scan(c.dest...); err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
	}
	if pdu != `{"p":1}` || pos != 7 || txnEvent != "$e" || extremity != "$e" || notifs != 2 || membership != "join" {
		t.Fatalf("rows changed: %q %d %q %q %d %q", pdu, pos, txnEvent, extremity, notifs, membership)
	}
}

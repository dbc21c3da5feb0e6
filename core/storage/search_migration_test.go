package storage_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/sqlite"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// TestSearchBackfill upgrades a database holding events to migration 18
// and checks that it indexed the text of messages, room names and topics,
// and nothing else, and set the indexer's cursor past those events; an
// empty database starts the cursor at 0.
func TestSearchBackfill(t *testing.T) {
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
	events := []struct {
		typ, stateKey, client string
		redacted              bool
	}{
		{"m.room.message", "", `{"content":{"msgtype":"m.text","body":"an ocelot appeared"}}`, false},
		{"m.room.message", "", `{"content":{"msgtype":"m.text","body":"an ocelot vanished"}}`, true},
		{"m.room.name", "''", `{"content":{"name":"Ocelot den"}}`, false},
		{"m.room.topic", "''", `{"content":{"topic":"All about ocelots"}}`, false},
		{"m.room.message", "", `{"content":{"body":5}}`, false},
		{"m.room.message", "", `{"content":{"body":""}}`, false},
		{"m.room.message", "", `{"content":{"body":"nul \u0000 ocelot"}}`, false},
		{"m.room.member", "'@a:x'", `{"content":{"membership":"join","displayname":"ocelot"}}`, false},
		{"m.room.name", "'x'", `{"content":{"name":"ocelot with a state key"}}`, false},
		{"m.room.encrypted", "", `{"content":{"ciphertext":"ocelot"}}`, false},
	}
	for name, mk := range open {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := mk(t)
			if err := db.MigrateTo(ctx, 17); err != nil {
				t.Fatal(err)
			}
			for i, ev := range events {
				sk, red := "NULL", "NULL"
				if ev.stateKey != "" {
					sk = ev.stateKey
				}
				if ev.redacted {
					red = "'$r'"
				}
				q := `INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender, depth, origin_ts, pdu, client, redacted_by)
					VALUES ($1, $2, '!r:x', $3, ` + sk + `, '@a:x', 1, 1, '{}', $4, ` + red + `)`
				if _, err := db.Writer.ExecContext(ctx, db.Q(q), i+1, "$e"+strings.Repeat("x", i), ev.typ, ev.client); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.MigrateTo(ctx, 18); err != nil {
				t.Fatal(err)
			}
			pos, match := "rowid", `event_search MATCH '"ocelot"*'`
			if db.Dialect == storage.Postgres {
				pos, match = "stream_pos", `vector @@ to_tsquery('simple', 'ocelot:*')`
			}
			rows, err := db.Writer.QueryContext(ctx, `SELECT `+pos+`, field, text FROM event_search WHERE `+match+` AND `+pos+` <> 7 ORDER BY `+pos)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var p int
				var field, text string
				if err := rows.Scan(&p, &field, &text); err != nil {
					t.Fatal(err)
				}
				got = append(got, field+"="+text)
			}
			want := "content.body=an ocelot appeared|content.name=Ocelot den|content.topic=All about ocelots"
			if strings.Join(got, "|") != want {
				t.Fatalf("indexed %q, want %q", got, want)
			}
			if c := searchCursor(t, db); c != int64(len(events)) {
				t.Fatalf("indexed_upto = %d, want %d (the newest event)", c, len(events))
			}
		})
		t.Run(name+"-empty", func(t *testing.T) {
			db := mk(t)
			if err := db.MigrateTo(context.Background(), 18); err != nil {
				t.Fatal(err)
			}
			if c := searchCursor(t, db); c != 0 {
				t.Fatalf("indexed_upto = %d on an empty database, want 0", c)
			}
		})
	}
}

// searchCursor returns the search indexer's cursor; there must be one row.
func searchCursor(t *testing.T, db *storage.DB) int64 {
	t.Helper()
	rows, err := db.Writer.QueryContext(context.Background(), `SELECT indexed_upto FROM search_index_state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int64
	for rows.Next() {
		var c int64
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	if len(got) != 1 {
		t.Fatalf("search_index_state has %d rows, want 1", len(got))
	}
	return got[0]
}

package storage

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strconv"
	"strings"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// Migrate brings the schema up to date. Files in schema/ are named
// NNN_description.sql and applied in order, each in its own transaction; the
// highest applied number is kept in gatehouse_schema. A line that ends with
// "-- only: postgres" or "-- only: sqlite" is kept only for that dialect, so
// one file serves both databases.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrateTo(ctx, math.MaxInt)
}

// migrateTo applies the migrations numbered up to last.
func (db *DB) migrateTo(ctx context.Context, last int) error {
	if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS gatehouse_schema (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema table: %w", err)
	}
	var current int
	if err := db.ScanFresh(ctx, `SELECT COALESCE(MAX(version), 0) FROM gatehouse_schema`, nil, &current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	files, err := migrationFiles()
	if err != nil {
		return err
	}
	for _, m := range files {
		if m.version <= current || m.version > last {
			continue
		}
		text := filterDialect(m.text, db.Dialect)
		err := db.InTx(ctx, func(tx *Tx) error {
			if err := tx.execScript(ctx, text); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO gatehouse_schema (version) VALUES ($1)`, m.version)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply schema %s: %w", m.name, err)
		}
	}
	return nil
}

type migration struct {
	version int
	name    string
	text    string
}

func migrationFiles() ([]migration, error) {
	entries, err := fs.ReadDir(schemaFS, "schema")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("schema file %s: name must start with a number and an underscore", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("schema files %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		data, err := schemaFS.ReadFile("schema/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), text: string(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

func filterDialect(text string, d Dialect) string {
	lines := strings.Split(text, "\n")
	keep := lines[:0]
	for _, l := range lines {
		trimmed := strings.TrimSpace(l)
		if strings.HasSuffix(trimmed, "-- only: postgres") && d != Postgres {
			continue
		}
		if strings.HasSuffix(trimmed, "-- only: sqlite") && d != SQLite {
			continue
		}
		// SQLite keeps a table's CREATE text verbatim in sqlite_schema:
		// leave the marker out of it.
		l = strings.TrimSuffix(strings.TrimSuffix(strings.TrimRight(l, " \t\r"), "-- only: sqlite"), "-- only: postgres")
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

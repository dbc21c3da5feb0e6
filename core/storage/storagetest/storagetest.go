// Package storagetest runs a test against every storage backend: SQLite
// always, PostgreSQL when GATEHOUSE_TEST_POSTGRES holds a DSN. Under CI=true a
// missing PostgreSQL is a failure, not a skip. Each test gets a fresh
// database (a temp file, or a fresh PostgreSQL schema), so no test sees
// another's rows.
package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/postgres"
	"github.com/gatehouse-chat/gatehouse/core/storage/sqlite"
)

// PostgresEnv names the environment variable holding the test DSN.
const PostgresEnv = "GATEHOUSE_TEST_POSTGRES"

// ForEachDB runs fn as a subtest on each available backend.
func ForEachDB(t *testing.T, fn func(t *testing.T, db *storage.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, NewPostgres(t)) })
}

// NewSQLite returns a migrated SQLite database in a temp dir.
func NewSQLite(t testing.TB) *storage.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// PostgresDSN returns a DSN for a fresh, empty schema, or skips the test
// (fails under CI=true) when no PostgreSQL is configured.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must test PostgreSQL", PostgresEnv)
		}
		t.Skipf("%s not set; skipping PostgreSQL", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	schema := "t_" + hex.EncodeToString(buf)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("postgres at %s: %v", base, err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
			_ = a.Close()
		}
	})
	return withSearchPath(base, schema)
}

// NewPostgres returns a migrated PostgreSQL database in a fresh schema.
func NewPostgres(t testing.TB) *storage.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), PostgresDSN(t), 1, 8)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func withSearchPath(dsn, schema string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

// Package sqlite opens Gatehouse's embedded database with the pure-Go
// modernc.org/sqlite driver, tuned for one writer: WAL journal,
// synchronous=NORMAL (every committed transaction survives a process kill;
// only an OS crash may lose the last few), foreign keys on, a busy timeout
// for the reader pool, and WAL checkpoints on a connection of their own
// (see checkpoint.go). It holds no queries.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// DSN returns the driver connection string for a database file; extra
// pragmas ("name(value)") follow the common ones.
func DSN(path string, extra ...string) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)", "busy_timeout(10000)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	for _, p := range extra {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the SQLite database at path and applies
// the schema migrations.
func Open(ctx context.Context, path string) (*storage.DB, error) {
	w, err := sql.Open("sqlite", DSN(path, "wal_autocheckpoint("+strconv.Itoa(writerAutocheckpoint)+")"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One connection is held for writes (storage.DB.HoldWriter); the
	// second serves code that uses the Writer pool directly.
	w.SetMaxOpenConns(2)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	r.SetConnMaxIdleTime(0)
	r.SetConnMaxLifetime(0)
	db := &storage.DB{Dialect: storage.SQLite, Writer: w, Reader: r, IsUniqueViolation: isUnique}
	if err := w.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w (check that the directory exists and is writable)", path, err)
	}
	if err := db.HoldWriter(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := db.Migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	c, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxIdleTime(0)
	c.SetConnMaxLifetime(0)
	cp := newCheckpointer(c)
	db.AfterCommit, db.OnClose = cp.committed, cp.close
	return db, nil
}

func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

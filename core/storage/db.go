// Package storage owns the database handle shared by every domain: opening is
// done by the sqlite/ and postgres/ subpackages, while this package holds the
// one SQL dialect the domains write ($1 placeholders, ON CONFLICT upserts,
// RETURNING), the schema migrations, and the error mapping hooks.
//
// Domains (rooms, accounts, media, ...) keep their own queries next to their
// code and use *DB directly; there is no per-backend copy of any query.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
)

// Dialect names the SQL engine behind a DB.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite3"
}

// DB is a database with a writer and a reader pool. On SQLite the writer is a
// single connection (SQLite allows one writer at a time and a Go-side queue is
// cheaper than SQLITE_BUSY retries); on PostgreSQL both are the same pool.
type DB struct {
	Dialect Dialect
	Writer  *sql.DB
	Reader  *sql.DB

	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation func(err error) bool

	rebound sync.Map // query text -> dialect-specific text
	wstmts  sync.Map // SQLite: query text -> *sql.Stmt on Writer
	rstmts  sync.Map // SQLite: query text -> *sql.Stmt on Reader
	// toPrepare holds queries first seen inside a transaction.
	toPrepare sync.Map
}

// stmt returns a prepared statement for query on pool, cached. Only SQLite
// uses it: modernc re-parses every statement otherwise (a fifth of the send
// path's CPU), while pgx caches prepared statements per connection itself.
func (db *DB) stmt(ctx context.Context, cache *sync.Map, pool *sql.DB, query string) (*sql.Stmt, error) {
	if v, ok := cache.Load(query); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := pool.PrepareContext(ctx, db.Q(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := cache.LoadOrStore(query, st); loaded {
		_ = st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// ErrNotFound is returned by domain lookups that found no row.
var ErrNotFound = errors.New("not found")

// Close closes both pools.
func (db *DB) Close() error {
	err := db.Writer.Close()
	if db.Reader != db.Writer {
		err = errors.Join(err, db.Reader.Close())
	}
	return err
}

// Q returns query in the DB's dialect. Queries are written once with
// PostgreSQL's $N placeholders; SQLite numbers named parameters by first
// appearance, so $N is rewritten to SQLite's explicit ?N form.
func (db *DB) Q(query string) string {
	if db.Dialect == Postgres {
		return query
	}
	if v, ok := db.rebound.Load(query); ok {
		return v.(string)
	}
	out := rebindSQLite(query)
	db.rebound.Store(query, out)
	return out
}

func rebindSQLite(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	inString := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '\'' {
			inString = !inString
		}
		if c == '$' && !inString && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9' {
			b.WriteByte('?')
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Exec runs a statement on the writer.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if db.Dialect == SQLite {
		st, err := db.stmt(ctx, &db.wstmts, db.Writer, query)
		if err != nil {
			return nil, err
		}
		return st.ExecContext(ctx, args...)
	}
	return db.Writer.ExecContext(ctx, query, args...)
}

// Query runs a read query on the reader pool.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if db.Dialect == SQLite {
		st, err := db.stmt(ctx, &db.rstmts, db.Reader, query)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(ctx, args...)
	}
	return db.Reader.QueryContext(ctx, query, args...)
}

// QueryRow runs a single-row read query on the reader pool.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if db.Dialect == SQLite {
		st, err := db.stmt(ctx, &db.rstmts, db.Reader, query)
		if err == nil {
			return st.QueryRowContext(ctx, args...)
		}
	}
	return db.Reader.QueryRowContext(ctx, db.Q(query), args...)
}

// Tx is a write transaction that speaks the DB's dialect.
type Tx struct {
	*sql.Tx
	db *DB

	values       map[any]any
	beforeCommit []func(ctx context.Context, tx *Tx) error
}

// Value returns what is stored under key for this transaction, calling mk
// to create it on first use. Writers that batch many changes into one
// transaction use it to merge writes (one row update per batch instead of
// one per change).
func (tx *Tx) Value(key any, mk func() any) any {
	if v, ok := tx.values[key]; ok {
		return v
	}
	if tx.values == nil {
		tx.values = map[any]any{}
	}
	v := mk()
	tx.values[key] = v
	return v
}

// BeforeCommit registers fn to run, in registration order, after the
// transaction's work and just before it commits. An error rolls the whole
// transaction back, so fn should only do writes that cannot conflict.
func (tx *Tx) BeforeCommit(fn func(ctx context.Context, tx *Tx) error) {
	tx.beforeCommit = append(tx.beforeCommit, fn)
}

// Exec runs a statement inside the transaction.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, tx.db.Q(query), args...)
}

// Query runs a query inside the transaction.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, tx.db.Q(query), args...)
}

// QueryRow runs a single-row query inside the transaction.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, tx.db.Q(query), args...)
}

// prepared binds the writer's cached statement to this transaction. The
// SQLite writer has one connection, so database/sql reuses the prepared
// statement instead of preparing it again.
func (tx *Tx) prepared(ctx context.Context, query string) *sql.Stmt {
	if tx.db.Dialect != SQLite {
		return nil
	}
	v, ok := tx.db.wstmts.Load(query)
	if !ok {
		// Preparing on the pool would wait for the writer's only
		// connection, which this transaction holds: prepare after commit.
		tx.db.toPrepare.Store(query, struct{}{})
		return nil
	}
	return tx.Tx.StmtContext(ctx, v.(*sql.Stmt))
}

// DB returns the database the transaction belongs to.
func (tx *Tx) DB() *DB { return tx.db }

// InTx runs fn in a write transaction, committing when fn returns nil.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &Tx{Tx: sqlTx, db: db}
	if err := fn(tx); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	for _, f := range tx.beforeCommit {
		if err := f(ctx, tx); err != nil {
			_ = sqlTx.Rollback()
			return err
		}
	}
	err = sqlTx.Commit()
	if db.Dialect == SQLite {
		db.toPrepare.Range(func(k, _ any) bool {
			db.toPrepare.Delete(k)
			_, _ = db.stmt(ctx, &db.wstmts, db.Writer, k.(string))
			return true
		})
	}
	return err
}

// Placeholders returns "$from, $from+1, ..." n times, for IN lists.
func Placeholders(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}

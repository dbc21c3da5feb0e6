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

	// AfterCommit, when set, is called after every committed write
	// transaction. It must not block: SQLite uses it to wake its WAL
	// checkpointer.
	AfterCommit func()
	// OnClose, when set, runs at the start of Close, while the pools are
	// still open (SQLite stops its checkpointer).
	OnClose func() error

	rebound sync.Map // query text -> dialect-specific text
	rstmts  sync.Map // SQLite: query text -> *sql.Stmt on Reader
	// wconn is SQLite's writer connection, held once HoldWriter ran.
	wconn *writerConn
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
	var err error
	if db.OnClose != nil {
		err = db.OnClose()
	}
	if db.wconn != nil {
		err = errors.Join(err, db.wconn.close())
	}
	err = errors.Join(err, db.Writer.Close())
	if db.Reader != db.Writer {
		err = errors.Join(err, db.Reader.Close())
	}
	return err
}

// Q returns query in the DB's dialect. Queries are written once with
// PostgreSQL's $N placeholders; SQLite numbers named parameters by first
// appearance, so $N is rewritten to SQLite's explicit ?N form, or to plain
// ? when the placeholders run $1, $2, ... in order (the driver then binds by
// position instead of reading back each parameter's name).
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
	sequential := true
	next := 1
	forEachPlaceholder(q, func(_, _, n int) {
		if n != next {
			sequential = false
		}
		next++
	})
	var b strings.Builder
	b.Grow(len(q))
	last := 0
	forEachPlaceholder(q, func(start, end, _ int) {
		b.WriteString(q[last:start])
		b.WriteByte('?')
		if !sequential {
			b.WriteString(q[start+1 : end])
		}
		last = end
	})
	b.WriteString(q[last:])
	return b.String()
}

// forEachPlaceholder calls fn with the span and number of each $N outside
// string literals, in order.
func forEachPlaceholder(q string, fn func(start, end, n int)) {
	inString := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '\'' {
			inString = !inString
		}
		if c != '$' || inString || i+1 >= len(q) || q[i+1] < '0' || q[i+1] > '9' {
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(q[i+1 : j])
		fn(i, j, n)
		i = j - 1
	}
}

// Exec runs a statement on the writer.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if w := db.wconn; w != nil {
		w.mu.Lock()
		res, err := w.exec(ctx, db, query, args)
		w.mu.Unlock()
		if err == nil && db.AfterCommit != nil {
			db.AfterCommit()
		}
		return res, err
	}
	return db.Writer.ExecContext(ctx, db.Q(query), args...)
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

// ScanFresh runs a single-row read of committed data and scans the row
// into dest, returning sql.ErrNoRows like Row.Scan. It is for short point
// lookups on the write path, such as a send's transaction ID. On SQLite it
// uses the writer connection when that is free: its page cache holds the
// pages the last commits touched, while a reader connection reloads its
// cache after every commit made by another connection (a dozen page reads
// and lock calls for one index lookup). While a write transaction holds
// the writer it reads from the reader pool instead, so lookups never queue
// behind commits (that would keep concurrent sends from sharing a batch).
// It is not cancelled with ctx: a lookup this short is cheaper to finish
// than to watch (a goroutine in database/sql and one in the driver).
func (db *DB) ScanFresh(ctx context.Context, query string, args []any, dest ...any) error {
	ctx = context.WithoutCancel(ctx)
	if w := db.wconn; w != nil {
		if !w.mu.TryLock() {
			return db.QueryRow(ctx, query, args...).Scan(dest...)
		}
		defer w.mu.Unlock()
		st, err := w.stmt(ctx, db, query)
		if err != nil {
			return err
		}
		return st.QueryRowContext(ctx, args...).Scan(dest...)
	}
	return db.Writer.QueryRowContext(ctx, db.Q(query), args...).Scan(dest...)
}

// Tx is a write transaction that speaks the DB's dialect.
type Tx struct {
	sqlTx *sql.Tx     // PostgreSQL
	w     *writerConn // SQLite
	db    *DB

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
	if tx.w != nil {
		return tx.w.exec(ctx, tx.db, query, args)
	}
	return tx.sqlTx.ExecContext(ctx, query, args...)
}

// Query runs a query inside the transaction.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if tx.w != nil {
		st, err := tx.w.stmt(ctx, tx.db, query)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(ctx, args...)
	}
	return tx.sqlTx.QueryContext(ctx, query, args...)
}

// QueryRow runs a single-row query inside the transaction.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if tx.w != nil {
		st, err := tx.w.stmt(ctx, tx.db, query)
		if err == nil {
			return st.QueryRowContext(ctx, args...)
		}
		// Let Row.Scan report the error.
		return tx.w.conn.QueryRowContext(ctx, tx.db.Q(query), args...)
	}
	return tx.sqlTx.QueryRowContext(ctx, query, args...)
}

// execScript runs text, which may hold several statements, unprepared.
func (tx *Tx) execScript(ctx context.Context, text string) error {
	var err error
	if tx.w != nil {
		_, err = tx.w.conn.ExecContext(ctx, text)
	} else {
		_, err = tx.sqlTx.ExecContext(ctx, text)
	}
	return err
}

// DB returns the database the transaction belongs to.
func (tx *Tx) DB() *DB { return tx.db }

// InTx runs fn in a write transaction, committing when fn returns nil.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if w := db.wconn; w != nil {
		w.mu.Lock()
		err := w.inTx(ctx, &Tx{w: w, db: db}, fn)
		w.mu.Unlock()
		if err == nil && db.AfterCommit != nil {
			db.AfterCommit()
		}
		return err
	}
	sqlTx, err := db.Writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &Tx{sqlTx: sqlTx, db: db}
	if err := tx.run(ctx, fn); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return err
	}
	if db.AfterCommit != nil {
		db.AfterCommit()
	}
	return nil
}

// run calls fn and then the BeforeCommit hooks.
func (tx *Tx) run(ctx context.Context, fn func(tx *Tx) error) error {
	if err := fn(tx); err != nil {
		return err
	}
	for _, f := range tx.beforeCommit {
		if err := f(ctx, tx); err != nil {
			return err
		}
	}
	return nil
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

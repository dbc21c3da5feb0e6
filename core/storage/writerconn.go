package storage

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// writerConn is SQLite's writer connection, checked out of the Writer pool
// for the database's lifetime. Write transactions run on it as prepared
// BEGIN IMMEDIATE and COMMIT statements rather than through database/sql's
// Tx, which starts a goroutine per transaction (two with the driver's
// cancellation watcher) and has the driver parse BEGIN and COMMIT each
// time; statements are prepared once on the connection and reused, with no
// per-transaction wrapper. mu serialises every use of the connection.
type writerConn struct {
	mu    sync.Mutex
	conn  *sql.Conn
	stmts map[string]*sql.Stmt // guarded by mu

	begin, commit, rollback *sql.Stmt
}

// HoldWriter checks the SQLite writer connection out of the Writer pool and
// routes Exec, InTx and ScanFresh through it. Code that still uses the
// Writer pool directly gets a second connection, which SQLite serialises
// with this one through its write lock and busy timeout; give the pool room
// for it. PostgreSQL keeps its pool.
func (db *DB) HoldWriter(ctx context.Context) error {
	if db.Dialect != SQLite || db.wconn != nil {
		return nil
	}
	conn, err := db.Writer.Conn(ctx)
	if err != nil {
		return err
	}
	w := &writerConn{conn: conn, stmts: map[string]*sql.Stmt{}}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{{&w.begin, "BEGIN IMMEDIATE"}, {&w.commit, "COMMIT"}, {&w.rollback, "ROLLBACK"}} {
		if *p.st, err = conn.PrepareContext(ctx, p.sql); err != nil {
			_ = w.close()
			return err
		}
	}
	db.wconn = w
	return nil
}

// stmt returns query prepared on the connection. Call with mu held.
func (w *writerConn) stmt(ctx context.Context, db *DB, query string) (*sql.Stmt, error) {
	if st := w.stmts[query]; st != nil {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, db.Q(query))
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

// exec runs one statement. Call with mu held.
func (w *writerConn) exec(ctx context.Context, db *DB, query string, args []any) (sql.Result, error) {
	st, err := w.stmt(ctx, db, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// inTx runs tx's work between BEGIN IMMEDIATE and COMMIT, rolling back on
// any error. Call with mu held.
func (w *writerConn) inTx(ctx context.Context, tx *Tx, fn func(tx *Tx) error) error {
	bg := context.Background()
	if _, err := w.begin.ExecContext(bg); err != nil {
		return err
	}
	err := tx.run(ctx, fn)
	if err == nil {
		if _, err = w.commit.ExecContext(bg); err == nil {
			return nil
		}
	}
	// A failed COMMIT (SQLITE_BUSY, a full disk) leaves the transaction
	// open; after a failed statement it is open too. ROLLBACK reports an
	// error only when nothing is open, which is what we want.
	_, _ = w.rollback.ExecContext(bg)
	return err
}

func (w *writerConn) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	for _, st := range w.stmts {
		err = errors.Join(err, st.Close())
	}
	for _, st := range []*sql.Stmt{w.begin, w.commit, w.rollback} {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	return errors.Join(err, w.conn.Close())
}

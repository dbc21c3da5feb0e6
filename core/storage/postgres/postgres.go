// Package postgres opens Gatehouse's production database through pgx's
// database/sql driver. It holds no queries: the SQL lives with each domain
// and is shared with SQLite.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Open connects to PostgreSQL with a pool of cpMin..cpMax connections (the
// Synapse cp_min/cp_max keys) and applies the schema migrations.
func Open(ctx context.Context, dsn string, cpMin, cpMax int) (*storage.DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if cpMax < 1 {
		cpMax = 10
	}
	pool.SetMaxOpenConns(cpMax)
	// Keep every open connection idle rather than cpMin: database/sql closes
	// connections beyond the idle limit as soon as they are returned, so
	// under concurrent sends each request would dial (and fork a backend)
	// and re-prepare its statements on a fresh connection.
	pool.SetMaxIdleConns(max(cpMin, cpMax, 1))
	db := &storage.DB{Dialect: storage.Postgres, Writer: pool, Reader: pool, IsUniqueViolation: isUnique}
	if err := pool.PingContext(ctx); err != nil {
		_ = pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w (check database.args in the config and that PostgreSQL is running)", err)
	}
	if err := db.Migrate(ctx); err != nil {
		_ = pool.Close()
		return nil, err
	}
	return db, nil
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

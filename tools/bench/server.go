package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-chat/gatehouse/tests/e2e"
)

// benchServer is one gatehouse process started for a backend, and how to
// clean up after it.
type benchServer struct {
	proc    *e2e.Process
	url     string
	dir     string
	cleanup []func()
}

// startBench starts bin on a fresh SQLite data dir, or on a fresh schema of
// the PostgreSQL database at pgDSN when that is set.
func startBench(bin, pgDSN, logLevel string) (*benchServer, error) {
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return nil, err
	}
	s := &benchServer{dir: dir}
	s.cleanup = append(s.cleanup, func() { _ = os.RemoveAll(dir) })
	opts := e2e.Options{DataDir: dir, LogLevel: logLevel}
	if pgDSN != "" {
		schemaDSN, drop, err := freshSchema(pgDSN)
		if err != nil {
			s.close()
			return nil, err
		}
		s.cleanup = append(s.cleanup, drop)
		opts.PostgresDSN = schemaDSN
	}
	if opts.Port, err = e2e.FreePort(); err != nil {
		s.close()
		return nil, err
	}
	cfg, err := e2e.WriteConfig(opts)
	if err != nil {
		s.close()
		return nil, err
	}
	s.url = opts.BaseURL()
	s.proc, err = e2e.StartProcess(bin, []string{"serve", "--config", cfg}, dir, filepath.Join(dir, "server"), nil)
	if err != nil {
		s.close()
		return nil, err
	}
	if err := s.proc.WaitReady(s.url, time.Minute); err != nil {
		err = fmt.Errorf("%w\n%s", err, s.logs())
		s.close()
		return nil, err
	}
	return s, nil
}

// logs returns the tails of the server's output, for error reports.
func (s *benchServer) logs() string {
	if s.proc == nil {
		return ""
	}
	return "server stdout:\n" + e2e.Tail(s.proc.StdoutPath, 20) + "\nserver stderr:\n" + e2e.Tail(s.proc.StderrPath, 40)
}

// close stops the server and removes its data, newest first.
func (s *benchServer) close() {
	if s.proc != nil {
		select {
		case <-s.proc.Done():
		default:
			_ = s.proc.Stop(15 * time.Second)
		}
	}
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		s.cleanup[i]()
	}
}

// freshSchema creates an empty schema in the database at dsn and returns a
// DSN that uses it, plus a func that drops it.
func freshSchema(dsn string) (string, func(), error) {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	schema := "bench_" + hex.EncodeToString(buf)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	drop := func() {
		if a, err := sql.Open("pgx", dsn); err == nil {
			_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
			_ = a.Close()
		}
	}
	return withSearchPath(dsn, schema), drop, nil
}

func withSearchPath(dsn, schema string) string {
	if strings.Contains(dsn, "://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

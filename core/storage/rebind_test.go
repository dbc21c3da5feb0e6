package storage

import "testing"

func TestRebindSQLite(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE x = $1 AND y = $2`, `SELECT a FROM t WHERE x = ? AND y = ?`},
		{`VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		// Out of order or repeated: keep the numbers.
		{`UPDATE t SET a = $3 WHERE b = $1 AND c = $2`, `UPDATE t SET a = ?3 WHERE b = ?1 AND c = ?2`},
		{`SELECT $1 WHERE $1 > $2`, `SELECT ?1 WHERE ?1 > ?2`},
		{`SELECT '$1', $1`, `SELECT '$1', ?`},
		{`SELECT 1`, `SELECT 1`},
	} {
		if got := rebindSQLite(c.in); got != c.want {
			t.Errorf("rebindSQLite(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

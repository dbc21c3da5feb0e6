package config

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestPostgresDSN(t *testing.T) {
	for _, tc := range []struct {
		name string
		args DatabaseArgs
		want string
	}{
		{"dsn wins", DatabaseArgs{DSN: "postgres://u:p@db/gh", User: "ignored", Database: "ignored"}, "postgres://u:p@db/gh"},
		{"fields", DatabaseArgs{Host: "db", Port: 5433, User: "gh", Password: "pw", Database: "gatehouse", SSLMode: "disable"},
			"host=db port=5433 user=gh password=pw dbname=gatehouse sslmode=disable"},
		{"only name", DatabaseArgs{Database: "gatehouse"}, "dbname=gatehouse"},
		{"unix socket", DatabaseArgs{Host: "/var/run/postgresql", Database: "gh"}, "host=/var/run/postgresql dbname=gh"},
		{"quoting", DatabaseArgs{User: "gh", Password: `it's a \ secret`, Database: "gh"},
			`user=gh password='it\'s a \\ secret' dbname=gh`},
		{"empty", DatabaseArgs{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Database: Database{Name: "postgres", Args: tc.args}}
			if got := c.PostgresDSN(); got != tc.want {
				t.Errorf("PostgresDSN() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPostgresDSNParses checks pgx reads back exactly what the fields say,
// including awkward passwords.
func TestPostgresDSNParses(t *testing.T) {
	for _, pw := range []string{"plain", `it's`, `back\slash`, "sp ace", "tab\tnew\nline", "=;?&@:/"} {
		c := Config{Database: Database{Name: "postgres", Args: DatabaseArgs{
			Host: "db.internal", Port: 6543, User: "gh user", Password: pw, Database: "gate house", SSLMode: "disable",
		}}}
		pc, err := pgconn.ParseConfig(c.PostgresDSN())
		if err != nil {
			t.Fatalf("password %q: ParseConfig(%q): %v", pw, c.PostgresDSN(), err)
		}
		if pc.Host != "db.internal" || pc.Port != 6543 || pc.User != "gh user" || pc.Password != pw || pc.Database != "gate house" {
			t.Errorf("password %q: parsed %s:%d user=%q password=%q db=%q", pw, pc.Host, pc.Port, pc.User, pc.Password, pc.Database)
		}
		if pc.TLSConfig != nil {
			t.Errorf("sslmode=disable was not honoured")
		}
	}
}

func TestIsPostgres(t *testing.T) {
	for name, want := range map[string]bool{"postgres": true, "psycopg2": true, "sqlite3": false, "": false} {
		c := Config{Database: Database{Name: name}}
		if got := c.IsPostgres(); got != want {
			t.Errorf("IsPostgres() with name %q = %v, want %v", name, got, want)
		}
	}
}

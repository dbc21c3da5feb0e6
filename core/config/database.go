package config

import (
	"strconv"
	"strings"
)

// IsPostgres reports whether the database is PostgreSQL, under either of
// its accepted names (Validate folds "psycopg2" into "postgres").
func (c *Config) IsPostgres() bool {
	return c.Database.Name == "postgres" || c.Database.Name == "psycopg2"
}

// PostgresDSN returns a connection string for pgx. args.dsn is used as-is
// when set; otherwise a keyword/value DSN ("host=... dbname=...") is built
// from the libpq-style fields Synapse configs carry, leaving out empty ones
// so pgx's own defaults and PG* environment variables still apply. The pool
// bounds cp_min/cp_max are not included: pgx would send unknown keywords to
// the server as runtime parameters, so the caller sizes its pool itself.
func (c *Config) PostgresDSN() string {
	a := c.Database.Args
	if a.DSN != "" {
		return a.DSN
	}
	var parts []string
	add := func(key, value string) {
		if value != "" {
			parts = append(parts, key+"="+quoteDSN(value))
		}
	}
	add("host", a.Host)
	if a.Port != 0 {
		add("port", strconv.Itoa(a.Port))
	}
	add("user", a.User)
	add("password", a.Password)
	add("dbname", a.Database)
	add("sslmode", a.SSLMode)
	return strings.Join(parts, " ")
}

// quoteDSN quotes a keyword/value DSN value when it needs it, following
// libpq: single quotes, with backslash escaping quotes and backslashes.
func quoteDSN(v string) string {
	if !strings.ContainsAny(v, " '\\\t\n\r\v\f") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

func checkDatabase(p *problems, db Database) {
	a := db.Args
	switch db.Name {
	case "sqlite3":
		checkRequired(p, "database.args.database", a.Database)
	case "postgres":
		if a.DSN == "" && a.Database == "" {
			p.add("database.args", "postgres needs either dsn or database (the database name)")
		}
		if a.Port < 0 || a.Port > 65535 {
			p.add("database.args.port", "must be between 1 and 65535, or 0 for the default (got %d)", a.Port)
		}
		if a.SSLMode != "" {
			checkOneOf(p, "database.args.sslmode", a.SSLMode, sslModes...)
		}
	default:
		p.add("database.name", "must be sqlite3 or postgres (psycopg2 is accepted too) (got %q)", db.Name)
	}
	if a.CPMin < 1 {
		p.add("database.args.cp_min", "must be at least 1 (got %d)", a.CPMin)
	}
	if a.CPMax < 1 {
		p.add("database.args.cp_max", "must be at least 1 (got %d)", a.CPMax)
	}
	if a.CPMin > a.CPMax && a.CPMax >= 1 {
		p.add("database.args.cp_min", "must not be more than cp_max (%d > %d)", a.CPMin, a.CPMax)
	}
}

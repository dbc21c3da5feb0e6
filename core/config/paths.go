package config

import (
	"path/filepath"
	"strings"
)

// resolvePaths makes every relative file path absolute against dir, the
// config file's directory, so the server behaves the same whatever its
// working directory (systemd units and containers rarely agree on one).
func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.SigningKeyPath)
	abs(&c.MediaStorePath)
	if c.Database.Name == "sqlite3" && !isSQLiteSpecial(c.Database.Args.Database) {
		abs(&c.Database.Args.Database)
	}
	for i := range c.AppServiceConfigFiles {
		abs(&c.AppServiceConfigFiles[i])
	}
	for i := range c.Listeners {
		abs(&c.Listeners[i].TLSCertPath)
		abs(&c.Listeners[i].TLSKeyPath)
	}
}

// isSQLiteSpecial reports names SQLite treats as something other than a
// file path: the in-memory database and URI filenames.
func isSQLiteSpecial(name string) bool {
	return name == ":memory:" || strings.HasPrefix(name, "file:")
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ServerName is the server_name of every test server, so user IDs read
// @alice:localhost.
const ServerName = "localhost"

// Options describe one test server's gatehouse.yaml.
type Options struct {
	// Port is the loopback port the single listener binds.
	Port int
	// DataDir holds the config, signing key, media and (for SQLite) the database.
	DataDir string
	// PostgresDSN selects PostgreSQL when set; otherwise SQLite in DataDir.
	PostgresDSN string
	// LogLevel is log.level; "info" when empty.
	LogLevel string
	// SharedSecret is registration_shared_secret, used by `gatehouse register`.
	SharedSecret string
	// EncryptionDefault is encryption_enabled_by_default_for_room_type; "invite" when empty.
	EncryptionDefault string
	// AppServiceConfigFiles is app_service_config_files: registration files to load.
	AppServiceConfigFiles []string
	// Extra is appended to the file as is: top-level YAML such as a
	// bridges section.
	Extra string
}

// BaseURL is where the server described by o answers.
func (o Options) BaseURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(o.Port)
}

// ConfigPath is where WriteConfig puts the file.
func (o Options) ConfigPath() string {
	return filepath.Join(o.DataDir, "gatehouse.yaml")
}

// WriteConfig writes o as gatehouse.yaml into o.DataDir. Rate limits are
// raised far above anything a test or the benchmark does, so neither
// measures the limiter; registration is open without verification so users
// can be created over plain HTTP.
func WriteConfig(o Options) (string, error) {
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.EncryptionDefault == "" {
		o.EncryptionDefault = "invite"
	}
	if o.SharedSecret == "" {
		o.SharedSecret = "e2e-shared-secret"
	}
	db := "  name: sqlite3\n  args:\n    database: gatehouse.db\n    cp_min: 1\n    cp_max: 10\n"
	if o.PostgresDSN != "" {
		db = fmt.Sprintf("  name: postgres\n  args:\n    dsn: %s\n    cp_min: 2\n    cp_max: 20\n", strconv.Quote(o.PostgresDSN))
	}
	const limit = "{per_second: 10000, burst_count: 10000}"
	text := fmt.Sprintf(`# Written by tests/e2e for one test server.
server_name: %q
public_baseurl: %q
listeners:
  - port: %d
    bind_addresses: ['127.0.0.1']
    type: http
    resources:
      - names: [client, federation, media]
database:
%slog:
  level: %s
  format: json
signing_key_path: signing.key
media_store_path: media
enable_registration: true
enable_registration_without_verification: true
registration_shared_secret: %q
encryption_enabled_by_default_for_room_type: %s
rc_message: %s
rc_registration: %s
rc_login:
  address: %s
  account: %s
  failed_attempts: %s
`, ServerName, o.BaseURL()+"/", o.Port, db, o.LogLevel, o.SharedSecret, o.EncryptionDefault,
		limit, limit, limit, limit, limit)
	for i, f := range o.AppServiceConfigFiles {
		if i == 0 {
			text += "app_service_config_files:\n"
		}
		text += "  - " + strconv.Quote(f) + "\n"
	}
	text += o.Extra
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return "", err
	}
	path := o.ConfigPath()
	return path, os.WriteFile(path, []byte(text), 0o600)
}

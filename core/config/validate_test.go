package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// validationProblems runs Validate on Defaults() changed by mutate and
// returns the problems as "path: msg".
func validationProblems(t *testing.T, mutate func(*Config)) []string {
	t.Helper()
	c := Defaults()
	mutate(&c)
	err := c.Validate()
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Validate returned %T, want *Errors", err)
	}
	var out []string
	for _, p := range errs.Problems {
		out = append(out, p.Path+": "+p.Msg)
	}
	return out
}

func TestDefaultsValid(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Defaults() does not validate:\n%v", err)
	}
}

func TestDefaultsFresh(t *testing.T) {
	a := Defaults()
	a.Listeners[0].BindAddresses[0] = "changed"
	a.IPRangeBlacklist[0] = "changed"
	b := Defaults()
	if b.Listeners[0].BindAddresses[0] != "127.0.0.1" || b.IPRangeBlacklist[0] != "127.0.0.0/8" {
		t.Error("Defaults() shares slices between calls")
	}
}

func TestValidateEachProblem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"server name empty", func(c *Config) { c.ServerName = "" }, []string{`server_name: required (got "")`}},
		{"server name space", func(c *Config) { c.ServerName = "my server" }, []string{`server_name: must be a host name or IP literal`}},
		{"server name bad port", func(c *Config) { c.ServerName = "example.org:99999" }, []string{`server_name: port must be a number between 1 and 65535`}},
		{"server name empty port", func(c *Config) { c.ServerName = "example.org:" }, []string{`server_name: port must be`}},
		{"server name bare ipv6", func(c *Config) { c.ServerName = "::1" }, []string{`server_name: must be a host name`}},
		{"server name bad ipv6", func(c *Config) { c.ServerName = "[1.2.3.4]:80" }, []string{`server_name: not a valid IPv6 literal`}},
		{"server name url", func(c *Config) { c.ServerName = "https://example.org" }, []string{`server_name: must be a bare domain such as example.org, not a URL`}},
		{"baseurl relative", func(c *Config) { c.PublicBaseURL = "matrix.example.org" }, []string{`public_baseurl: must start with https:// or http://`}},
		{"baseurl ftp", func(c *Config) { c.PublicBaseURL = "ftp://example.org/" }, []string{`public_baseurl: must start with https://`}},
		{"baseurl query", func(c *Config) { c.PublicBaseURL = "https://example.org/?x=1" }, []string{`public_baseurl: must be a plain URL`}},
		{"baseurl unparsable", func(c *Config) { c.PublicBaseURL = "https://exa mple.org:x/" }, []string{`public_baseurl: not a valid URL`}},
		{"no listeners", func(c *Config) { c.Listeners = nil }, []string{`listeners: at least one listener is required`}},
		{"listener port", func(c *Config) { c.Listeners[0].Port = 70000 }, []string{`listeners[0].port: must be between 1 and 65535 (got 70000)`}},
		{"listener type", func(c *Config) { c.Listeners[0].Type = "metrics" }, []string{`listeners[0].type: must be one of http (got "metrics")`}},
		{"listener bind", func(c *Config) { c.Listeners[0].BindAddresses = []string{"localhost"} }, []string{`listeners[0].bind_addresses[0]: must be an IP address`}},
		{"listener no bind", func(c *Config) { c.Listeners[0].BindAddresses = nil }, []string{`listeners[0].bind_addresses: at least one address is required`}},
		{"listener duplicate", func(c *Config) { c.Listeners = append(c.Listeners, defaultListener()) }, []string{`listeners[1].bind_addresses[0]: 127.0.0.1:8008 is already used by listeners[0]`}},
		{"listener tls", func(c *Config) { c.Listeners[0].TLS = true }, []string{`listeners[0].tls_certificate_path: required`, `listeners[0].tls_private_key_path: required`}},
		{"no resources", func(c *Config) { c.Listeners[0].Resources = nil }, []string{`listeners[0].resources: at least one resource is required`}},
		{"empty resource", func(c *Config) { c.Listeners[0].Resources[0].Names = nil }, []string{`listeners[0].resources[0].names: at least one name is required`}},
		{"bad resource", func(c *Config) { c.Listeners[0].Resources[0].Names[1] = "replication" }, []string{`listeners[0].resources[0].names[1]: must be one of client, federation, media, keys, openid, health, metrics (got "replication")`}},
		{"database name", func(c *Config) { c.Database.Name = "mysql" }, []string{`database.name: must be sqlite3 or postgres`}},
		{"sqlite path", func(c *Config) { c.Database.Args.Database = "" }, []string{`database.args.database: required`}},
		{"postgres nothing", func(c *Config) { c.Database = Database{Name: "postgres", Args: DatabaseArgs{CPMin: 1, CPMax: 1}} }, []string{`database.args: postgres needs either dsn or database`}},
		{"postgres port", func(c *Config) { c.Database.Name = "postgres"; c.Database.Args.Port = -1 }, []string{`database.args.port: must be between 1 and 65535, or 0`}},
		{"postgres sslmode", func(c *Config) { c.Database.Name = "postgres"; c.Database.Args.SSLMode = "on" }, []string{`database.args.sslmode: must be one of disable, allow`}},
		{"cp_min zero", func(c *Config) { c.Database.Args.CPMin = 0 }, []string{`database.args.cp_min: must be at least 1 (got 0)`}},
		{"cp_max zero", func(c *Config) { c.Database.Args.CPMax = 0 }, []string{`database.args.cp_max: must be at least 1 (got 0)`}},
		{"cp_min > cp_max", func(c *Config) { c.Database.Args.CPMin = 11 }, []string{`database.args.cp_min: must not be more than cp_max (11 > 10)`}},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, []string{`log.level: must be one of trace, debug, info, warn, error (got "verbose")`}},
		{"log format", func(c *Config) { c.Log.Format = "text" }, []string{`log.format: must be one of pretty, json`}},
		{"signing key", func(c *Config) { c.SigningKeyPath = "" }, []string{`signing_key_path: required`}},
		{"media store", func(c *Config) { c.MediaStorePath = "" }, []string{`media_store_path: required`}},
		{"upload size", func(c *Config) { c.MaxUploadSize = 0 }, []string{`max_upload_size: must be more than 0 (got 0)`}},
		{"preview cidr", func(c *Config) { c.URLPreviewIPRangeBlacklist[2] = "10.0.0.0/33" }, []string{`url_preview_ip_range_blacklist[2]: not a CIDR range or IP address (got "10.0.0.0/33")`}},
		{"federation cidr", func(c *Config) { c.IPRangeBlacklist = []string{"10.0.0.1", "nope"} }, []string{`ip_range_blacklist[1]: not a CIDR range`}},
		{"open registration", func(c *Config) { c.EnableRegistration = true }, []string{`enable_registration: open registration without verification`}},
		{"room version", func(c *Config) { c.DefaultRoomVersion = "12" }, []string{`default_room_version: must be one of 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 (got "12")`}},
		{"encryption", func(c *Config) { c.EncryptionEnabledByDefaultForRoomType = "none" }, []string{`encryption_enabled_by_default_for_room_type: must be one of all, invite, off (got "none")`}},
		{"appservice file", func(c *Config) { c.AppServiceConfigFiles = []string{"a.yaml", ""} }, []string{`app_service_config_files[1]: required`}},
		{"turn both", func(c *Config) { c.TurnSharedSecret, c.TurnUsername, c.TurnPassword = "s", "u", "p" }, []string{`turn_shared_secret: set either turn_shared_secret or turn_username/turn_password, not both`}},
		{"turn password", func(c *Config) { c.TurnUsername = "u" }, []string{`turn_password: required when turn_username is set`}},
		{"turn uri", func(c *Config) { c.TurnURIs = []string{"turn:ok.org", "stun:x.org"} }, []string{`turn_uris[1]: must start with turn: or turns: (got "stun:x.org")`}},
		{"turn lifetime", func(c *Config) { c.TurnUserLifetime = 0 }, []string{`turn_user_lifetime: must be more than 0 (got 0)`}},
		{"smtp port", func(c *Config) { c.Email.SMTPPort = 0 }, []string{`email.smtp_port: must be between 1 and 65535 (got 0)`}},
		{"notifs", func(c *Config) { c.Email.EnableNotifs = true }, []string{`email.smtp_host: required`, `email.notif_from: required`}},
		{"rates", func(c *Config) { c.RcMessage.PerSecond = -1; c.RcLogin.FailedAttempts.BurstCount = -2 }, []string{
			`rc_message.per_second: must not be negative (got -1)`, `rc_login.failed_attempts.burst_count: must not be negative (got -2)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantPrefixes(t, validationProblems(t, tc.mutate), tc.want)
		})
	}
}

func wantPrefixes(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("problems:\n  %s\nwant (prefixes):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestValidateReportsEverything breaks many things at once and expects one
// problem for each, not just the first.
func TestValidateReportsEverything(t *testing.T) {
	got := validationProblems(t, func(c *Config) {
		c.ServerName = ""
		c.Listeners[0].Port = 0
		c.Database.Name = "oracle"
		c.Log.Level = "loud"
		c.DefaultRoomVersion = "0"
		c.TurnUserLifetime = Duration(-time.Second)
		c.Email.SMTPPort = -1
		c.RcRegistration.BurstCount = -1
	})
	if len(got) != 8 {
		t.Errorf("got %d problems, want 8:\n%s", len(got), strings.Join(got, "\n"))
	}
}

func TestValidAccepted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"dns name with port", func(c *Config) { c.ServerName = "matrix.example.org:8448" }},
		{"ipv4", func(c *Config) { c.ServerName = "192.0.2.1" }},
		{"ipv6 with port", func(c *Config) { c.ServerName = "[2001:db8::1]:8448" }},
		{"ipv6", func(c *Config) { c.ServerName = "[::1]" }},
		{"http baseurl", func(c *Config) { c.PublicBaseURL = "http://localhost:8008/" }},
		{"token registration", func(c *Config) { c.EnableRegistration, c.RegistrationRequiresToken = true, true }},
		{"open registration on purpose", func(c *Config) {
			c.EnableRegistration, c.EnableRegistrationWithoutVerification = true, true
		}},
		{"token without registration", func(c *Config) { c.RegistrationRequiresToken = true }},
		{"postgres dsn", func(c *Config) {
			c.Database = Database{"postgres", DatabaseArgs{DSN: "postgres:///gh", CPMin: 1, CPMax: 1}}
		}},
		{"psycopg2 fields", func(c *Config) {
			c.Database = Database{"psycopg2", DatabaseArgs{Database: "gh", SSLMode: "require", CPMin: 1, CPMax: 2}}
		}},
		{"tls listener", func(c *Config) {
			c.Listeners[0].TLS, c.Listeners[0].TLSCertPath, c.Listeners[0].TLSKeyPath = true, "c", "k"
		}},
		{"all resources", func(c *Config) { c.Listeners[0].Resources[0].Names = slices.Clone(resourceNames) }},
		{"room version 1", func(c *Config) { c.DefaultRoomVersion = "1" }},
		{"zero rate", func(c *Config) { c.RcMessage = RateLimit{} }},
		{"turn secret", func(c *Config) { c.TurnSharedSecret, c.TurnURIs = "s", []string{"turns:t.org:5349"} }},
		{"turn user", func(c *Config) { c.TurnUsername, c.TurnPassword = "u", "p" }},
		{"email notifs", func(c *Config) { c.Email.EnableNotifs, c.Email.SMTPHost, c.Email.NotifFrom = true, "smtp", "a@b" }},
		{"same port two addresses", func(c *Config) {
			c.Listeners[0].BindAddresses = []string{"::", "0.0.0.0"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := validationProblems(t, tc.mutate); got != nil {
				t.Errorf("unexpected problems:\n%s", strings.Join(got, "\n"))
			}
		})
	}
}

func TestNormalise(t *testing.T) {
	c := Defaults()
	c.Database = Database{Name: "psycopg2", Args: DatabaseArgs{Database: "gh", CPMin: 1, CPMax: 1}}
	c.PublicBaseURL = "https://matrix.example.org"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Database.Name != "postgres" || !c.IsPostgres() {
		t.Errorf("database.name = %q, want postgres", c.Database.Name)
	}
	if c.PublicBaseURL != "https://matrix.example.org/" {
		t.Errorf("public_baseurl = %q, want a trailing slash", c.PublicBaseURL)
	}
}

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) {}, "http://127.0.0.1:8008/"},
		{func(c *Config) { c.PublicBaseURL = "https://m.example.org/" }, "https://m.example.org/"},
		{func(c *Config) { c.Listeners[0].BindAddresses = []string{"::1"} }, "http://[::1]:8008/"},
		{func(c *Config) { c.Listeners[0].BindAddresses = []string{"0.0.0.0"} }, "http://localhost:8008/"},
		{func(c *Config) { c.Listeners[0].BindAddresses = nil }, "http://localhost:8008/"},
		{func(c *Config) { c.Listeners[0].Port, c.Listeners[0].TLS = 8448, true }, "https://127.0.0.1:8448/"},
		{func(c *Config) { c.Listeners = nil }, "http://localhost:8008/"},
	} {
		c := Defaults()
		tc.mutate(&c)
		if got := c.BaseURL(); got != tc.want {
			t.Errorf("BaseURL() = %q, want %q (config %+v)", got, tc.want, fmt.Sprint(c.Listeners))
		}
	}
}

func TestErrorsString(t *testing.T) {
	e := &Errors{Problems: []Problem{
		{File: "g.yaml", Line: 12, Path: "database.nme", Msg: "unknown key"},
		{File: "g.yaml", Path: "server_name", Msg: "required"},
		{Path: "log.level", Msg: "bad"},
		{File: "g.yaml", Line: 3, Msg: "invalid YAML: oops"},
	}}
	want := "g.yaml:12: database.nme: unknown key\ng.yaml: server_name: required\nlog.level: bad\ng.yaml:3: invalid YAML: oops"
	if e.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", e.Error(), want)
	}
}

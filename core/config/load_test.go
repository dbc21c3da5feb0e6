package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadReportsFileAndLine(t *testing.T) {
	path := writeFile(t, t.TempDir(), "gatehouse.yaml", `server_name: example.org
database:
  nme: sqlite3
listeners:
  - port: 70000
    resources: [{names: [client]}]
max_upload_size: 50Q
`)
	_, err := Load(path)
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load error = %v (%T), want *Errors", err, err)
	}
	want := []string{
		path + `:3: database.nme: unknown key (did you mean "name"?)`,
		path + `:5: listeners[0].port: must be between 1 and 65535 (got 70000)`,
		path + `:7: max_upload_size: invalid size "50Q": unknown suffix "Q" (use bytes, or a number followed by K, M or G)`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Load error:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestSyntaxError(t *testing.T) {
	wantProblems(t, problemsOf(t, "server_name: a\n  bad: [\n"), `2: : invalid YAML: `)
	wantProblems(t, problemsOf(t, "\tserver_name: a\n"), `0: : invalid YAML: found character that cannot start any token`)
}

func TestEmptyFilesMeanDefaults(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		c := mustParse(t, src)
		d := Defaults()
		d.resolvePaths("/srv/gh")
		if !reflect.DeepEqual(*c, d) {
			t.Errorf("parse(%q) = %+v, want defaults", src, c)
		}
	}
	wantProblems(t, problemsOf(t, "- a\n"), `1: : must be a mapping (got a list)`)
}

// TestValidationProblemLines checks that problems found after decoding
// point at the key, or at the nearest parent written in the file.
func TestValidationProblemLines(t *testing.T) {
	got := problemsOf(t, `server_name: "has space"
database:
  args:
    cp_max: 2
log:
  level: loud
`)
	wantProblems(t, got,
		`1: server_name: must be a host name`,
		`3: database.args.cp_min: must not be more than cp_max (5 > 2)`,
		`6: log.level: must be one of`,
	)
	// Defaults that fail validation because of another key have no line.
	wantProblems(t, problemsOf(t, "listeners:\n  - port: 8448\n"),
		`2: listeners[0].resources: at least one resource is required`)
	c := Defaults()
	c.Listeners[0].Port = 0
	err := c.Validate().(*Errors)
	if p := err.Problems[0]; p.Line != 0 || p.File != "" {
		t.Errorf("Validate problem has position %s:%d", p.File, p.Line)
	}
}

// TestDecodeProblemHidesValidation: a value that failed to decode keeps
// its default, which must not be reported a second time.
func TestDecodeProblemHidesValidation(t *testing.T) {
	wantProblems(t, problemsOf(t, "listeners:\n  - port: high\n    resources: [{names: [client]}]\n"),
		`2: listeners[0].port: must be an integer (got "high")`)
	wantProblems(t, problemsOf(t, "listeners: [{port: 80, resources: 7}]\n"),
		`1: listeners[0].resources: must be a list (got "7")`)
}

func TestPsycopg2Alias(t *testing.T) {
	c := mustParse(t, "database:\n  name: psycopg2\n  args:\n    database: synapse\n    user: synapse_user\n")
	if c.Database.Name != "postgres" || !c.IsPostgres() {
		t.Errorf("database.name = %q, want postgres", c.Database.Name)
	}
	if c.Database.Args.Database != "synapse" {
		t.Errorf("postgres database name was treated as a path: %q", c.Database.Args.Database)
	}
}

func TestPathResolution(t *testing.T) {
	c := mustParse(t, `signing_key_path: keys/signing.key
media_store_path: /var/lib/gatehouse/media
app_service_config_files: [bridges/irc.yaml, /etc/bots/bot.yaml]
listeners:
  - port: 8448
    tls: true
    tls_certificate_path: tls/cert.pem
    tls_private_key_path: /etc/ssl/key.pem
    resources: [{names: [federation]}]
`)
	for _, tc := range []struct{ name, got, want string }{
		{"signing_key_path", c.SigningKeyPath, "/srv/gh/keys/signing.key"},
		{"media_store_path", c.MediaStorePath, "/var/lib/gatehouse/media"},
		{"database.args.database", c.Database.Args.Database, "/srv/gh/gatehouse.db"},
		{"app_service_config_files[0]", c.AppServiceConfigFiles[0], "/srv/gh/bridges/irc.yaml"},
		{"app_service_config_files[1]", c.AppServiceConfigFiles[1], "/etc/bots/bot.yaml"},
		{"tls_certificate_path", c.Listeners[0].TLSCertPath, "/srv/gh/tls/cert.pem"},
		{"tls_private_key_path", c.Listeners[0].TLSKeyPath, "/etc/ssl/key.pem"},
	} {
		if tc.got != filepath.FromSlash(tc.want) {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	for src, want := range map[string]string{
		"database: {args: {database: ':memory:'}}":          ":memory:",
		"database: {args: {database: 'file:x.db?mode=ro'}}": "file:x.db?mode=ro",
		"database: {args: {database: ../data/gh.db}}":       "/srv/data/gh.db",
	} {
		if got := mustParse(t, src).Database.Args.Database; got != want {
			t.Errorf("%s: database = %q, want %q", src, got, want)
		}
	}
}

// TestLoadRelativeToFile checks that Load anchors relative paths at the
// config file's directory, made absolute, not at the working directory.
func TestLoadRelativeToFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("etc", 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, "etc", "g.yaml", "media_store_path: media\n")
	c, err := Load(filepath.Join("etc", "g.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "etc", "media"); c.MediaStorePath != want {
		t.Errorf("media_store_path = %q, want %q", c.MediaStorePath, want)
	}
}

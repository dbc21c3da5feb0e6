package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix"
)

// TestFirstRunNoConfig runs the binary the way the README's quick start
// does: no config, only a data directory. It needs the default port 8008
// and skips when that is taken (the default cannot be moved without a
// config, which is what this test is about).
func TestFirstRunNoConfig(t *testing.T) {
	needBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:8008")
	if err != nil {
		t.Skipf("port 8008 is busy, and a first run listens there: %v", err)
	}
	ln.Close()
	work := t.TempDir()
	data := filepath.Join(work, "data") // not there yet: the first run creates it
	const base = "http://127.0.0.1:8008"

	p := startPlain(t, work, "first", base, "--data-dir", data)
	cfgPath, keyPath := filepath.Join(data, "gatehouse.yaml"), filepath.Join(data, "signing.key")
	cfg := readFile(t, cfgPath)
	checkGeneratedConfig(t, cfg)
	key := readFile(t, keyPath)
	if len(bytes.TrimSpace(key)) == 0 {
		t.Fatalf("signing.key is empty")
	}
	if st, err := os.Stat(keyPath); err == nil && st.Mode().Perm()&0o077 != 0 {
		t.Errorf("signing.key has mode %v; other users could read the server's private key", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(data, "gatehouse.db")); err != nil {
		t.Errorf("no SQLite database in the data dir: %v", err)
	}
	out := string(readFile(t, p.StdoutPath)) + string(readFile(t, p.StderrPath))
	if !strings.Contains(out, "127.0.0.1:8008") && !strings.Contains(out, "localhost:8008") {
		t.Errorf("first run output does not say where it listens:\n%s", out)
	}
	if !strings.Contains(out, "gatehouse register") {
		t.Errorf("first run output does not say how to create the first user:\n%s", out)
	}
	if out, err := runRegister(t, cfgPath, base, "admin", "first-admin-password", true); err != nil {
		t.Errorf("the printed way to create the first user failed: %v\n%s", err, out)
	}
	keys1 := serverKeys(t, base)
	if err := p.Stop(15 * time.Second); err != nil {
		t.Errorf("first run: %v", err)
	}

	p = startPlain(t, work, "second", base, "--data-dir", data)
	if got := readFile(t, keyPath); !bytes.Equal(got, key) {
		t.Errorf("second start changed signing.key")
	}
	if got := readFile(t, cfgPath); !bytes.Equal(got, cfg) {
		t.Errorf("second start rewrote gatehouse.yaml")
	}
	if err := loginOnce(base, "admin", "first-admin-password"); err != nil {
		t.Errorf("the first admin cannot log in after a restart: %v", err)
	}
	if keys2 := serverKeys(t, base); keys1 != nil && keys2 != nil && !equalJSON(keys1, keys2) {
		t.Errorf("published verify_keys changed across restarts: %s then %s", keys1, keys2)
	}
	if err := p.Stop(15 * time.Second); err != nil {
		t.Errorf("second run: %v", err)
	}
}

// startPlain starts the binary with args in dir and waits for base to
// answer, stopping it at cleanup and printing its output if the test fails.
func startPlain(t *testing.T, dir, name, base string, args ...string) *Process {
	t.Helper()
	p, err := StartProcess(binary, args, dir, filepath.Join(dir, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-p.Done():
		default:
			p.Kill()
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, Tail(p.StdoutPath, 60), name, Tail(p.StderrPath, 120))
		}
	})
	if err := p.WaitReady(base, 60*time.Second); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// checkGeneratedConfig checks the first-run config is commented YAML that
// carries the keys an admin edits first, with a real shared secret.
func checkGeneratedConfig(t *testing.T, cfg []byte) {
	t.Helper()
	comments := 0
	for _, line := range strings.Split(string(cfg), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			comments++
		}
	}
	if comments < 20 {
		t.Errorf("generated gatehouse.yaml has %d comment lines; admins need it explained", comments)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(cfg, &doc); err != nil {
		t.Fatalf("generated gatehouse.yaml is not YAML: %v", err)
	}
	for _, k := range []string{"server_name", "listeners", "database", "registration_shared_secret", "signing_key_path"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("generated gatehouse.yaml lacks %s", k)
		}
	}
	if s, _ := doc["registration_shared_secret"].(string); len(s) < 16 || s == "CHANGE_ME" {
		t.Errorf("generated registration_shared_secret %q is not a fresh random secret", s)
	}
}

// serverKeys returns verify_keys from /_matrix/key/v2/server, or nil (with
// a log line) while the server does not publish keys yet.
func serverKeys(t *testing.T, base string) json.RawMessage {
	t.Helper()
	resp, err := http.Get(base + "/_matrix/key/v2/server")
	if err != nil {
		t.Fatalf("GET /_matrix/key/v2/server: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Errorf("GET /_matrix/key/v2/server: %d %s", resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusOK {
		t.Logf("server keys not published yet (%d); comparing signing.key only", resp.StatusCode)
		return nil
	}
	var keys struct {
		VerifyKeys json.RawMessage `json:"verify_keys"`
	}
	if err := json.Unmarshal(body, &keys); err != nil || len(keys.VerifyKeys) == 0 {
		t.Errorf("key response without verify_keys: %s", body)
		return nil
	}
	return keys.VerifyKeys
}

func equalJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// loginOnce logs in with a password over plain HTTP.
func loginOnce(base, name, password string) error {
	c, err := mautrix.NewClient(base, "", "")
	if err != nil {
		return err
	}
	_, err = c.Login(context.Background(), &mautrix.ReqLogin{
		Type:       mautrix.AuthTypePassword,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: name},
		Password:   password,
	})
	return err
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/admin"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func newRegisterTarget(t *testing.T) (*accounts.Service, *httptest.Server) {
	t.Helper()
	acc := accounts.New(storagetest.NewSQLite(t), "example.org", accounts.Options{BcryptCost: bcrypt.MinCost})
	rt := httpx.NewRouter(acc, zerolog.Nop())
	admin.RegisterAdmin(rt, acc, admin.Options{SharedSecret: "s3cret"})
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return acc, srv
}

func runRegisterWith(args []string, stdin string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := registerCommand(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRegisterCommandFlags(t *testing.T) {
	acc, srv := newRegisterTarget(t)
	// Flags may come after the server URL, as with register_new_matrix_user.
	code, out, errOut := runRegisterWith([]string{"-k", "s3cret", srv.URL, "-u", "alice", "--password", "pw", "-a"}, "")
	if code != 0 || !strings.Contains(out, "Success! Created @alice:example.org") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	u, err := acc.GetUser(context.Background(), "@alice:example.org")
	if err != nil || !u.IsAdmin {
		t.Fatalf("alice = %+v, %v", u, err)
	}
	if err := acc.CheckPassword(context.Background(), "@alice:example.org", "pw"); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runRegisterWith([]string{"-k", "wrong", "-u", "bob", "-p", "pw", "--no-admin", srv.URL}, "")
	if code != 1 || !strings.Contains(errOut, "M_FORBIDDEN") {
		t.Fatalf("wrong secret: exit %d, stderr %s", code, errOut)
	}
	code, _, errOut = runRegisterWith([]string{"-k", "s3cret", "-u", "alice", "-p", "pw", "--no-admin", srv.URL}, "")
	if code != 1 || !strings.Contains(errOut, "M_USER_IN_USE") {
		t.Fatalf("taken: exit %d, stderr %s", code, errOut)
	}
	code, out, _ = runRegisterWith([]string{"-k", "s3cret", "-u", "alice", "-p", "pw", "--no-admin", "--exists-ok", srv.URL}, "")
	if code != 0 || !strings.Contains(out, "already exists") {
		t.Fatalf("--exists-ok: exit %d, stdout %s", code, out)
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runRegisterWith([]string{"-k", "s3cret", "-u", "erin", "--password-file", pwFile, "--no-admin", srv.URL}, ""); code != 0 {
		t.Fatalf("--password-file: exit %d, stderr %s", code, errOut)
	}
	if err := acc.CheckPassword(context.Background(), "@erin:example.org", "from-file"); err != nil {
		t.Fatalf("password from file: %v", err)
	}
	if code, _, _ := runRegisterWith([]string{"-u", "x"}, ""); code != 2 {
		t.Fatalf("no secret source: exit %d", code)
	}
	if code, _, _ := runRegisterWith([]string{"-k", "s", "-a", "--no-admin"}, ""); code != 2 {
		t.Fatalf("contradicting flags: exit %d", code)
	}
	if code, _, _ := runRegisterWith([]string{"-h"}, ""); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
}

func TestRegisterCommandPromptsAndConfig(t *testing.T) {
	acc, srv := newRegisterTarget(t)
	u, _ := url.Parse(srv.URL)
	cfgPath := filepath.Join(t.TempDir(), "gatehouse.yaml")
	cfg := fmt.Sprintf("server_name: example.org\nregistration_shared_secret: s3cret\nlisteners:\n  - port: %s\n    resources:\n      - names: [client]\n", u.Port())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// No URL: the config's client listener on localhost is used.
	code, out, errOut := runRegisterWith([]string{"-c", cfgPath}, "carol\nsecret\nsecret\nyes\n")
	if code != 0 || !strings.Contains(out, "Password: ") || !strings.Contains(out, "Make admin [no]: ") ||
		!strings.Contains(out, "Created @carol:example.org") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if u, _ := acc.GetUser(context.Background(), id.UserID("@carol:example.org")); u == nil || !u.IsAdmin {
		t.Fatalf("carol = %+v", u)
	}
	code, _, errOut = runRegisterWith([]string{"-c", cfgPath, "-u", "dave", srv.URL}, "one\ntwo\n")
	if code != 1 || !strings.Contains(errOut, "passwords do not match") {
		t.Fatalf("mismatch: exit %d, stderr %s", code, errOut)
	}
	code, _, errOut = runRegisterWith([]string{"-c", cfgPath, "-u", "dave", srv.URL}, "")
	if code != 1 || !strings.Contains(errOut, "no answer") {
		t.Fatalf("closed stdin: exit %d, stderr %s", code, errOut)
	}
	code, _, errOut = runRegisterWith([]string{"-c", filepath.Join(t.TempDir(), "missing.yaml"), "-u", "x", "-p", "y"}, "")
	if code != 1 || errOut == "" {
		t.Fatalf("missing config: exit %d, stderr %s", code, errOut)
	}
}

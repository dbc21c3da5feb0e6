package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
)

// TestRegisterCommand checks `gatehouse register`, the shared-secret path
// an admin uses for the first account: it creates a user who can then log
// in, refuses a taken name, and fails with the wrong secret.
func TestRegisterCommand(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		cfg := s.opts.ConfigPath()
		if out, err := runRegister(t, cfg, s.URL, "root", "rootpassword1", true); err != nil {
			t.Fatalf("gatehouse register: %v\n%s", err, out)
		}
		root := s.login(t, &user{Client: s.newClient(t, "@root:"+ServerName, ""), password: "rootpassword1"}, "cli")
		if who, err := root.Whoami(t.Context()); err != nil || who.UserID != "@root:"+ServerName {
			t.Errorf("whoami for the registered admin: %+v, %v", who, err)
		}
		if out, err := runRegister(t, cfg, s.URL, "root", "otherpassword", true); err == nil {
			t.Errorf("registering a taken name succeeded:\n%s", out)
		}

		wrong := s.opts
		wrong.DataDir = t.TempDir()
		wrong.SharedSecret = "not-the-secret"
		wrongCfg, err := WriteConfig(wrong)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := runRegister(t, wrongCfg, s.URL, "intruder", "intruderpass1", false); err == nil {
			t.Errorf("registering with the wrong shared secret succeeded:\n%s", out)
		}
		c := s.newClient(t, "", "")
		_, err = c.Login(t.Context(), &mautrix.ReqLogin{
			Type:       mautrix.AuthTypePassword,
			Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "intruder"},
			Password:   "intruderpass1",
		})
		wantMatrixError(t, err, 403, "M_FORBIDDEN")
	})
}

// runRegister runs `gatehouse register` with stdin closed, so a prompt
// cannot hang the test, and returns its combined output.
func runRegister(t *testing.T, cfg, base, name, password string, admin bool) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	args := []string{"register", "-u", name, "-p", password, "-c", cfg}
	if admin {
		args = append(args, "-a")
	}
	args = append(args, base)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = filepath.Dir(cfg)
	cmd.Stdin = nil
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

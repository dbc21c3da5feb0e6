package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gatehouse-chat/gatehouse/internal/inproc"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// Files locates what the host keeps on disk for one bridge.
type Files struct {
	// Dir holds registrations and pickle keys: <config dir>/bridges.
	Dir string
	// DBDir is where SQLite bridge databases go, beside the core's.
	DBDir string
}

// RegistrationPath is where the bridge's generated registration lives.
func (f Files) RegistrationPath(name string) string {
	return filepath.Join(f.Dir, name+"-registration.yaml")
}

func (f Files) pickleKeyPath(name string) string { return filepath.Join(f.Dir, name+"-pickle.key") }

// SQLitePath is the bridge's own database file when the core is on SQLite.
func (f Files) SQLitePath(name string) string { return filepath.Join(f.DBDir, "bridge-"+name+".db") }

// AppServiceURL is where the homeserver reaches an in-tree bridge: in this
// process, without a socket (see internal/inproc).
func AppServiceURL(name string) string { return inproc.URL("bridge-" + name) }

// botLocalpart and ghostPrefix follow mautrix's defaults (<network>bot,
// <network>_{{.}}) so docs and habits carry over.
func botLocalpart(name string) string { return name + "bot" }
func ghostPrefix(name string) string  { return name + "_" }

// EnsureRegistration loads the bridge's registration, generating one with
// fresh tokens on first use. A registration whose namespaces do not fit
// serverName (the server name was changed after first start) is an error
// that says what to do, not silently replaced: its tokens may be in use.
func EnsureRegistration(f Files, name, serverName string) (*registration.Registration, error) {
	path := f.RegistrationPath(name)
	if _, err := os.Stat(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	} else if err == nil {
		reg, err := registration.LoadFile(path)
		if err != nil {
			return nil, err
		}
		if !reg.MatchUser(fmt.Sprintf("@%s:%s", botLocalpart(name), serverName), true) ||
			!reg.MatchUser(fmt.Sprintf("@%sx:%s", ghostPrefix(name), serverName), true) {
			return nil, fmt.Errorf("%s does not claim @%s:%s and its ghosts (was server_name changed?); delete the file to generate a new one", path, botLocalpart(name), serverName)
		}
		return reg, nil
	}
	host := regexp.QuoteMeta(serverName)
	bot, err := registration.NewNamespace("@"+regexp.QuoteMeta(botLocalpart(name))+":"+host+"$", true)
	if err != nil {
		return nil, err
	}
	ghosts, err := registration.NewNamespace("@"+regexp.QuoteMeta(ghostPrefix(name))+".+:"+host+"$", true)
	if err != nil {
		return nil, err
	}
	reg, err := registration.Generate(registration.GenerateOptions{
		ID: name, URL: AppServiceURL(name), SenderLocalpart: botLocalpart(name),
		Namespaces: registration.Namespaces{Users: []registration.Namespace{bot, ghosts}},
		Encryption: true,
	})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := reg.Save(path); err != nil {
		return nil, err
	}
	reg.File = path
	return reg, nil
}

// pickleKey returns the key that encrypts the bridge's olm state at rest,
// generated once: losing it makes the stored crypto state unreadable.
func pickleKey(f Files, name string) (string, error) {
	path := f.pickleKeyPath(name)
	if b, err := os.ReadFile(path); err == nil {
		if k := strings.TrimSpace(string(b)); k != "" {
			return k, nil
		}
		return "", fmt.Errorf("%s is empty; restore it from a backup (the bridge's encryption state cannot be read without it)", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return "", err
	}
	k := registration.RandomToken()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(k+"\n"), 0o600); err != nil {
		return "", err
	}
	return k, os.Rename(tmp, path)
}

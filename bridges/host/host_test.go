package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/bridgev2"

	"github.com/gatehouse-chat/gatehouse/bridges/bridgetest"
	"github.com/gatehouse-chat/gatehouse/internal/diag"
)

var testDefs = []Definition{{Name: "testnet", New: func() bridgev2.NetworkConnector { return bridgetest.New() }}}

func sections(t *testing.T, text string) map[string]*yaml.Node {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		t.Fatal(err)
	}
	out := map[string]*yaml.Node{}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		out[m.Content[i].Value] = m.Content[i+1]
	}
	return out
}

func TestParseDefaults(t *testing.T) {
	settings, probs := Parse(testDefs, nil, "example.org")
	if len(probs) != 0 || len(settings) != 1 {
		t.Fatalf("settings %v, problems %v", settings, probs)
	}
	s := settings[0]
	if s.Enabled {
		t.Fatal("a bridge without a section must be off")
	}
	enc := s.Config.Encryption
	if !enc.Allow || !enc.Default || !enc.Appservice || !enc.MSC4190 || enc.Require {
		t.Fatalf("encryption defaults %+v: want allow, default, appservice mode with MSC4190", enc)
	}
	if s.DoublePuppet != DoublePuppetOptIn {
		t.Fatalf("double_puppet default %q", s.DoublePuppet)
	}
	if p := s.Config.Bridge.Permissions.Get("@alice:example.org"); !p.Login || p.Admin {
		t.Fatalf("local users get %+v, want user level", p)
	}
	if p := s.Config.Bridge.Permissions.Get("@eve:elsewhere.org"); p.Commands {
		t.Fatalf("remote users get %+v, want nothing", p)
	}
	if s.Config.Bridge.CommandPrefix != "!testnet" {
		t.Fatalf("mautrix defaults not applied: command_prefix %q", s.Config.Bridge.CommandPrefix)
	}
}

func TestParseSection(t *testing.T) {
	settings, probs := Parse(testDefs, sections(t, `
testnet:
  enabled: true
  network: {echo_replies: true, echo_prefix: "> "}
  permissions:
    "example.org": commands
    "@admin:example.org": admin
  encryption: {require: true}
  double_puppet: all
  bridge: {command_prefix: "!tn"}
`), "example.org")
	if len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	s := settings[0]
	if !s.Enabled || s.DoublePuppet != DoublePuppetAll || !s.Config.Encryption.Require || s.Config.Bridge.CommandPrefix != "!tn" {
		t.Fatalf("section not applied: %+v", s)
	}
	if p := s.Config.Bridge.Permissions.Get("@admin:example.org"); !p.Admin {
		t.Fatalf("admin permission %+v", p)
	}
	if p := s.Config.Bridge.Permissions.Get("@bob:example.org"); p.Login || !p.Commands {
		t.Fatalf("server permission %+v", p)
	}
	net := bridgetest.New()
	if err := decodeNetwork(net, s.network); err != nil || !net.Config.EchoReplies || net.Config.EchoPrefix != "> " {
		t.Fatalf("network section: %+v %v", net.Config, err)
	}
}

// Every mistake is reported at once, each with its path and line.
func TestParseProblems(t *testing.T) {
	_, probs := Parse(testDefs, sections(t, `
discord:
  enabled: true
testnet:
  enabled: yes please
  encryption: {appservice: false, allow: true, bogus: 1}
  double_puppet: sometimes
  permissions: [alice]
  colour: blue
  bridge: {command_prefx: "!x"}
`), "example.org")
	want := map[string]string{
		"bridges.discord":                       `this build has no "discord" bridge (built in: testnet)`,
		"bridges.testnet.enabled":               "must be true or false",
		"bridges.testnet.encryption":            "field bogus not found",
		"bridges.testnet.encryption.appservice": "must stay true",
		"bridges.testnet.double_puppet":         "must be opt_in, all or off",
		"bridges.testnet.permissions":           "must map user IDs",
		"bridges.testnet.colour":                "unknown key",
		"bridges.testnet.bridge":                "field command_prefx not found",
	}
	got := map[string]diag.Problem{}
	for _, p := range probs {
		got[p.Path] = p
	}
	for path, msg := range want {
		p, ok := got[path]
		if !ok || !strings.Contains(p.Msg, msg) || p.Line == 0 {
			t.Errorf("%s: got %+v, want a line and %q", path, p, msg)
		}
	}
	if len(probs) != len(want) {
		t.Errorf("got %d problems, want %d: %v", len(probs), len(want), probs)
	}
}

func TestParseNetworkProblem(t *testing.T) {
	_, probs := Parse(testDefs, sections(t, "testnet:\n  enabled: true\n  network: {echo_replys: true}\n"), "example.org")
	if len(probs) != 1 || probs[0].Path != "bridges.testnet.network" || !strings.Contains(probs[0].Msg, "echo_replys") || probs[0].Line != 3 {
		t.Fatalf("problems: %+v", probs)
	}
}

func TestEnsureRegistration(t *testing.T) {
	dir := t.TempDir()
	f := Files{Dir: filepath.Join(dir, "bridges"), DBDir: dir}
	reg, err := EnsureRegistration(f, "testnet", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(f.RegistrationPath("testnet"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("registration file %v %v: want mode 0600 (it holds tokens)", fi, err)
	}
	if !reg.MatchUser("@testnetbot:example.org", true) || !reg.MatchUser("@testnet_bob:example.org", true) ||
		reg.MatchUser("@alice:example.org", false) || reg.MatchUser("@testnet_bob:other.org", false) {
		t.Fatal("namespaces do not claim exactly the bot and the ghosts")
	}
	if !reg.MSC3202 || !reg.MSC4190 || !reg.ReceiveEphemeral || reg.RateLimited || reg.URL != AppServiceURL("testnet") {
		t.Fatalf("registration %+v: want encryption flags, ephemeral, not rate limited, in-process URL", reg)
	}
	again, err := EnsureRegistration(f, "testnet", "example.org")
	if err != nil || again.ASToken != reg.ASToken || again.HSToken != reg.HSToken {
		t.Fatalf("second start made new tokens: %v", err)
	}
	if _, err := EnsureRegistration(f, "testnet", "renamed.org"); err == nil || !strings.Contains(err.Error(), "server_name") {
		t.Fatalf("a registration for another server_name was accepted: %v", err)
	}
	k1, err := pickleKey(f, "testnet")
	if err != nil || len(k1) < 32 {
		t.Fatalf("pickle key %q %v", k1, err)
	}
	if k2, _ := pickleKey(f, "testnet"); k2 != k1 {
		t.Fatal("pickle key changed between starts: the bridge's olm state would become unreadable")
	}
}

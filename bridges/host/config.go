package host

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/bridgeconfig"
	"maunium.net/go/mautrix/bridgev2/matrix/mxmain"

	"github.com/gatehouse-chat/gatehouse/internal/diag"
)

// Definition is one bridge compiled into the binary.
type Definition struct {
	// Name is the config section (bridges.<name>), the registration id and
	// the bridge ID in a shared database: "discord", "telegram", "irc".
	Name string
	// New returns a fresh network connector; it is called once per start
	// attempt, so a failed start never leaves half-initialised state behind.
	New func() bridgev2.NetworkConnector
}

// DoublePuppet modes of a bridge section (see appservice.DoublePuppetMode).
const (
	DoublePuppetOptIn = "opt_in"
	DoublePuppetAll   = "all"
	DoublePuppetOff   = "off"
)

// Settings is one bridge's validated section of gatehouse.yaml.
type Settings struct {
	Def     Definition
	Enabled bool
	// DoublePuppet is opt_in, all or off.
	DoublePuppet string
	// Config is mautrix's full bridge config: the library's defaults, then
	// Gatehouse's (encryption on in appservice mode), then the section.
	// Homeserver, appservice and database fields are filled in at start.
	Config *bridgeconfig.Config
	// network is the section's `network` node, decoded at each start into
	// the connector's own config struct.
	network *yaml.Node
}

// sectionKeys are the keys a bridge section may have.
var sectionKeys = []string{"enabled", "network", "permissions", "encryption", "double_puppet", "bridge"}

// Parse validates the bridges section against the compiled-in definitions.
// Every problem is returned with its YAML path (bridges.<name>.<key>) and
// line; sections of bridges that are not enabled are still checked, so a
// typo is found before the day it is switched on.
func Parse(defs []Definition, sections map[string]*yaml.Node, serverName string) ([]*Settings, []diag.Problem) {
	var probs []diag.Problem
	fail := func(n *yaml.Node, path, format string, args ...any) {
		line := 0
		if n != nil {
			line = n.Line
		}
		probs = append(probs, diag.Problem{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	names := make([]string, 0, len(defs))
	for _, d := range defs {
		names = append(names, d.Name)
	}
	for name, n := range sections {
		if !slices.Contains(names, name) {
			fail(n, "bridges."+name, "this build has no %q bridge (built in: %s)", name, orNone(names))
		}
	}
	var out []*Settings
	for _, def := range defs {
		path := "bridges." + def.Name
		s, err := defaults(def, serverName)
		if err != nil {
			fail(nil, path, "%v", err)
			continue
		}
		n := sections[def.Name]
		if n != nil {
			decodeSection(s, n, path, fail)
		}
		if s.Enabled {
			if err := decodeNetwork(def.New(), s.network); err != nil {
				at := s.network
				if at == nil {
					at = n
				}
				fail(at, path+".network", "%v", err)
			}
		}
		out = append(out, s)
	}
	return out, probs
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// defaults builds a disabled bridge with mautrix's example config as the
// base and Gatehouse's choices on top: encryption allowed and on by default,
// in appservice mode with MSC4190 devices, so the bridge bot needs no /sync
// (whose failure would end the process) and no /login.
func defaults(def Definition, serverName string) (*Settings, error) {
	var cfg bridgeconfig.Config
	if err := yaml.Unmarshal([]byte(exampleConfig(def.New().GetName())), &cfg); err != nil {
		return nil, fmt.Errorf("mautrix's example config does not parse: %w", err)
	}
	cfg.Bridge.Permissions = bridgeconfig.PermissionConfig{serverName: &bridgeconfig.PermissionLevelUser}
	cfg.Encryption.Allow, cfg.Encryption.Default, cfg.Encryption.Require = true, true, false
	cfg.Encryption.Appservice, cfg.Encryption.MSC4190 = true, true
	cfg.AppService.ID = def.Name
	cfg.Homeserver.Domain = serverName
	cfg.Homeserver.Software = bridgeconfig.SoftwareStandard
	cfg.Provisioning.SharedSecret = "disable"
	cfg.PublicMedia.Enabled, cfg.DirectMedia.Enabled = false, false
	return &Settings{Def: def, DoublePuppet: DoublePuppetOptIn, Config: &cfg}, nil
}

var exampleTemplate = template.Must(template.New("example").Delims("$<<", ">>").Parse(mxmain.MatrixExampleConfigBase))

// exampleConfig renders mautrix's example bridge config for a network, the
// same text a standalone mautrix bridge writes on first start.
func exampleConfig(name bridgev2.BridgeName) string {
	var buf bytes.Buffer
	if err := exampleTemplate.Execute(&buf, name); err != nil {
		return ""
	}
	return buf.String()
}

func decodeSection(s *Settings, n *yaml.Node, path string, fail func(*yaml.Node, string, string, ...any)) {
	if n.Kind != yaml.MappingNode {
		if n.ShortTag() != "!!null" {
			fail(n, path, "must be a mapping with enabled, network, permissions, encryption, double_puppet, bridge")
		}
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		p := path + "." + key.Value
		switch key.Value {
		case "enabled":
			if err := val.Decode(&s.Enabled); err != nil {
				fail(val, p, "must be true or false")
			}
		case "network":
			s.network = val
		case "permissions":
			perms := bridgeconfig.PermissionConfig{}
			if err := val.Decode(&perms); err != nil {
				fail(val, p, "must map user IDs, server names or \"*\" to block, relay, commands, user or admin: %v", yamlMsg(err))
			} else {
				s.Config.Bridge.Permissions = perms
			}
		case "encryption":
			decodeStrict(val, p, &s.Config.Encryption, fail)
			if !s.Config.Encryption.Appservice && s.Config.Encryption.Allow {
				fail(val, p+".appservice", "must stay true: Gatehouse runs bridge encryption in appservice mode (MSC3202/MSC4190), which needs no /sync loop")
			}
			if s.Config.Encryption.Require && !s.Config.Encryption.Allow {
				fail(val, p+".require", "needs allow: true")
			}
		case "double_puppet":
			var mode string
			if err := val.Decode(&mode); err != nil || !slices.Contains([]string{DoublePuppetOptIn, DoublePuppetAll, DoublePuppetOff}, mode) {
				fail(val, p, "must be opt_in, all or off")
			} else {
				s.DoublePuppet = mode
			}
		case "bridge":
			permissions := s.Config.Bridge.Permissions
			decodeStrict(val, p, &s.Config.Bridge, fail)
			if s.Config.Bridge.Permissions == nil {
				s.Config.Bridge.Permissions = permissions
			}
		default:
			fail(key, p, "unknown key (expected one of %s)", strings.Join(sectionKeys, ", "))
		}
	}
}

// decodeStrict decodes n onto v, which holds defaults, and reports keys v
// has no field for. yaml.v3 checks unknown keys only through a Decoder, so
// the node is re-encoded; the problem then carries the section's line.
func decodeStrict(n *yaml.Node, path string, v any, fail func(*yaml.Node, string, string, ...any)) {
	if n.ShortTag() == "!!null" {
		return
	}
	raw, err := yaml.Marshal(n)
	if err != nil {
		fail(n, path, "%v", err)
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		fail(n, path, "%s", yamlMsg(err))
	}
}

// yamlMsg drops yaml.v3's "yaml: unmarshal errors:\n  line N:" framing:
// the line it names is relative to the re-encoded fragment.
func yamlMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, ": "); strings.HasPrefix(l, "line ") && i > 0 {
			l = l[i+2:]
		}
		if l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

package bridgetest

import (
	_ "embed"

	up "go.mau.fi/util/configupgrade"
)

//go:embed example.yaml
var exampleConfig string

// Config is the connector's section of a bridge config (`network:`).
type Config struct {
	// EchoReplies makes the remote user [EchoUserID] answer every message
	// that arrives from Matrix, in the same chat.
	EchoReplies bool `yaml:"echo_replies"`
	// EchoPrefix is put in front of the echoed body.
	EchoPrefix string `yaml:"echo_prefix"`
}

// upgradeConfig copies the known keys of an existing config over the example,
// the way mxmain keeps a network section current.
func upgradeConfig(helper up.Helper) {
	helper.Copy(up.Bool, "echo_replies")
	helper.Copy(up.Str, "echo_prefix")
}

// GetConfig returns the example network section, the struct it decodes into
// and its upgrader. Callers decode the example first and the real section on
// top, so values set on Config before the bridge starts are overwritten;
// tests use the section or [Network.SetEchoReplies] instead.
func (n *Network) GetConfig() (example string, data any, upgrader up.Upgrader) {
	return exampleConfig, &n.Config, up.SimpleUpgrader(upgradeConfig)
}

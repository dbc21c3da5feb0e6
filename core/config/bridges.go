package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Bridges maps a bridge name (discord, telegram, irc) to its raw section.
type Bridges map[string]*yaml.Node

// UnmarshalYAML keeps each section's node, with its line numbers, for the
// bridge host to decode.
func (b *Bridges) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("must be a mapping of bridge name to its settings")
	}
	out := make(Bridges, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out[n.Content[i].Value] = n.Content[i+1]
	}
	*b = out
	return nil
}

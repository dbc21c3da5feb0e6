package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// The decoder walks a yaml.Node tree against Config's yaml tags itself,
// instead of calling yaml.v3's Decode with KnownFields(true), because that
// stops at the first unknown key and we want every problem in one pass.

// Limits that keep hostile or broken files (alias bombs, merge loops) from
// costing more than a normal config: a real gatehouse.yaml visits a few
// hundred nodes.
const (
	maxVisits   = 100_000
	maxDepth    = 32
	maxProblems = 100
)

type decoder struct {
	probs   []Problem
	dropped int
	lines   map[string]int // YAML path -> line of its key, for later validation problems
	visits  int
	depth   int
	tooBig  bool // the size limit was hit and reported once
}

func newDecoder() *decoder { return &decoder{lines: map[string]int{}} }

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	if len(d.probs) >= maxProblems {
		d.dropped++
		return
	}
	d.probs = append(d.probs, Problem{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// value decodes n into v. An empty value (null) keeps what v already holds,
// so `key:` with nothing after it means "use the default".
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	n = resolveAlias(n)
	if d.visits++; d.visits > maxVisits || d.depth >= maxDepth {
		if !d.tooBig {
			d.tooBig = true
			d.fail(n, path, "document too large or too deeply nested (alias loop?)")
		}
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			d.fail(n, path, "%s", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

// mapping decodes a YAML mapping into struct v. Merge keys (<<) are applied
// before the mapping's own keys, so explicit keys win as YAML requires.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping (got %s)", describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(n.Content[i+1], v, path)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "keys must be plain names (got %s)", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			continue
		}
		sub := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(k, sub, "duplicate key (first set on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fieldByTag(v.Type(), k.Value)
		if !ok {
			d.fail(k, sub, "unknown key%s", suggest(v.Type(), k.Value))
			continue
		}
		d.lines[sub] = k.Line
		d.value(val, v.Field(f), sub)
	}
}

// merge applies `<<: *anchor` or `<<: [*a, *b]`.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, path string) {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode {
		d.value(n, v, path)
		return
	}
	for _, m := range n.Content {
		d.value(m, v, path)
	}
}

// sequence decodes a YAML list into slice v, replacing the default list
// rather than appending to it.
func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be a list (got %s)", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		sub := fmt.Sprintf("%s[%d]", path, i)
		d.lines[sub] = item.Line
		if s.Index(i).Type() == reflect.TypeFor[Listener]() {
			s.Index(i).Set(reflect.ValueOf(listenerElementDefaults()))
		}
		d.value(item, s.Index(i), sub)
	}
	v.Set(s)
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	// The parser rejects unknown anchors and an alias cannot itself carry
	// an anchor, so one step would do; the bound is belt and braces.
	for i := 0; i < 8 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what a node is, for "must be X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%q", truncate(n.Value, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

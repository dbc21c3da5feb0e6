package registration

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize bounds a registration file; real ones are under 2 KiB.
const MaxFileSize = 1 << 20

// The parser walks the yaml.Node tree itself rather than decoding into a
// tagged struct: yaml.v3 stops at the first type error and cannot name the
// key, while an admin needs every problem with its key and line.

// LoadFile reads and parses one registration file; see Parse.
func LoadFile(path string) (*Registration, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Errors{Problems: []Problem{{File: path, Msg: fmt.Sprintf("cannot read: %v", err)}}}
	}
	if st.Size() > MaxFileSize {
		return nil, &Errors{Problems: []Problem{{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Errors{Problems: []Problem{{File: path, Msg: fmt.Sprintf("cannot read: %v", err)}}}
	}
	return Parse(path, data)
}

// Parse decodes and validates one registration. file names it in errors.
// Unknown keys are ignored, as Synapse does, so files written for other
// homeservers load. The error, if any, is an *Errors.
func Parse(file string, data []byte) (*Registration, error) {
	ps := &problems{file: file}
	if len(data) > MaxFileSize {
		ps.add(0, "", "file is larger than %d bytes", MaxFileSize)
		return nil, errorsOrNil(ps.list)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		ps.add(0, "", "not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, errorsOrNil(ps.list)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		ps.add(0, "", "file is empty")
		return nil, errorsOrNil(ps.list)
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		ps.add(root.Line, "", "must be a YAML mapping of registration keys")
		return nil, errorsOrNil(ps.list)
	}
	r := &Registration{File: file, RateLimited: true, lines: map[string]int{}}
	p := &parser{ps: ps, lines: r.lines}
	p.root(r, root)
	// Validation problems are added unless parsing already reported one for
	// the same key (an empty as_token is not also "missing").
	bad := map[string]bool{}
	for _, pr := range ps.list {
		bad[pr.Path] = true
	}
	for _, pr := range r.check() {
		if !bad[pr.Path] {
			ps.list = append(ps.list, pr)
		}
	}
	if len(ps.list) > 0 {
		return nil, errorsOrNil(ps.list)
	}
	return r, nil
}

type parser struct {
	ps *problems
	// seen holds the top-level keys present, for "missing" problems.
	seen map[string]bool
	// lines maps key paths to their lines, for validation problems.
	lines map[string]int
}

func (p *parser) root(r *Registration, m *yaml.Node) {
	p.seen = map[string]bool{}
	var pushEphemeral, receiveEphemeral bool
	forEachKey(p.ps, m, "", func(key string, v *yaml.Node) {
		p.seen[key] = true
		p.lines[key] = v.Line
		switch key {
		case "id":
			r.ID = p.str(v, key)
		case "url":
			r.URL = p.optStr(v, key)
		case "as_token":
			r.ASToken = p.str(v, key)
		case "hs_token":
			r.HSToken = p.str(v, key)
		case "sender_localpart":
			r.SenderLocalpart = p.str(v, key)
		case "rate_limited":
			r.RateLimited = p.boolean(v, key, true)
		case "protocols":
			r.Protocols = p.strList(v, key)
		case "namespaces":
			p.namespaces(&r.Namespaces, v)
		case "receive_ephemeral":
			receiveEphemeral = p.boolean(v, key, false)
		case "de.sorunome.msc2409.push_ephemeral":
			pushEphemeral = p.boolean(v, key, false)
		case "org.matrix.msc3202":
			r.MSC3202 = p.boolean(v, key, false)
		case "io.element.msc4190":
			r.MSC4190 = p.boolean(v, key, false)
		case "ip_range_whitelist":
			for i, s := range p.strList(v, key) {
				r.IPRangeWhitelist = append(r.IPRangeWhitelist, p.prefix(v, fmt.Sprintf("%s[%d]", key, i), s))
			}
		}
	})
	r.ReceiveEphemeral = receiveEphemeral || pushEphemeral
	for _, key := range []string{"id", "as_token", "hs_token", "sender_localpart"} {
		if !p.seen[key] {
			p.ps.add(m.Line, key, "required key is missing")
		}
	}
}

func (p *parser) namespaces(ns *Namespaces, v *yaml.Node) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		p.ps.add(v.Line, "namespaces", "must be a mapping with users, aliases and rooms lists")
		return
	}
	forEachKey(p.ps, v, "namespaces.", func(key string, list *yaml.Node) {
		var dst *[]Namespace
		switch key {
		case "users":
			dst = &ns.Users
		case "aliases":
			dst = &ns.Aliases
		case "rooms":
			dst = &ns.Rooms
		default:
			return
		}
		path := "namespaces." + key
		if isNull(list) {
			return
		}
		if list.Kind != yaml.SequenceNode {
			p.ps.add(list.Line, path, "must be a list of {regex, exclusive} entries")
			return
		}
		for i, item := range list.Content {
			*dst = append(*dst, p.namespace(resolve(item), fmt.Sprintf("%s[%d]", path, i)))
		}
		p.lines[path] = list.Line
	})
}

func (p *parser) namespace(item *yaml.Node, path string) Namespace {
	var n Namespace
	if item.Kind != yaml.MappingNode {
		p.ps.add(item.Line, path, "must be a mapping with regex and exclusive")
		return n
	}
	var haveRegex, haveExclusive bool
	forEachKey(p.ps, item, path+".", func(key string, v *yaml.Node) {
		switch key {
		case "regex":
			haveRegex = true
			p.lines[path+".regex"] = v.Line
			n.Regex = p.str(v, path+".regex")
		case "exclusive":
			haveExclusive = true
			n.Exclusive = p.boolean(v, path+".exclusive", false)
		}
	})
	if !haveRegex {
		p.ps.add(item.Line, path+".regex", "required key is missing")
	}
	if !haveExclusive {
		// Synapse refuses this too: silently treating it as false would
		// let a bridge's "exclusive" namespace be taken by users.
		p.ps.add(item.Line, path+".exclusive", "required key is missing (true or false)")
	}
	return n
}

// str reads a string scalar. Numbers are accepted as their text, since an
// unquoted token or ID may look like one.
func (p *parser) str(v *yaml.Node, key string) string {
	v = resolve(v)
	if v.Kind != yaml.ScalarNode || isNull(v) {
		p.ps.add(v.Line, key, "must be a non-empty string")
		return ""
	}
	switch v.ShortTag() {
	case "!!str", "!!int", "!!float":
		return v.Value
	}
	p.ps.add(v.Line, key, "must be a string, not %s", describe(v))
	return ""
}

// optStr is str where null means "".
func (p *parser) optStr(v *yaml.Node, key string) string {
	if isNull(v) {
		return ""
	}
	return p.str(v, key)
}

func (p *parser) boolean(v *yaml.Node, key string, def bool) bool {
	v = resolve(v)
	if isNull(v) {
		return def
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
		p.ps.add(v.Line, key, "must be true or false, not %s", describe(v))
		return def
	}
	return v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
}

func (p *parser) strList(v *yaml.Node, key string) []string {
	v = resolve(v)
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.ps.add(v.Line, key, "must be a list of strings")
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for i, item := range v.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		p.lines[k] = resolve(item).Line
		out = append(out, p.str(item, k))
	}
	return out
}

func (p *parser) prefix(v *yaml.Node, key, s string) netip.Prefix {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked()
	}
	if addr, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(addr, addr.BitLen())
	}
	if s != "" {
		p.ps.add(v.Line, key, "%q is not an IP address or CIDR range", s)
	}
	return netip.Prefix{}
}

// forEachKey calls fn for each key of mapping m, reporting duplicate and
// non-string keys.
func forEachKey(ps *problems, m *yaml.Node, prefix string, fn func(key string, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := resolve(m.Content[i])
		if k.Kind != yaml.ScalarNode {
			ps.add(k.Line, strings.TrimSuffix(prefix, "."), "keys must be strings")
			continue
		}
		if seen[k.Value] {
			ps.add(k.Line, prefix+k.Value, "key appears twice")
			continue
		}
		seen[k.Value] = true
		fn(k.Value, resolve(m.Content[i+1]))
	}
}

// resolve follows an alias (*anchor) to its node. yaml.v3 rejects alias
// cycles while parsing, so one step per alias suffices.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "empty"
	case "!!int", "!!float":
		return "a number"
	}
	return fmt.Sprintf("%q", n.Value)
}

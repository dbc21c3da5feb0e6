package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the config file at path on top of Defaults(), resolves relative
// paths against the file's directory, and validates the result. Every
// unknown key, every value of the wrong type and every failed check is
// reported at once as an *Errors whose lines read like
// "gatehouse.yaml:12: database.nme: unknown key (did you mean "name"?)".
// A file that cannot be read gives the plain os error instead.
// Each check runs on the decoded config, even when it has problems of its
// own, and its problems are reported with the rest.
func Load(path string, checks ...Check) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return parse(data, path, dir, checks...)
}

// Check validates a part of the config this package does not own (the
// in-tree bridges' sections). Problems must carry YAML paths and lines.
type Check func(*Config) []Problem

// parse is Load without the file system: file names the source in
// problems and dir anchors relative paths. The fuzz test drives it directly.
func parse(data []byte, file, dir string, checks ...Check) (*Config, error) {
	var root yaml.Node
	if err := unmarshal(data, &root); err != nil {
		return nil, &Errors{Problems: []Problem{syntaxProblem(file, err)}}
	}
	c := Defaults()
	d := newDecoder()
	if doc := documentContent(&root); doc != nil {
		d.value(doc, reflect.ValueOf(&c).Elem(), "")
	}
	c.resolvePaths(dir)
	probs := d.probs
	for _, p := range c.validate() {
		if !covered(d.probs, p.Path) {
			p.Line = lineOf(d.lines, p.Path)
			probs = append(probs, p)
		}
	}
	for _, check := range checks {
		probs = append(probs, check(&c)...)
	}
	sortByLine(probs)
	if d.dropped > 0 {
		probs = append(probs, Problem{Msg: fmt.Sprintf("%d more problems not shown", d.dropped)})
	}
	for i := range probs {
		probs[i].File = file
	}
	if err := errorsOrNil(probs); err != nil {
		return nil, err
	}
	return &c, nil
}

// unmarshal parses YAML into a node tree. yaml.v3 has panicked on malformed
// input in past releases; a config loader must fail with an error instead.
func unmarshal(data []byte, root *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return yaml.Unmarshal(data, root)
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// syntaxProblem turns "yaml: line 3: did not find expected key" into a
// Problem whose line is 3, so syntax errors print like all the others.
func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	p.Msg = "invalid YAML: " + msg
	return p
}

// documentContent returns the top-level value, or nil for an empty file
// (which means all defaults).
func documentContent(root *yaml.Node) *yaml.Node {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		return root.Content[0]
	}
	return nil
}

// covered reports whether path already has a decoding problem at it or
// above it. A value that failed to decode still holds its default, and
// complaining about that default too would only confuse.
func covered(decoded []Problem, path string) bool {
	for _, p := range decoded {
		if path == p.Path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
			return true
		}
	}
	return false
}

// lineOf finds the line of path, or of its nearest ancestor written in the
// file: "database.args.cp_min" left at its default points at "args:".
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		path = path[:max(strings.LastIndexAny(path, ".["), 0)]
	}
	return 0
}

package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestExampleIsDefaults keeps example.yaml and Defaults() in step: loading
// the example must give the defaults, apart from the placeholder secret
// and relative paths made absolute.
func TestExampleIsDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, Example(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load(example):\n%v", err)
	}
	want := Defaults()
	want.RegistrationSharedSecret = "CHANGE_ME"
	want.SigningKeyPath = filepath.Join(dir, "signing.key")
	want.MediaStorePath = filepath.Join(dir, "media")
	want.Database.Args.Database = filepath.Join(dir, "gatehouse.db")
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Load(example) =\n%+v\nwant\n%+v", *got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate on the example: %v", err)
	}
}

// TestExampleMentionsEveryKey makes sure a field added to Config is also
// documented in example.yaml: every yaml path of Config must be present.
func TestExampleMentionsEveryKey(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal(Example(), &root); err != nil {
		t.Fatal(err)
	}
	for _, path := range keyPaths(reflect.TypeFor[Config](), "") {
		if lookupPath(root.Content[0], path) == nil {
			t.Errorf("example.yaml has no %s", path)
		}
	}
}

// keyPaths lists every yaml path in t; list elements appear as "[0]".
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		path := joinPath(prefix, yamlName(f))
		out = append(out, path)
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			out = append(out, keyPaths(ft.Elem(), path+"[0]")...)
		} else if ft.Kind() == reflect.Struct {
			out = append(out, keyPaths(ft, path)...)
		}
	}
	return out
}

func lookupPath(n *yaml.Node, path string) *yaml.Node {
	for _, part := range strings.Split(strings.ReplaceAll(path, "[0]", ".[0]"), ".") {
		if n == nil {
			return nil
		}
		if part == "[0]" {
			if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
			continue
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content) && n.Kind == yaml.MappingNode; i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

func TestExampleIsACopy(t *testing.T) {
	a := Example()
	a[0] = 'X'
	if Example()[0] == 'X' {
		t.Error("Example() returns the embedded bytes themselves; callers could corrupt them")
	}
}

func TestGenerate(t *testing.T) {
	if n := bytes.Count(Example(), []byte(placeholderLine)); n != 1 {
		t.Fatalf("example.yaml has the placeholder line %d times, want 1", n)
	}
	for _, secret := range []string{"s3cr3t", `with "quotes" and \backslash`, "colon: hash # x", "line\nbreak", "ünïcødé", ""} {
		out := Generate(secret)
		c, err := parse(out, "g.yaml", "/srv/gh")
		if err != nil {
			t.Fatalf("Generate(%q) does not load:\n%v", secret, err)
		}
		if c.RegistrationSharedSecret != secret {
			t.Errorf("Generate(%q) gave secret %q", secret, c.RegistrationSharedSecret)
		}
		rest := bytes.Replace(out, []byte("registration_shared_secret: "+strconv.Quote(secret)), []byte(placeholderLine), 1)
		if !bytes.Equal(rest, Example()) {
			t.Errorf("Generate(%q) changed more than the secret line", secret)
		}
	}
}

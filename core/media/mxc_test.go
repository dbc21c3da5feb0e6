package media

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMXC(t *testing.T) {
	good := map[string][2]string{
		"mxc://example.org/abcDEF123":            {"example.org", "abcDEF123"},
		"mxc://example.org:8448/a_b-c":           {"example.org:8448", "a_b-c"},
		"mxc://[::1]:8448/x":                     {"[::1]:8448", "x"},
		"mxc://1.2.3.4/AAAAAAAAAAAAAAAAAAAAAAAA": {"1.2.3.4", "AAAAAAAAAAAAAAAAAAAAAAAA"},
	}
	for uri, want := range good {
		s, id, err := ParseMXC(uri)
		if err != nil || s != want[0] || id != want[1] {
			t.Errorf("ParseMXC(%q) = %q, %q, %v", uri, s, id, err)
		}
		if MXC(s, id) != uri {
			t.Errorf("MXC round trip of %q = %q", uri, MXC(s, id))
		}
	}
	bad := []string{
		"", "mxc://", "mxc://example.org", "mxc://example.org/", "http://example.org/abc",
		"mxc://example.org/a/b", "mxc://example.org/..", "mxc://example.org/a.b", "mxc://exa mple.org/a",
		"mxc:///abc", "mxc://example.org:0/a", "mxc://example.org:99999/a", "mxc://[::1/a",
		"mxc://[fe80::1%eth0]/a", "mxc://example.org/" + strings.Repeat("a", 256), "MXC://example.org/a",
		"mxc://example.org/a%2Fb", "mxc://example.org:+80/a",
	}
	for _, uri := range bad {
		if s, id, err := ParseMXC(uri); err == nil {
			t.Errorf("ParseMXC(%q) = %q, %q; want an error", uri, s, id)
		}
	}
}

func TestNewMediaID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := newMediaID()
		if len(id) != 24 || !ValidMediaID(id) || strings.ContainsAny(id, "_-") {
			t.Fatalf("bad ID %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate ID %q", id)
		}
		seen[id] = true
	}
}

// FuzzParseMXC checks that whatever parses formats back to itself and
// that an accepted media ID can never escape the store directory.
func FuzzParseMXC(f *testing.F) {
	for _, s := range []string{"mxc://example.org/abc", "mxc://[::1]:80/x_y", "mxc://a/../b", "mxc://a:1/\x00"} {
		f.Add(s)
	}
	root := filepath.Join(string(filepath.Separator), "store")
	s := &Service{root: root}
	f.Fuzz(func(t *testing.T, uri string) {
		server, id, err := ParseMXC(uri)
		if err != nil {
			return
		}
		if MXC(server, id) != uri {
			t.Fatalf("%q parsed as %q %q", uri, server, id)
		}
		for _, p := range []string{s.contentPath(id), s.thumbnailPath(id, 1, 1, MethodCrop)} {
			rel, err := filepath.Rel(root, p)
			if err != nil || strings.HasPrefix(rel, "..") || filepath.Clean(p) != p {
				t.Fatalf("media ID %q maps outside the store: %q", id, p)
			}
		}
	})
}

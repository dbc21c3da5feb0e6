package registration

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{discordYAML, doublePuppetYAML, "", "id: [", "a: &a [*a]", "namespaces: {users: [{regex: '(', exclusive: true}]}",
		"id: x\nas_token: a\nhs_token: b\nsender_localpart: c\nnamespaces: &n {users: [{regex: '@a', exclusive: true}], rooms: *n}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz.yaml", data)
		if err != nil {
			var e *Errors
			if !errors.As(err, &e) || len(e.Problems) == 0 || r != nil {
				t.Fatalf("error %v is not a non-empty *Errors, or came with a registration", err)
			}
			for _, p := range e.Problems {
				if !strings.HasPrefix(p.String(), "fuzz.yaml") {
					t.Fatalf("problem %q does not name the file", p)
				}
			}
			return
		}
		if r.ID == "" || r.ASToken == "" || r.HSToken == "" || r.SenderLocalpart == "" {
			t.Fatalf("accepted a registration missing required values: %+v", r)
		}
		// What was accepted must survive a round trip unchanged.
		out, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if back.ID != r.ID || back.ASToken != r.ASToken || back.URL != r.URL || len(back.Namespaces.Users) != len(r.Namespaces.Users) {
			t.Fatalf("round trip changed %+v into %+v", r, back)
		}
	})
}

// FuzzNamespace checks matching never panics and that Overlap never misses
// a real overlap: a string both regexes match proves one.
func FuzzNamespace(f *testing.F) {
	f.Add(`@discord_.*`, `@discord_1.*:x$`, "@discord_1:x")
	f.Add(`(?i)@A[b-d]+$`, `@a.c`, "@abc")
	f.Add(`@x$|@y`, `@.{2,3}`, "@yy")
	f.Add(`^$`, `(?m)$`, "")
	f.Add(`\b@x`, `.?@x\B`, "@x")
	f.Fuzz(func(t *testing.T, a, b, s string) {
		na, errA := NewNamespace(a, true)
		nb, errB := NewNamespace(b, true)
		if errA != nil || errB != nil {
			return
		}
		hit, err := Overlap(a, b)
		if errors.Is(err, ErrTooComplex) {
			return
		}
		if err != nil {
			t.Fatalf("Overlap(%q, %q): %v after both compiled", a, b, err)
		}
		if na.Matches(s) && nb.Matches(s) && !hit {
			t.Fatalf("Overlap(%q, %q) = false, but both match %q", a, b, s)
		}
	})
}

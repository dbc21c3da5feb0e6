package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// problemsOf parses src as a config file named "g.yaml" in /srv/gh and
// returns each problem as "line: path: msg" (line 0 when unknown). It
// fails the test if parse returns an error that is not *Errors.
func problemsOf(t *testing.T, src string) []string {
	t.Helper()
	_, err := parse([]byte(src), "g.yaml", "/srv/gh")
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("parse returned %T, want *Errors: %v", err, err)
	}
	var out []string
	for _, p := range errs.Problems {
		if p.File != "g.yaml" {
			t.Errorf("problem %q has File %q, want g.yaml", p, p.File)
		}
		out = append(out, fmt.Sprintf("%d: %s: %s", p.Line, p.Path, p.Msg))
	}
	return out
}

// mustParse parses src, failing the test on any problem.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := parse([]byte(src), "g.yaml", "/srv/gh")
	if err != nil {
		t.Fatalf("parse(%q):\n%v", src, err)
	}
	return c
}

// wantProblems checks that got has exactly len(want) entries and that each
// want is a prefix of the entry at the same index.
func wantProblems(t *testing.T, got []string, want ...string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("problems:\n  %s\nwant (prefixes):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

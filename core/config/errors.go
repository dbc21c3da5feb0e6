package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a configuration: where it is and what is
// wrong with it.
type Problem struct {
	// File is the config file as named to Load; empty when Validate ran on
	// a Config built in code.
	File string
	// Line is 1-based, or 0 when the value was not written in the file
	// (a default) or no position is known.
	Line int
	// Path is the YAML path of the key, e.g. "listeners[0].port".
	Path string
	// Msg says what is wrong, and where it helps, what is accepted.
	Msg string
}

// String formats p like a compiler diagnostic, "file:line: path: msg", so
// editors and terminals can jump to it.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in one configuration. Load and Validate
// return it (as an error) instead of stopping at the first problem, so an
// admin fixes a config in one round rather than one restart per mistake.
type Errors struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// errorsOrNil returns nil when there are no problems, so callers never see
// a non-nil error interface holding an empty list.
func errorsOrNil(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	return &Errors{Problems: ps}
}

// sortByLine orders problems as they appear in the file. Problems with no
// line (defaults that fail validation) keep their order and go last.
func sortByLine(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Line, ps[j].Line
		return a != 0 && (b == 0 || a < b)
	})
}

// problems collects Problems at YAML paths; the decoder and the validator
// both add to one.
type problems struct {
	list []Problem
}

func (p *problems) add(path, format string, args ...any) {
	p.list = append(p.list, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

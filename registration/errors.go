package registration

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a registration file.
type Problem struct {
	// File is the registration's path (or "registration <id>" for one
	// built in code).
	File string
	// Line is 1-based, or 0 when unknown.
	Line int
	// Key is the YAML path, e.g. "namespaces.users[0].regex"; empty for
	// problems with the whole file.
	Key    string
	Reason string
}

// String formats p like a compiler diagnostic: "file:line: key: reason".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Reason)
	return b.String()
}

// Errors is every problem found; Load and Validate report them all at once
// so an admin fixes a file in one round.
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

// problems collects Problems for one file.
type problems struct {
	file string
	list []Problem
}

func (ps *problems) add(line int, key, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Key: key, Reason: fmt.Sprintf(format, args...)})
}

func errorsOrNil(list []Problem) error {
	if len(list) == 0 {
		return nil
	}
	return &Errors{Problems: list}
}

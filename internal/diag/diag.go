// Package diag is the shape of a configuration problem report shared by
// gatehouse.yaml (core/config) and appservice registration files
// (registration): every problem at once, each as "file:line: path: msg".
package diag

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a file: where it is and what is wrong.
type Problem struct {
	// File is the file as named to the loader; empty for values built in code.
	File string
	// Line is 1-based, or 0 when no position is known (a default value).
	Line int
	// Path is the YAML path of the key, e.g. "listeners[0].port"; empty for
	// problems with the whole file.
	Path string
	// Msg says what is wrong and, where it helps, what is accepted.
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

// Errors is every problem found, returned as one error so an admin fixes a
// file in one round rather than one restart per mistake.
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

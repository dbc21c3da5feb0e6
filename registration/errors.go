package registration

import (
	"fmt"
	"github.com/gatehouse-chat/gatehouse/internal/diag"
)

// Problem is one thing wrong with a registration file (see diag.Problem);
// File is the registration's path, or "registration <id>" for one built in code.
type Problem = diag.Problem

// Errors is every problem found; Load and Validate report them all at once
// so an admin fixes a file in one round.
type Errors = diag.Errors

// problems collects Problems for one file.
type problems struct {
	file string
	list []Problem
}

func (ps *problems) add(line int, key, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Path: key, Msg: fmt.Sprintf(format, args...)})
}

func errorsOrNil(list []Problem) error {
	if len(list) == 0 {
		return nil
	}
	return &Errors{Problems: list}
}

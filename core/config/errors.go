package config

import (
	"fmt"
	"github.com/gatehouse-chat/gatehouse/internal/diag"
	"sort"
)

// Problem is one thing wrong with a configuration (see diag.Problem).
type Problem = diag.Problem

// Errors is every problem found in one configuration. Load and Validate
// return it instead of stopping at the first problem.
type Errors = diag.Errors

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

package registration

import (
	"errors"
	"regexp/syntax"
	"slices"
	"unicode"
)

// maxOverlapWork bounds the search (states visited plus rune-set
// comparisons). Past it Overlap returns ErrTooComplex: a registration
// whose regexes are that complex is better rejected with a clear reason
// than accepted unchecked. Real namespaces need a few hundred steps.
const maxOverlapWork = 2_000_000

// ErrTooComplex is returned by Overlap for regexes too large to compare.
var ErrTooComplex = errors.New("namespace regexes are too complex to check for overlap; simplify them")

// Overlap reports whether some string is matched by both namespace regexes
// (with the registration semantics of Compile: anchored at the start
// only). It explores the product of the two compiled automata, so the
// answer is exact for ordinary regexes; for the rare zero-width
// assertions other than ^ and $ (word boundaries, multi-line anchors) it
// assumes they can hold, so it may report an overlap that cannot happen
// but never misses one.
func Overlap(a, b string) (bool, error) {
	pa, err := compileProg(a)
	if err != nil {
		return false, err
	}
	pb, err := compileProg(b)
	if err != nil {
		return false, err
	}
	return newProduct(pa, pb).search()
}

func compileProg(re string) (*syntax.Prog, error) {
	t, err := syntax.Parse(`^(?:`+re+`)`, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return syntax.Compile(t.Simplify())
}

// side is one automaton's position: an instruction, or done (it has
// matched a prefix, so every continuation matches too).
type side struct {
	pc   uint32
	done bool
}

type pair struct {
	a, b    side
	atStart bool
}

// reach is what one position reaches through zero-width steps.
type reach struct {
	runes   []uint32 // rune-consuming instructions
	anyCont bool     // Match reached without $: any continuation matches
	atEnd   bool     // Match reached, possibly through $: matches if the input ends here
}

type product struct {
	pa, pb *syntax.Prog
	ranges map[*syntax.Inst][]rune
	steps  map[closureKey][]step
	ends   map[closureKey]bool
	work   int
}

type closureKey struct {
	prog    *syntax.Prog
	s       side
	atStart bool
}

func newProduct(pa, pb *syntax.Prog) *product {
	return &product{pa: pa, pb: pb, ranges: map[*syntax.Inst][]rune{},
		steps: map[closureKey][]step{}, ends: map[closureKey]bool{}}
}

func (p *product) search() (bool, error) {
	start := pair{a: side{pc: uint32(p.pa.Start)}, b: side{pc: uint32(p.pb.Start)}, atStart: true}
	seen := map[pair]bool{start: true}
	queue := []pair{start}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		sa, endA := p.moves(p.pa, cur.a, cur.atStart)
		sb, endB := p.moves(p.pb, cur.b, cur.atStart)
		if endA && endB {
			return true, nil
		}
		for _, na := range sa {
			for _, nb := range sb {
				if p.work++; p.work > maxOverlapWork {
					return false, ErrTooComplex
				}
				if !p.intersect(na.inst, nb.inst) {
					continue
				}
				next := pair{a: na.to, b: nb.to}
				if !seen[next] {
					seen[next] = true
					queue = append(queue, next)
				}
			}
		}
	}
	return false, nil
}

// moves returns the rune-consuming steps from s and whether the input may
// end here with a match, cached per position.
func (p *product) moves(prog *syntax.Prog, s side, atStart bool) ([]step, bool) {
	k := closureKey{prog, s, atStart}
	if st, ok := p.steps[k]; ok {
		return st, p.ends[k]
	}
	r := p.closure(prog, s, atStart)
	st := p.stepsOf(prog, r)
	p.steps[k], p.ends[k] = st, r.anyCont || r.atEnd
	return st, r.anyCont || r.atEnd
}

// step is one rune-consuming move: inst (nil for "any rune") leads to to.
type step struct {
	inst *syntax.Inst
	to   side
}

func (p *product) stepsOf(prog *syntax.Prog, r reach) []step {
	if r.anyCont {
		return []step{{inst: nil, to: side{done: true}}}
	}
	out := make([]step, 0, len(r.runes))
	for _, pc := range r.runes {
		in := &prog.Inst[pc]
		out = append(out, step{inst: in, to: side{pc: in.Out}})
	}
	return out
}

// closure follows zero-width instructions from s.
func (p *product) closure(prog *syntax.Prog, s side, atStart bool) reach {
	if s.done {
		return reach{anyCont: true, atEnd: true}
	}
	var r reach
	type node struct {
		pc    uint32
		ended bool
	}
	seen := map[node]bool{}
	stack := []node{{pc: s.pc}}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p.work++
		if seen[n] {
			continue
		}
		seen[n] = true
		in := &prog.Inst[n.pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, node{in.Out, n.ended}, node{in.Arg, n.ended})
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, node{in.Out, n.ended})
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&syntax.EmptyBeginText != 0 && !atStart {
				continue
			}
			stack = append(stack, node{in.Out, n.ended || op&syntax.EmptyEndText != 0})
		case syntax.InstMatch:
			r.atEnd = true
			if !n.ended {
				r.anyCont = true
			}
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			if !n.ended {
				r.runes = append(r.runes, n.pc)
			}
		}
	}
	return r
}

// intersect reports whether some rune is accepted by both instructions
// (nil accepts every rune).
func (p *product) intersect(a, b *syntax.Inst) bool {
	ra, rb := p.rangesOf(a), p.rangesOf(b)
	i, j := 0, 0
	for i < len(ra) && j < len(rb) {
		lo, hi := max(ra[i], rb[j]), min(ra[i+1], rb[j+1])
		if lo <= hi {
			return true
		}
		if ra[i+1] < rb[j+1] {
			i += 2
		} else {
			j += 2
		}
	}
	return false
}

var allRunes = []rune{0, unicode.MaxRune}

// rangesOf returns the sorted, merged [lo, hi] pairs an instruction
// accepts, with case folding expanded.
func (p *product) rangesOf(in *syntax.Inst) []rune {
	if in == nil {
		return allRunes
	}
	if r, ok := p.ranges[in]; ok {
		return r
	}
	var raw []rune
	fold := false
	switch in.Op {
	case syntax.InstRuneAny:
		raw = allRunes
	case syntax.InstRuneAnyNotNL:
		raw = []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
	case syntax.InstRune1:
		raw = []rune{in.Rune[0], in.Rune[0]}
		fold = syntax.Flags(in.Arg)&syntax.FoldCase != 0
	default:
		raw = in.Rune
		if len(raw) == 1 {
			raw = []rune{raw[0], raw[0]}
		}
		fold = syntax.Flags(in.Arg)&syntax.FoldCase != 0
	}
	if fold {
		raw = foldRanges(raw)
	}
	out := mergeRanges(raw)
	p.ranges[in] = out
	return out
}

// foldRanges adds the case-fold orbits of every rune; ranges too wide to
// expand are widened to everything, which can only add overlaps.
func foldRanges(rs []rune) []rune {
	out := append([]rune(nil), rs...)
	for i := 0; i+1 < len(rs); i += 2 {
		if rs[i+1]-rs[i] > 4096 {
			return allRunes
		}
		for c := rs[i]; c <= rs[i+1]; c++ {
			for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
				out = append(out, f, f)
			}
		}
	}
	return out
}

func mergeRanges(rs []rune) []rune {
	type span struct{ lo, hi rune }
	spans := make([]span, 0, len(rs)/2)
	for i := 0; i+1 < len(rs); i += 2 {
		spans = append(spans, span{rs[i], rs[i+1]})
	}
	slices.SortFunc(spans, func(x, y span) int { return int(x.lo) - int(y.lo) })
	out := make([]rune, 0, len(rs))
	for _, s := range spans {
		if n := len(out); n > 0 && s.lo <= out[n-1]+1 {
			out[n-1] = max(out[n-1], s.hi)
			continue
		}
		out = append(out, s.lo, s.hi)
	}
	return out
}

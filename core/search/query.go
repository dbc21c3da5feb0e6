package search

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A search term is parsed here, not by the database, so both databases
// get the same query and user input never reaches either query language
// unescaped: a word is a run of letters, digits and combining marks (what
// FTS5's unicode61 tokenizer and the PostgreSQL index, after punctuation
// becomes spaces, both call a word), lower-cased. The syntax is a small
// web-search one, as Synapse accepts:
//
//	martians men      both words (each also as a prefix: "mart" finds "martians")
//	"martians and"    the words next to each other, exactly
//	foo-bar           the same as "foo bar" (punctuation inside a chunk joins its words)
//	cats OR dogs      either
//	-dogs             not
//
// A term with nothing but negations matches nothing.

// Limits on one term; what lies past them is ignored.
const (
	maxPhrases       = 16
	maxWordsInPhrase = 16
	maxWordBytes     = 100
)

// phrase is one or more words that must appear next to each other. A
// phrase from a bare chunk matches its last word as a prefix; a quoted one
// matches exactly.
type phrase struct {
	words  []string
	prefix bool
}

// query is a parsed search term: every group must match (a group matches
// when any of its phrases does) and no phrase of not may.
type query struct {
	groups [][]phrase
	not    []phrase
}

// empty reports whether q can match nothing.
func (q *query) empty() bool { return len(q.groups) == 0 }

// parseQuery parses a search term. It never fails: text that is not
// syntax is searched for.
func parseQuery(term string) *query {
	q := &query{}
	count := 0
	orNext := false
	rest := term
	for rest != "" && count < maxPhrases {
		r, size := utf8.DecodeRuneInString(rest)
		if unicode.IsSpace(r) {
			rest = rest[size:]
			continue
		}
		negate := false
		if r == '-' && len(rest) > 1 {
			negate = true
			rest = rest[1:]
			r, _ = utf8.DecodeRuneInString(rest)
		}
		var chunk string
		quoted := r == '"'
		if quoted {
			rest = rest[1:]
			end := strings.IndexByte(rest, '"')
			if end < 0 {
				end = len(rest)
			}
			chunk = rest[:end]
			rest = rest[min(end+1, len(rest)):]
		} else {
			end := strings.IndexFunc(rest, func(r rune) bool { return unicode.IsSpace(r) || r == '"' })
			if end < 0 {
				end = len(rest)
			}
			chunk, rest = rest[:end], rest[end:]
		}
		if !quoted && !negate && chunk == "OR" {
			orNext = len(q.groups) > 0
			continue
		}
		words := splitWords(chunk, maxWordsInPhrase)
		if len(words) == 0 {
			continue
		}
		p := phrase{words: words, prefix: !quoted}
		count++
		switch {
		case negate:
			q.not = append(q.not, p)
		case orNext:
			last := len(q.groups) - 1
			q.groups[last] = append(q.groups[last], p)
		default:
			q.groups = append(q.groups, []phrase{p})
		}
		orNext = false
	}
	return q
}

// isWordRune reports whether r belongs to a word.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r)
}

// splitWords returns up to max lower-cased words of s. A run of combining
// marks alone is no word.
func splitWords(s string, max int) []string {
	var out []string
	for s != "" && len(out) < max {
		start := strings.IndexFunc(s, isWordRune)
		if start < 0 {
			break
		}
		s = s[start:]
		end := strings.IndexFunc(s, func(r rune) bool { return !isWordRune(r) })
		if end < 0 {
			end = len(s)
		}
		w := s[:end]
		s = s[end:]
		if strings.IndexFunc(w, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) < 0 {
			continue
		}
		w = strings.ToLower(w)
		if len(w) > maxWordBytes {
			w = truncateUTF8(w, maxWordBytes)
		}
		out = append(out, w)
	}
	return out
}

func truncateUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// fts5 renders q as an FTS5 MATCH expression. Words hold no quote, so
// quoting each phrase is enough.
func (q *query) fts5() string {
	render := func(p phrase) string {
		s := `"` + strings.Join(p.words, " ") + `"`
		if p.prefix {
			s += "*"
		}
		return s
	}
	expr := andOf(q.groups, render, " OR ", " AND ")
	for _, p := range q.not {
		expr = "(" + expr + ") NOT " + render(p)
	}
	return expr
}

// tsquery renders q as to_tsquery text. Words hold no quote or operator,
// so quoting each lexeme is enough.
func (q *query) tsquery() string {
	render := func(p phrase) string {
		parts := make([]string, len(p.words))
		for i, w := range p.words {
			parts[i] = "'" + w + "'"
			if p.prefix && i == len(p.words)-1 {
				parts[i] += ":*"
			}
		}
		return "(" + strings.Join(parts, " <-> ") + ")"
	}
	expr := andOf(q.groups, render, " | ", " & ")
	for _, p := range q.not {
		expr += " & !" + render(p)
	}
	return expr
}

func andOf(groups [][]phrase, render func(phrase) string, or, and string) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		alts := make([]string, len(g))
		for j, p := range g {
			alts[j] = render(p)
		}
		parts[i] = "(" + strings.Join(alts, or) + ")"
	}
	return strings.Join(parts, and)
}

// fold lower-cases w and strips its diacritics, as FTS5's unicode61
// tokenizer does, for matching highlights in Go.
func fold(w string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(w)) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// highlighter finds the words of texts that the query's positive words
// match, for the response's "highlights".
type highlighter struct {
	exact, prefix []string // folded query words
	found         map[string]bool
}

func newHighlighter(q *query) *highlighter {
	h := &highlighter{found: map[string]bool{}}
	for _, g := range q.groups {
		for _, p := range g {
			for i, w := range p.words {
				if p.prefix && i == len(p.words)-1 {
					h.prefix = append(h.prefix, fold(w))
				} else {
					h.exact = append(h.exact, fold(w))
				}
				h.found[w] = true
			}
		}
	}
	return h
}

// add records the words of text that match.
func (h *highlighter) add(text string) {
	for _, w := range splitWordsCased(text) {
		f := fold(w)
		for _, e := range h.exact {
			if f == e {
				h.found[w] = true
			}
		}
		for _, p := range h.prefix {
			if strings.HasPrefix(f, p) {
				h.found[w] = true
			}
		}
	}
}

// words returns the highlights, sorted.
func (h *highlighter) words() []string {
	out := make([]string, 0, len(h.found))
	for w := range h.found {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

// splitWordsCased is splitWords keeping the text's case, without limits
// beyond a generous cap on words.
func splitWordsCased(s string) []string {
	var out []string
	for s != "" && len(out) < 4096 {
		start := strings.IndexFunc(s, isWordRune)
		if start < 0 {
			break
		}
		s = s[start:]
		end := strings.IndexFunc(s, func(r rune) bool { return !isWordRune(r) })
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

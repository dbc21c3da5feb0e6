package search

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestParseQuery(t *testing.T) {
	for _, c := range []struct {
		term, fts5, tsquery string
	}{
		{"Martians", `("martians"*)`, `(('martians':*))`},
		{"martians and men", `("martians"*) AND ("and"*) AND ("men"*)`, `(('martians':*)) & (('and':*)) & (('men':*))`},
		{`"martians and"`, `("martians and")`, `(('martians' <-> 'and'))`},
		{"example.com", `("example com"*)`, `(('example' <-> 'com':*))`},
		{"cats OR dogs birds", `("cats"* OR "dogs"*) AND ("birds"*)`, `(('cats':*) | ('dogs':*)) & (('birds':*))`},
		{"cats -dogs", `(("cats"*)) NOT "dogs"*`, `(('cats':*)) & !('dogs':*)`},
		{`Ünïcode "ÀB" 'quote'`, `("ünïcode"*) AND ("àb") AND ("quote"*)`, `(('ünïcode':*)) & (('àb')) & (('quote':*))`},
		{`"unclosed phrase`, `("unclosed phrase")`, `(('unclosed' <-> 'phrase'))`},
	} {
		q := parseQuery(c.term)
		if got := q.fts5(); got != c.fts5 {
			t.Errorf("%q: fts5 %s, want %s", c.term, got, c.fts5)
		}
		if got := q.tsquery(); got != c.tsquery {
			t.Errorf("%q: tsquery %s, want %s", c.term, got, c.tsquery)
		}
	}
	for _, term := range []string{"", "   ", "-dogs", `"`, "OR", "- -", "!!! ???", "\u0301"} {
		if q := parseQuery(term); !q.empty() {
			t.Errorf("%q: want an empty query, got %s", term, q.fts5())
		}
	}
}

func TestHighlights(t *testing.T) {
	h := newHighlighter(parseQuery(`mart "the end" -dogs`))
	h.add("The Martians came at the END, Martian-style; dogs mart")
	// The query's own words, and the text's words they match (prefix for
	// bare words, whole words in quotes), never the negated ones.
	if got := strings.Join(h.words(), ","); got != "END,Martian,Martians,The,end,mart,the" {
		t.Fatalf("highlights %s", got)
	}
}

// TestQueriesRunOnBothDatabases runs tricky terms against the real index:
// whatever the user types, neither database sees a syntax error.
func TestQueriesRunOnBothDatabases(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		for _, term := range fuzzSeeds {
			q := parseQuery(term)
			if q.empty() {
				continue
			}
			if err := runMatch(ctx, db, q); err != nil {
				t.Errorf("%q: %v", term, err)
			}
		}
	})
}

var fuzzSeeds = []string{
	"martians", `"a b" OR c -d`, `NEAR(a b)`, `a:* & b`, `'); DROP TABLE events; --`, `"`, `\`, `*`, `^a`,
	"AND OR NOT", `a OR OR b`, `-"x y"`, "é\u0301", "日本語 テキスト", "١٢٣ abc123", "x\x00y", "\xff\xfe",
	strings.Repeat("word ", 50), strings.Repeat("a-", 40), `"` + strings.Repeat("ab", 200) + `"`,
}

func runMatch(ctx context.Context, db *storage.DB, q *query) error {
	if db.Dialect == storage.Postgres {
		var n int
		return db.QueryRow(ctx, `SELECT COUNT(*) FROM event_search WHERE vector @@ to_tsquery('simple', $1)`, q.tsquery()).Scan(&n)
	}
	var n int
	return db.QueryRow(ctx, `SELECT COUNT(*) FROM event_search WHERE event_search MATCH $1`, q.fts5()).Scan(&n)
}

// FuzzParseQuery checks that any search term parses into words FTS5
// accepts (PostgreSQL is covered by TestQueriesRunOnBothDatabases).
func FuzzParseQuery(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	db := storagetest.NewSQLite(f)
	f.Fuzz(func(t *testing.T, term string) {
		q := parseQuery(term)
		n := len(q.not)
		for _, g := range q.groups {
			n += len(g)
			if len(g) == 0 {
				t.Fatal("empty group")
			}
			for _, p := range g {
				checkPhrase(t, p)
			}
		}
		for _, p := range q.not {
			checkPhrase(t, p)
		}
		if n > maxPhrases {
			t.Fatalf("%d phrases", n)
		}
		if !q.empty() {
			if err := runMatch(context.Background(), db, q); err != nil {
				t.Fatalf("%q -> %s: %v", term, q.fts5(), err)
			}
		}
	})
}

func checkPhrase(t *testing.T, p phrase) {
	t.Helper()
	if len(p.words) == 0 || len(p.words) > maxWordsInPhrase {
		t.Fatalf("phrase of %d words", len(p.words))
	}
	for _, w := range p.words {
		if w == "" || len(w) > maxWordBytes || !utf8.ValidString(w) || strings.IndexFunc(w, func(r rune) bool { return !isWordRune(r) }) >= 0 {
			t.Fatalf("bad word %q", w)
		}
	}
}

// FuzzToken checks that next_batch parsing accepts only what String
// makes, with a 400 M_INVALID_PARAM for the rest, and never panics.
func FuzzToken(f *testing.F) {
	good := &token{order: orderRank, upto: 12, after: cursor{rank: 345, pos: 11}, group: groupRoom, key: "!a|b:x"}
	for _, s := range []string{good.String(), (&token{order: orderRecent, upto: 1}).String(), "", "x", "MXxyfDF8MnwzfHw", "MXx0fC0xfDJ8M3x8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parseToken(s)
		if err != nil {
			var me *httpx.Error
			if !errors.As(err, &me) || me.Status != 400 || me.ErrCode != "M_INVALID_PARAM" {
				t.Fatalf("error %v is not M_INVALID_PARAM", err)
			}
			return
		}
		again, err := parseToken(tok.String())
		if err != nil || *again != *tok {
			t.Fatalf("round trip of %q: %+v, %+v, %v", s, tok, again, err)
		}
		if tok.upto < 0 || tok.after.rank < 0 || tok.after.pos < 0 {
			t.Fatalf("negative fields in %+v", tok)
		}
	})
}

func TestTokenRoundTrip(t *testing.T) {
	for _, tok := range []*token{
		{order: orderRank, upto: 12, after: start},
		{order: orderRecent, upto: 0, after: cursor{pos: 5}, group: groupSender, key: "@u:x"},
		{order: orderRank, upto: 7, after: cursor{rank: 1, pos: 2}, group: groupRoom, key: "!r|odd:x"},
	} {
		got, err := parseToken(tok.String())
		if err != nil || *got != *tok {
			t.Fatalf("%+v -> %+v, %v", tok, got, err)
		}
	}
}

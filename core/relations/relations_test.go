package relations

import (
	"strconv"
	"testing"
)

func FuzzParsePos(f *testing.F) {
	for _, s := range []string{"", "0", "42", "-1", "s12", "9223372036854775808", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pos, set, err := parsePos("from", s)
		switch {
		case err != nil:
			if set {
				t.Fatal("error with set")
			}
		case s == "":
			if set {
				t.Fatal("empty token is set")
			}
		case pos < 0 || formatPos(pos) != strconv.FormatInt(pos, 10):
			t.Fatalf("parsed %q as %d", s, pos)
		}
	})
}

func FuzzValidateEventID(f *testing.F) {
	for _, s := range []string{"$abc", "$", "abc", "$a b", "$" + string(make([]byte, 300))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateEventID(s) == nil && (len(s) < 2 || s[0] != '$' || len(s) > 255) {
			t.Fatalf("accepted %q", s)
		}
	})
}

func TestCheckLimit(t *testing.T) {
	for _, c := range []struct {
		in   int64
		want int
		ok   bool
	}{{0, DefaultLimit, true}, {1, 1, true}, {5000, MaxLimit, true}, {-1, 0, false}} {
		got, err := checkLimit(c.in, DefaultLimit)
		if (err == nil) != c.ok || got != c.want {
			t.Fatalf("checkLimit(%d) = %d, %v", c.in, got, err)
		}
	}
}

package directory

import (
	"slices"
	"testing"

	"maunium.net/go/mautrix/id"
)

// TestCompareChildren runs the spec's example of space child ordering
// ("Ordering of children within a space"), plus the tie-breaks.
func TestCompareChildren(t *testing.T) {
	child := func(room string, ts int64, order string, hasOrder bool) spaceChild {
		return spaceChild{room: id.RoomID(room), ts: ts, order: order, hasOrder: hasOrder}
	}
	children := []spaceChild{
		child("!b:example.org", 1640341000000, " ", true),
		child("!a:example.org", 1640141000000, "aaaa", true),
		child("!c:example.org", 1640841000000, "first", true),
		child("!e:example.org", 1640641000000, "", false),
		child("!d:example.org", 1640741000000, "", false),
		child("!g:example.org", 1640741000000, "", false),     // same time as !d: by room ID
		child("!f:example.org", 1640000000000, "first", true), // same order as !c: by time
		child("!h:example.org", 1, "", true),                  // an empty order is still an order
	}
	slices.SortFunc(children, compareChildren)
	var got []string
	for _, c := range children {
		got = append(got, string(c.room))
	}
	want := []string{"!h:example.org", "!b:example.org", "!a:example.org", "!f:example.org", "!c:example.org",
		"!e:example.org", "!d:example.org", "!g:example.org"}
	if !slices.Equal(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
}

func TestValidChildOrder(t *testing.T) {
	for order, want := range map[string]bool{
		"": true, " ": true, "~": true, "aaaa": true, string(make([]byte, 51)): false,
		"01234567890123456789012345678901234567890123456789": true, "tab\t": false, "é": false, "\x7f": false,
	} {
		if got := validChildOrder(order); got != want {
			t.Errorf("validChildOrder(%q) = %v, want %v", order, got, want)
		}
	}
}

func TestHierarchyTokenRoundTrip(t *testing.T) {
	tok := hierarchyToken{root: "!space:example.org", suggested: true, maxDepth: 3, skip: 7}
	got, err := parseHierarchyToken(tok.String())
	if err != nil || got != tok {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range []string{"", "!!!", "MTox", tok.String() + "x"} {
		if _, err := parseHierarchyToken(bad); err == nil {
			t.Errorf("parseHierarchyToken(%q) accepted", bad)
		}
	}
}

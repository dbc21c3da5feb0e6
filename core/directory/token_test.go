package directory

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestPageTokenRoundTrip(t *testing.T) {
	for _, tok := range []pageToken{
		{members: 0, roomID: "!a:x", forward: true},
		{members: 12345, roomID: "!weird:room:with:colons", forward: false},
	} {
		got, err := parsePageToken(tok.String())
		if err != nil || got != tok {
			t.Fatalf("round trip of %+v: %+v %v", tok, got, err)
		}
	}
	for _, bad := range []string{"", "!!!", "Zjox", b64("x:1:!a:b"), b64("f:-1:!a:b"), b64("f:1:nope"), b64("f:one:!a:b"), b64("f:1")} {
		if _, err := parsePageToken(bad); err == nil {
			t.Fatalf("token %q accepted", bad)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestPaginate(t *testing.T) {
	var sorted []*PublicRoom
	for i := 0; i < 5; i++ {
		sorted = append(sorted, &PublicRoom{RoomID: id.RoomID(fmt.Sprintf("!r%d:x", i)), NumJoinedMembers: 10 - i})
	}
	ids := func(p *PublicRoomsPage) string {
		var out []string
		for _, r := range p.Chunk {
			out = append(out, string(r.RoomID))
		}
		return strings.Join(out, ",")
	}
	page := func(since string, limit int) *PublicRoomsPage {
		t.Helper()
		var tok *pageToken
		if since != "" {
			pt, err := parsePageToken(since)
			if err != nil {
				t.Fatal(err)
			}
			tok = &pt
		}
		p := &PublicRoomsPage{}
		paginate(p, sorted, tok, limit)
		return p
	}
	p1 := page("", 2)
	if ids(p1) != "!r0:x,!r1:x" || p1.PrevBatch != "" || p1.NextBatch == "" {
		t.Fatalf("page 1: %s %+v", ids(p1), p1)
	}
	p2 := page(p1.NextBatch, 2)
	if ids(p2) != "!r2:x,!r3:x" || p2.PrevBatch == "" || p2.NextBatch == "" {
		t.Fatalf("page 2: %s %+v", ids(p2), p2)
	}
	p3 := page(p2.NextBatch, 2)
	if ids(p3) != "!r4:x" || p3.NextBatch != "" {
		t.Fatalf("page 3: %s %+v", ids(p3), p3)
	}
	back := page(p3.PrevBatch, 2)
	if ids(back) != "!r2:x,!r3:x" || back.PrevBatch == "" || back.NextBatch == "" {
		t.Fatalf("back from page 3: %s %+v", ids(back), back)
	}
	first := page(back.PrevBatch, 2)
	if ids(first) != "!r0:x,!r1:x" || first.PrevBatch != "" {
		t.Fatalf("back to the start: %s %+v", ids(first), first)
	}
	// A token past the end gives an empty page without tokens.
	end := page(pageToken{members: 0, roomID: "!a:x", forward: true}.String(), 2)
	if len(end.Chunk) != 0 || end.NextBatch != "" || end.PrevBatch != "" {
		t.Fatalf("past the end: %+v", end)
	}
}

func FuzzPageToken(f *testing.F) {
	f.Add(pageToken{members: 3, roomID: "!a:b", forward: true}.String())
	f.Add("")
	f.Add("Zjoz")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parsePageToken(s)
		if err != nil {
			return
		}
		again, err := parsePageToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("re-parse of %q: %+v %v", s, again, err)
		}
	})
}

func FuzzValidateAlias(f *testing.F) {
	for _, s := range []string{"#a:b.c", "#a:b:8448", "#:x", "a:b", "#a b:c", "#a:[::1]:80", "#\x00:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateAlias(s) != nil {
			return
		}
		if !strings.HasPrefix(s, "#") || len(s) > MaxIDLength || aliasServer(id.RoomAlias(s)) == "" {
			t.Fatalf("accepted bad alias %q", s)
		}
	})
}

func FuzzValidateRoomID(f *testing.F) {
	for _, s := range []string{"!a:b", "!", "a", "!a b:c", "!a/b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateRoomID(s) == nil && (!strings.HasPrefix(s, "!") || len(s) > MaxIDLength || strings.ContainsAny(s, " /\n")) {
			t.Fatalf("accepted bad room ID %q", s)
		}
	})
}

package todevice_test

import (
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

// FuzzParseCursor feeds arbitrary next_batch tokens of the dehydrated
// device events endpoint: a cursor that renders back to the same token, or
// M_INVALID_PARAM.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "d0_0", "d12_-1", "d9223372036854775807_3", "d1", "x", "d_", "d1_2_3", "d-1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := todevice.ParseCursor(tok)
		if err != nil {
			if errcode(err) != "M_INVALID_PARAM" {
				t.Fatalf("ParseCursor(%q): %v", tok, err)
			}
			return
		}
		if c.Pos < 0 {
			t.Fatalf("ParseCursor(%q) = %+v", tok, c)
		}
		if tok != "" {
			if again, err := todevice.ParseCursor(c.String()); err != nil || again != c {
				t.Fatalf("round trip of %q: %+v %v", tok, again, err)
			}
		}
	})
}

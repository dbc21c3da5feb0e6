package keys

import (
	"encoding/json"
	"unicode/utf8"
)

// Responses that list many stored keys are written by hand into one buffer:
// stored JSON is spliced in, only the envelope is generated.

// appendString appends s as a JSON string; IDs take the fast path.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s)
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendWithUnsigned appends the stored object obj (which has no
// "unsigned") with "unsigned":{"device_display_name":name} added, or as is
// when name is empty.
func appendWithUnsigned(b []byte, obj string, name string) []byte {
	if name == "" || len(obj) < 2 || obj[len(obj)-1] != '}' {
		return append(b, obj...)
	}
	b = append(b, obj[:len(obj)-1]...)
	if len(obj) > 2 {
		b = append(b, ',')
	}
	b = append(b, `"unsigned":{"device_display_name":`...)
	b = appendString(b, name)
	return append(b, "}}"...)
}

package sync

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The /sync response is written by hand into one buffer: events are
// spliced in as stored bytes, and only the small envelope is generated.

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

// appendString appends s as a JSON string. Plain ASCII (IDs, tokens) takes
// the fast path; anything else goes through encoding/json.
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

func appendKey(b []byte, k string) []byte {
	b = appendString(b, k)
	return append(b, ':')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendRawList appends a JSON array of already-encoded values.
func appendRawList(b []byte, items []json.RawMessage) []byte {
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

// appendEventsObj appends {"events":[...]} of already-encoded events.
func appendEventsObj(b []byte, items []json.RawMessage) []byte {
	b = append(b, `{"events":`...)
	b = appendRawList(b, items)
	return append(b, '}')
}

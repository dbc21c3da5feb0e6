package sync

import (
	"strconv"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// Tokens are stream positions written "s<position>". A position P stands
// between the change at P and the one after it, so the same token works as
// a /sync since (changes after P), a /messages from (events up to P going
// backwards, after P going forwards) and a prev_batch.

// FormatToken renders a position as a token.
func FormatToken(pos int64) string { return "s" + strconv.FormatInt(pos, 10) }

// ParseToken parses a token; the leading "s" is optional so hand-written
// positions work too. Anything else is M_INVALID_PARAM.
func ParseToken(tok string) (int64, error) {
	s := tok
	if len(s) > 0 && s[0] == 's' {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 19 {
		return 0, httpx.InvalidParam("Invalid stream token %q", truncate(tok))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, httpx.InvalidParam("Invalid stream token %q", truncate(tok))
		}
	}
	pos, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, httpx.InvalidParam("Invalid stream token %q", truncate(tok))
	}
	return pos, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

package search

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// A next_batch token says where the next page starts, so pages never
// repeat or skip a result without the server keeping any state:
//
//   - order: 'r' (rank) or 't' (recent); a token is only good for the
//     order it was made for.
//   - upto: the stream position of the first page. Later pages search the
//     events up to it only, so events sent meanwhile cannot shift pages.
//   - rank, pos: the last result returned (or, when a page stopped
//     early, the last row examined). The next page starts strictly after
//     it in (rank DESC, pos DESC), or pos DESC for recent.
//   - group, key: a group's next_batch ("room_id" or "sender") limits the
//     pages to that room or sender.
//
// It is "1|order|upto|rank|pos|group|key" in unpadded URL-safe base64;
// the key is last because it may contain anything.

// cursor is a position in a result order.
type cursor struct {
	rank, pos int64
}

// start is before every result.
var start = cursor{rank: math.MaxInt64, pos: math.MaxInt64}

// token is a parsed next_batch.
type token struct {
	order byte
	upto  int64
	after cursor
	group string
	key   string
}

const tokenVersion = "1"

// maxTokenLen bounds a next_batch before decoding; the longest legitimate
// one carries a user or room ID (255 bytes at most) and five numbers.
const maxTokenLen = 1024

func (t *token) String() string {
	s := tokenVersion + "|" + string(t.order) + "|" + strconv.FormatInt(t.upto, 10) + "|" +
		strconv.FormatInt(t.after.rank, 10) + "|" + strconv.FormatInt(t.after.pos, 10) + "|" + t.group + "|" + t.key
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func badToken() error { return httpx.InvalidParam("Invalid next_batch token") }

// parseToken parses a next_batch; anything malformed is M_INVALID_PARAM.
func parseToken(s string) (*token, error) {
	if len(s) > maxTokenLen {
		return nil, badToken()
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, badToken()
	}
	f := strings.SplitN(string(raw), "|", 7)
	if len(f) != 7 || f[0] != tokenVersion || len(f[1]) != 1 || (f[1][0] != orderRank && f[1][0] != orderRecent) {
		return nil, badToken()
	}
	t := &token{order: f[1][0], group: f[5], key: f[6]}
	for i, dst := range []*int64{&t.upto, &t.after.rank, &t.after.pos} {
		n, err := strconv.ParseInt(f[2+i], 10, 64)
		if err != nil || n < 0 || strconv.FormatInt(n, 10) != f[2+i] {
			return nil, badToken()
		}
		*dst = n
	}
	switch t.group {
	case "":
		if t.key != "" {
			return nil, badToken()
		}
	case groupRoom:
		if len(t.key) < 2 || t.key[0] != '!' {
			return nil, badToken()
		}
	case groupSender:
		if len(t.key) < 2 || t.key[0] != '@' {
			return nil, badToken()
		}
	default:
		return nil, badToken()
	}
	return t, nil
}

package directory

import (
	"encoding/base64"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// hierarchyToken is a /hierarchy next_batch: the walk (root, suggested_only,
// max_depth) and how many of its rooms earlier pages served. The spec
// forbids changing suggested_only and max_depth between pages, so the
// token carries them to check.
type hierarchyToken struct {
	root      id.RoomID
	suggested bool
	maxDepth  int
	skip      int
}

func (t hierarchyToken) String() string {
	suggested := "0"
	if t.suggested {
		suggested = "1"
	}
	raw := strconv.Itoa(t.skip) + ":" + strconv.Itoa(t.maxDepth) + ":" + suggested + ":" + string(t.root)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// parseHierarchyToken reads a token made by hierarchyToken.String; anything
// else is M_INVALID_PARAM.
func parseHierarchyToken(s string) (hierarchyToken, error) {
	bad := httpx.InvalidParam("Invalid pagination token")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return hierarchyToken{}, bad
	}
	parts := strings.SplitN(string(raw), ":", 4)
	if len(parts) != 4 || (parts[2] != "0" && parts[2] != "1") {
		return hierarchyToken{}, bad
	}
	skip, err1 := strconv.Atoi(parts[0])
	depth, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || skip < 0 || skip > 1<<30 || depth < 0 || depth > MaxHierarchyDepth || ValidateRoomID(parts[3]) != nil {
		return hierarchyToken{}, bad
	}
	return hierarchyToken{root: id.RoomID(parts[3]), suggested: parts[2] == "1", maxDepth: depth, skip: skip}, nil
}

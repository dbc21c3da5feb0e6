package directory

import (
	"encoding/base64"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// pageToken is a position in the public room list, which is ordered by
// joined members (descending) then room ID (descending). The token names
// the room at the edge of the page just served and the direction to go
// from it, like Synapse's RoomListNextBatch, so a page stays stable when
// rooms are published or withdrawn in between.
type pageToken struct {
	members int
	roomID  id.RoomID
	forward bool
}

func (t pageToken) String() string {
	dir := "b"
	if t.forward {
		dir = "f"
	}
	raw := dir + ":" + strconv.Itoa(t.members) + ":" + string(t.roomID)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// parsePageToken reads a token made by pageToken.String. Tokens come from
// unauthenticated clients, so anything else is M_INVALID_PARAM.
func parsePageToken(s string) (pageToken, error) {
	bad := httpx.InvalidParam("Invalid pagination token")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return pageToken{}, bad
	}
	parts := strings.SplitN(string(raw), ":", 3)
	if len(parts) != 3 || (parts[0] != "f" && parts[0] != "b") {
		return pageToken{}, bad
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 0 || ValidateRoomID(parts[2]) != nil {
		return pageToken{}, bad
	}
	return pageToken{members: n, roomID: id.RoomID(parts[2]), forward: parts[0] == "f"}, nil
}

// after reports whether r comes after the token's room in list order.
func (t pageToken) after(r *PublicRoom) bool {
	return r.NumJoinedMembers < t.members || (r.NumJoinedMembers == t.members && r.RoomID < t.roomID)
}

// before reports whether r comes before the token's room in list order.
func (t pageToken) before(r *PublicRoom) bool {
	return r.NumJoinedMembers > t.members || (r.NumJoinedMembers == t.members && r.RoomID > t.roomID)
}

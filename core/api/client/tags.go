package client

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accountdata"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// tagsTarget checks that the caller is {userId} and returns them and {roomId}.
func tagsTarget(r *http.Request, what string) (*httpx.Caller, id.RoomID, error) {
	c, err := syncSelf(r, what)
	if err != nil {
		return nil, "", err
	}
	room, err := directoryRoomID(r)
	if err != nil {
		return nil, "", err
	}
	return c, room, nil
}

// tagName reads {tag}: at most 255 bytes of UTF-8 (a name that is not UTF-8
// would come back from JSON as another name).
func tagName(r *http.Request) (string, error) {
	tag := r.PathValue("tag")
	if tag == "" || len(tag) > accountdata.MaxTagLength || !utf8.ValidString(tag) {
		return "", httpx.InvalidParam("A tag must be 1 to %d bytes of UTF-8", accountdata.MaxTagLength)
	}
	return tag, nil
}

// GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags lists the
// caller's tags on a room.
func (h *navigationAPI) getTags(r *http.Request) (any, error) {
	c, room, err := tagsTarget(r, "read tags")
	if err != nil {
		return nil, err
	}
	return syncRaw(h.ad.Tags(r.Context(), c.UserID, room))
}

// PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag} adds a tag
// to a room. The body is kept as sent (clients may add their own keys);
// only "order" is checked: a number from 0 to 1.
func (h *navigationAPI) putTag(r *http.Request) (any, error) {
	c, room, err := tagsTarget(r, "add tags")
	if err != nil {
		return nil, err
	}
	tag, err := tagName(r)
	if err != nil {
		return nil, err
	}
	var content map[string]json.RawMessage
	if err := httpx.Decode(r, &content); err != nil {
		return nil, err
	}
	if raw, ok := content["order"]; ok && string(raw) != "null" {
		var order float64
		if err := json.Unmarshal(raw, &order); err != nil {
			return nil, httpx.BadJSON("order must be a number")
		}
		if order < 0 || order > 1 {
			return nil, httpx.InvalidParam("order must be between 0 and 1")
		}
	}
	compact, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	if err := h.ad.SetTag(r.Context(), c.UserID, room, tag, compact); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag} removes
// a tag from a room; removing a tag the room does not have succeeds.
func (h *navigationAPI) deleteTag(r *http.Request) (any, error) {
	c, room, err := tagsTarget(r, "remove tags")
	if err != nil {
		return nil, err
	}
	tag, err := tagName(r)
	if err != nil {
		return nil, err
	}
	if err := h.ad.RemoveTag(r.Context(), c.UserID, room, tag); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

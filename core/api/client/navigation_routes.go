package client

import (
	"github.com/gatehouse-chat/gatehouse/core/accountdata"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/directory"
	"github.com/gatehouse-chat/gatehouse/core/jumptodate"
)

// navigationAPI serves what clients use to organise and move around their
// rooms: room tags (the room list's favourites and low priority), the space
// tree and jumping to a date in a timeline.
type navigationAPI struct {
	ad   *accountdata.Service
	dir  *directory.Service
	jump *jumptodate.Service
}

// RegisterNavigation adds the room tag, space hierarchy and jump to date
// endpoints. Tags are m.tag room account data in ad, so /sync carries them.
func RegisterNavigation(rt *httpx.Router, ad *accountdata.Service, dir *directory.Service, jump *jumptodate.Service) {
	h := &navigationAPI{ad: ad, dir: dir, jump: jump}
	rt.Authed("GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags", h.getTags)
	rt.Authed("PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}", h.putTag)
	rt.Authed("DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}", h.deleteTag)

	rt.Authed("GET /_matrix/client/v1/rooms/{roomId}/hierarchy", h.hierarchy)
	rt.Authed("GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event", h.timestampToEvent)
}

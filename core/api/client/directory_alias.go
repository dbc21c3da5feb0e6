package client

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/directory"
)

// directoryAPI serves room aliases, room list visibility and /publicRooms.
type directoryAPI struct {
	dir  *directory.Service
	auth httpx.Authenticator
	// serverName is the only server whose room list can be served.
	serverName string
	// allowNoAuth is allow_public_rooms_without_auth.
	allowNoAuth bool
}

// RegisterDirectory registers the alias, room list visibility and
// /publicRooms endpoints. allowPublicRoomsWithoutAuth is the config's
// allow_public_rooms_without_auth; rt.Auth authenticates /publicRooms
// callers that send a token.
func RegisterDirectory(rt *httpx.Router, dir *directory.Service, serverName string, allowPublicRoomsWithoutAuth bool) {
	h := &directoryAPI{dir: dir, auth: rt.Auth, serverName: serverName, allowNoAuth: allowPublicRoomsWithoutAuth}
	rt.Public("GET /_matrix/client/v3/directory/room/{roomAlias}", h.getAlias)
	rt.Authed("PUT /_matrix/client/v3/directory/room/{roomAlias}", h.putAlias)
	rt.Authed("DELETE /_matrix/client/v3/directory/room/{roomAlias}", h.deleteAlias)
	rt.Authed("GET /_matrix/client/v3/rooms/{roomId}/aliases", h.roomAliases)

	rt.Public("GET /_matrix/client/v3/directory/list/room/{roomId}", h.getVisibility)
	rt.Authed("PUT /_matrix/client/v3/directory/list/room/{roomId}", h.putVisibility)
	// GET checks the token itself: allow_public_rooms_without_auth decides
	// what a missing or stale token means.
	rt.Public("GET /_matrix/client/v3/publicRooms", h.getPublicRooms)
	rt.Authed("POST /_matrix/client/v3/publicRooms", h.postPublicRooms)
}

// directoryAlias reads and checks the {roomAlias} path parameter.
func directoryAlias(r *http.Request) (id.RoomAlias, error) {
	alias := r.PathValue("roomAlias")
	return id.RoomAlias(alias), directory.ValidateAlias(alias)
}

// directoryRoomID reads and checks the {roomId} path parameter.
func directoryRoomID(r *http.Request) (id.RoomID, error) {
	roomID := r.PathValue("roomId")
	return id.RoomID(roomID), directory.ValidateRoomID(roomID)
}

// GET /_matrix/client/v3/directory/room/{roomAlias} resolves an alias.
func (h *directoryAPI) getAlias(r *http.Request) (any, error) {
	alias, err := directoryAlias(r)
	if err != nil {
		return nil, err
	}
	roomID, servers, err := h.dir.Resolve(r.Context(), alias)
	if err != nil {
		return nil, err
	}
	return map[string]any{"room_id": roomID, "servers": servers}, nil
}

// PUT /_matrix/client/v3/directory/room/{roomAlias} creates an alias.
func (h *directoryAPI) putAlias(r *http.Request) (any, error) {
	alias, err := directoryAlias(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		RoomID *id.RoomID `json:"room_id"`
	}
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	if body.RoomID == nil {
		return nil, httpx.BadJSON("Missing room_id")
	}
	if err := h.dir.CreateAlias(r.Context(), httpx.CallerFrom(r), alias, *body.RoomID); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// DELETE /_matrix/client/v3/directory/room/{roomAlias} removes an alias.
func (h *directoryAPI) deleteAlias(r *http.Request) (any, error) {
	alias, err := directoryAlias(r)
	if err != nil {
		return nil, err
	}
	if err := h.dir.DeleteAlias(r.Context(), httpx.CallerFrom(r), alias); err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

// GET /_matrix/client/v3/rooms/{roomId}/aliases lists a room's local aliases.
func (h *directoryAPI) roomAliases(r *http.Request) (any, error) {
	roomID, err := directoryRoomID(r)
	if err != nil {
		return nil, err
	}
	aliases, err := h.dir.RoomAliases(r.Context(), httpx.CallerFrom(r), roomID)
	if err != nil {
		return nil, err
	}
	return map[string]any{"aliases": aliases}, nil
}

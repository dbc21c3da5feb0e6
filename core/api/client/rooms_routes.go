// Package client is the Matrix client-server API surface: thin handlers
// that validate input, call one domain service and shape the response.
// Each concern registers its own routes (Register* functions); serve.go
// calls them all.
package client

import (
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// RoomHandlers serves room creation, membership, state and sending.
type RoomHandlers struct {
	Rooms *rooms.Service
}

// RegisterRooms adds the room endpoints. sendLimit is applied to endpoints
// that create events (rc_message).
func RegisterRooms(rt *httpx.Router, rs *rooms.Service, sendLimit ...httpx.Middleware) {
	h := &RoomHandlers{Rooms: rs}
	rt.Authed("POST /_matrix/client/v3/createRoom", h.createRoom, sendLimit...)
	rt.Authed("POST /_matrix/client/v3/join/{roomIdOrAlias}", h.joinByIDOrAlias, sendLimit...)
	rt.Authed("POST /_matrix/client/v3/knock/{roomIdOrAlias}", h.knock, sendLimit...)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/join", h.join, sendLimit...)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/invite", h.invite, sendLimit...)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/leave", h.leave, sendLimit...)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/forget", h.forget)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/kick", h.kick, sendLimit...)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/ban", h.ban, sendLimit...)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/unban", h.unban, sendLimit...)
	rt.Authed("PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}", h.send, sendLimit...)
	rt.Authed("PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}", h.putState, sendLimit...)
	rt.Authed("PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey...}", h.putState, sendLimit...)
	rt.Authed("PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}", h.redact, sendLimit...)
	rt.Authed("POST /_matrix/client/v3/rooms/{roomId}/upgrade", h.upgrade, sendLimit...)
}

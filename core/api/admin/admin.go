// Package admin serves Synapse-compatible admin endpoints
// (/_synapse/admin/...), so Synapse's scripts and admin tools work against
// Gatehouse: shared-secret registration (register_new_matrix_user), user
// lookup, listing and modification, devices and sessions (whois),
// registration tokens, room listing, force-joins, deletion and blocking,
// and event reports. Handlers stay thin;
// the accounts, rooms and relations domains do the work.
package admin

import (
	"net/http"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/relations"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
)

// Options are the admin API's settings and the domains besides accounts it
// works on.
type Options struct {
	// SharedSecret is registration_shared_secret; empty disables
	// shared-secret registration, as in Synapse.
	SharedSecret string
	// ServerVersion is reported by GET /_synapse/admin/v1/server_version.
	ServerVersion string
	// Rooms serves the room endpoints and a user's joined rooms; nil leaves
	// them out.
	Rooms *rooms.Service
	// Reports serves the event report endpoints; nil leaves them out.
	Reports *relations.Service
}

type adminAPI struct {
	acc     *accounts.Service
	rooms   *rooms.Service
	reports *relations.Service
	secret  string
	version string
	nonces  *nonceStore
}

// RegisterAdmin registers the admin endpoints.
func RegisterAdmin(rt *httpx.Router, acc *accounts.Service, opts Options) {
	h := &adminAPI{acc: acc, rooms: opts.Rooms, reports: opts.Reports, secret: opts.SharedSecret,
		version: opts.ServerVersion, nonces: newNonceStore(time.Now)}
	rt.Public("GET /_synapse/admin/v1/register", h.getNonce)
	rt.Public("POST /_synapse/admin/v1/register", h.sharedSecretRegister)
	rt.Authed("GET /_synapse/admin/v1/server_version", h.serverVersion, requireAdmin)

	rt.Authed("GET /_synapse/admin/v2/users", h.listUsers, requireAdmin)
	rt.Authed("GET /_synapse/admin/v2/users/{userId}", h.getUser, requireAdmin)
	rt.Authed("PUT /_synapse/admin/v2/users/{userId}", h.putUser, requireAdmin)
	rt.Authed("POST /_synapse/admin/v1/reset_password/{userId}", h.resetPassword, requireAdmin)
	rt.Authed("POST /_synapse/admin/v1/deactivate/{userId}", h.deactivate, requireAdmin)
	rt.Authed("GET /_synapse/admin/v1/whois/{userId}", h.whois) // admins, or users about themselves
	rt.Authed("GET /_synapse/admin/v2/users/{userId}/devices", h.listDevices, requireAdmin)
	rt.Authed("GET /_synapse/admin/v2/users/{userId}/devices/{deviceId}", h.getDevice, requireAdmin)
	rt.Authed("DELETE /_synapse/admin/v2/users/{userId}/devices/{deviceId}", h.deleteDevice, requireAdmin)

	rt.Authed("GET /_synapse/admin/v1/registration_tokens", h.listRegistrationTokens, requireAdmin)
	rt.Authed("POST /_synapse/admin/v1/registration_tokens/new", h.newRegistrationToken, requireAdmin)
	rt.Authed("GET /_synapse/admin/v1/registration_tokens/{token}", h.getRegistrationToken, requireAdmin)
	rt.Authed("DELETE /_synapse/admin/v1/registration_tokens/{token}", h.deleteRegistrationToken, requireAdmin)

	if h.rooms != nil {
		rt.Authed("GET /_synapse/admin/v1/users/{userId}/joined_rooms", h.joinedRooms, requireAdmin)
		rt.Authed("GET /_synapse/admin/v1/rooms", h.listRooms, requireAdmin)
		rt.Authed("GET /_synapse/admin/v1/rooms/{roomId}", h.getRoom, requireAdmin)
		rt.Authed("GET /_synapse/admin/v1/rooms/{roomId}/members", h.roomMembers, requireAdmin)
		rt.Authed("GET /_synapse/admin/v1/rooms/{roomId}/state", h.roomState, requireAdmin)
		rt.Authed("DELETE /_synapse/admin/v1/rooms/{roomId}", h.deleteRoom, requireAdmin)
		rt.Authed("POST /_synapse/admin/v1/join/{roomIdOrAlias}", h.forceJoin, requireAdmin)
		rt.Authed("GET /_synapse/admin/v1/rooms/{roomId}/block", h.getBlock, requireAdmin)
		rt.Authed("PUT /_synapse/admin/v1/rooms/{roomId}/block", h.putBlock, requireAdmin)
	}
	if h.reports != nil {
		rt.Authed("GET /_synapse/admin/v1/event_reports", h.listEventReports, requireAdmin)
		rt.Authed("GET /_synapse/admin/v1/event_reports/{reportId}", h.getEventReport, requireAdmin)
		rt.Authed("DELETE /_synapse/admin/v1/event_reports/{reportId}", h.deleteEventReport, requireAdmin)
	}
}

// GET /_synapse/admin/v1/server_version reports the server's version.
func (h *adminAPI) serverVersion(*http.Request) (any, error) {
	return map[string]string{"server_version": h.version}, nil
}

// requireAdmin refuses callers that are not server admins.
func requireAdmin(next httpx.Handler) httpx.Handler {
	return func(r *http.Request) (any, error) {
		if c := httpx.CallerFrom(r); c == nil || !c.IsAdmin {
			return nil, httpx.Forbidden("You are not a server admin")
		}
		return next(r)
	}
}

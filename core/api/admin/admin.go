// Package admin serves Synapse-compatible admin endpoints
// (/_synapse/admin/...), so Synapse's scripts and admin tools work against
// Gatehouse: shared-secret registration (register_new_matrix_user), user
// lookup and listing, and registration tokens. Handlers stay thin; the
// accounts domain does the work.
package admin

import (
	"net/http"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

type adminAPI struct {
	acc    *accounts.Service
	secret string
	nonces *nonceStore
}

// RegisterAdmin registers the account admin endpoints. An empty
// sharedSecret disables shared-secret registration, as in Synapse.
func RegisterAdmin(rt *httpx.Router, acc *accounts.Service, sharedSecret string) {
	h := &adminAPI{acc: acc, secret: sharedSecret, nonces: newNonceStore(time.Now)}
	rt.Public("GET /_synapse/admin/v1/register", h.getNonce)
	rt.Public("POST /_synapse/admin/v1/register", h.sharedSecretRegister)

	rt.Authed("GET /_synapse/admin/v2/users", h.listUsers, requireAdmin)
	rt.Authed("GET /_synapse/admin/v2/users/{userId}", h.getUser, requireAdmin)

	rt.Authed("GET /_synapse/admin/v1/registration_tokens", h.listRegistrationTokens, requireAdmin)
	rt.Authed("POST /_synapse/admin/v1/registration_tokens/new", h.newRegistrationToken, requireAdmin)
	rt.Authed("GET /_synapse/admin/v1/registration_tokens/{token}", h.getRegistrationToken, requireAdmin)
	rt.Authed("DELETE /_synapse/admin/v1/registration_tokens/{token}", h.deleteRegistrationToken, requireAdmin)
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

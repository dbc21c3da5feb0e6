package admin

import (
	"errors"
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// GET /_synapse/admin/v1/registration_tokens lists registration tokens.
func (h *adminAPI) listRegistrationTokens(r *http.Request) (any, error) {
	toks, err := h.acc.RegistrationTokens(r.Context())
	if err != nil {
		return nil, err
	}
	return map[string]any{"registration_tokens": toks}, nil
}

// POST /_synapse/admin/v1/registration_tokens/new creates a registration
// token (random when "token" is left out).
func (h *adminAPI) newRegistrationToken(r *http.Request) (any, error) {
	var req struct {
		Token       string `json:"token"`
		UsesAllowed *int64 `json:"uses_allowed"`
		ExpiryTime  *int64 `json:"expiry_time"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	return h.acc.CreateRegistrationToken(r.Context(), accounts.RegistrationToken{
		Token: req.Token, UsesAllowed: req.UsesAllowed, ExpiryTime: req.ExpiryTime,
	})
}

// GET /_synapse/admin/v1/registration_tokens/{token} returns one token.
func (h *adminAPI) getRegistrationToken(r *http.Request) (any, error) {
	toks, err := h.acc.RegistrationTokens(r.Context())
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		if t.Token == r.PathValue("token") {
			return t, nil
		}
	}
	return nil, httpx.NotFound("No such registration token")
}

// DELETE /_synapse/admin/v1/registration_tokens/{token} deletes a token.
func (h *adminAPI) deleteRegistrationToken(r *http.Request) (any, error) {
	err := h.acc.DeleteRegistrationToken(r.Context(), r.PathValue("token"))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, httpx.NotFound("No such registration token")
	} else if err != nil {
		return nil, err
	}
	return httpx.Empty, nil
}

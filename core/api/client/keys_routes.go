package client

import (
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// keysAPI serves the device and cross-signing key endpoints.
type keysAPI struct {
	keys *keys.Service
	uia  *UIA
}

// RegisterKeys adds the E2EE key endpoints. uia is the one RegisterAccounts
// returns; replacing cross-signing keys asks for the caller's password.
func RegisterKeys(rt *httpx.Router, k *keys.Service, uia *UIA) {
	h := &keysAPI{keys: k, uia: uia}
	rt.Authed("POST /_matrix/client/v3/keys/upload", h.upload)
	rt.Authed("POST /_matrix/client/v3/keys/query", h.query)
	rt.Authed("POST /_matrix/client/v3/keys/claim", h.claim)
	rt.Authed("GET /_matrix/client/v3/keys/changes", h.changes)
	rt.Authed("POST /_matrix/client/v3/keys/device_signing/upload", h.uploadCrossSigning)
	rt.Authed("POST /_matrix/client/v3/keys/signatures/upload", h.uploadSignatures)
}

// POST /_matrix/client/v3/keys/upload publishes the caller's device keys,
// one-time keys and fallback keys.
func (h *keysAPI) upload(r *http.Request) (any, error) {
	var req keys.UploadRequest
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	c := httpx.CallerFrom(r)
	counts, err := h.keys.Upload(r.Context(), c.UserID, c.DeviceID, req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"one_time_key_counts": counts}, nil
}

// POST /_matrix/client/v3/keys/query returns users' device and
// cross-signing keys.
func (h *keysAPI) query(r *http.Request) (any, error) {
	var req struct {
		DeviceKeys map[id.UserID][]id.DeviceID `json:"device_keys"`
		Timeout    *int64                      `json:"timeout"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.DeviceKeys == nil {
		return nil, httpx.MissingParam("Missing device_keys")
	}
	if len(req.DeviceKeys) > maxQueryUsers {
		return nil, httpx.InvalidParam("Cannot query more than %d users at once", maxQueryUsers)
	}
	return h.keys.Query(r.Context(), httpx.CallerFrom(r).UserID, req.DeviceKeys)
}

// maxQueryUsers bounds one /keys/query; a body of 1 MiB holds about that many.
const maxQueryUsers = 20000

// POST /_matrix/client/v3/keys/claim claims one-time keys (or fallback
// keys) for starting Olm sessions.
func (h *keysAPI) claim(r *http.Request) (any, error) {
	var req struct {
		OneTimeKeys map[id.UserID]map[id.DeviceID]string `json:"one_time_keys"`
		Timeout     *int64                               `json:"timeout"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.OneTimeKeys == nil {
		return nil, httpx.MissingParam("Missing one_time_keys")
	}
	return h.keys.Claim(r.Context(), req.OneTimeKeys)
}

// GET /_matrix/client/v3/keys/changes lists users whose device lists
// changed between two sync tokens.
func (h *keysAPI) changes(r *http.Request) (any, error) {
	q := r.URL.Query()
	from, err := parseStreamToken(q.Get("from"), "from")
	if err != nil {
		return nil, err
	}
	to, err := parseStreamToken(q.Get("to"), "to")
	if err != nil {
		return nil, err
	}
	changed, left, err := h.keys.DeviceListChanges(r.Context(), httpx.CallerFrom(r).UserID, from, to)
	if err != nil {
		return nil, err
	}
	return map[string][]id.UserID{"changed": nonNilUsers(changed), "left": nonNilUsers(left)}, nil
}

// parseStreamToken parses a /sync next_batch, as /sync itself does.
func parseStreamToken(tok, name string) (int64, error) {
	if tok == "" {
		return 0, httpx.MissingParam("Missing %s", name)
	}
	return gsync.ParseToken(tok)
}

func nonNilUsers(u []id.UserID) []id.UserID {
	if u == nil {
		return []id.UserID{}
	}
	return u
}

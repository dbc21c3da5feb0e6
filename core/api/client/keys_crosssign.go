package client

import (
	"encoding/json"
	"net/http"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/keys"
)

// POST /_matrix/client/v3/keys/device_signing/upload publishes the caller's
// cross-signing keys. Replacing existing keys needs the password.
func (h *keysAPI) uploadCrossSigning(r *http.Request) (any, error) {
	var req struct {
		keys.CrossSigningRequest
		Auth json.RawMessage `json:"auth"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	c := httpx.CallerFrom(r)
	needsAuth, err := h.keys.CrossSigningNeedsAuth(r.Context(), c.UserID, req.CrossSigningRequest)
	if err != nil {
		return nil, err
	}
	var sess *UIASession
	if needsAuth && c.AppServiceID == "" {
		var challenge *httpx.Response
		sess, challenge, err = h.uia.Check(r, req.Auth, UIASpec{Flows: []UIAFlow{{Stages: []string{StagePassword}}}})
		if err != nil {
			return nil, err
		}
		if challenge != nil {
			return *challenge, nil
		}
	}
	if err := h.keys.UploadCrossSigning(r.Context(), c.UserID, req.CrossSigningRequest); err != nil {
		return nil, err
	}
	h.uia.Done(sess)
	return httpx.Empty, nil
}

// POST /_matrix/client/v3/keys/signatures/upload publishes cross-signing
// signatures; invalid ones are listed in failures.
func (h *keysAPI) uploadSignatures(r *http.Request) (any, error) {
	var req map[id.UserID]map[string]json.RawMessage
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	failures, err := h.keys.UploadSignatures(r.Context(), httpx.CallerFrom(r).UserID, req)
	if err != nil {
		return nil, err
	}
	return map[string]any{"failures": failures}, nil
}

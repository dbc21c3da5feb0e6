package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// AppServiceAPI is what the appservice endpoints need from the appservice
// package, which implements it (appservice.API); serve.go wires it. Its
// methods call appservices over HTTP and may block for seconds; errors
// meant for the client are *httpx.Error.
type AppServiceAPI interface {
	// Ping calls the appservice's POST /_matrix/app/v1/ping and returns the
	// round trip in milliseconds, or the spec's M_URL_NOT_SET,
	// M_BAD_STATUS, M_CONNECTION_FAILED or M_CONNECTION_TIMEOUT error.
	Ping(ctx context.Context, appServiceID, txnID string) (durationMS int64, err error)
	// Protocols merges every appservice's third-party protocol metadata.
	Protocols(ctx context.Context) (map[string]json.RawMessage, error)
	// Protocol is one protocol's merged metadata, or M_NOT_FOUND.
	Protocol(ctx context.Context, protocol string) (json.RawMessage, error)
	// Lookup asks appservices for third-party locations or users (kind
	// "location" or "user"); protocol "" is a reverse lookup by Matrix
	// alias or user ID.
	Lookup(ctx context.Context, kind, protocol string, query url.Values) ([]json.RawMessage, error)
}

// RegisterAppServices adds the appservice ping and third-party endpoints.
func RegisterAppServices(rt *httpx.Router, api AppServiceAPI) {
	h := &appServiceHandlers{api: api}
	rt.Authed("POST /_matrix/client/v1/appservice/{appserviceId}/ping", h.ping)
	rt.Authed("GET /_matrix/client/v3/thirdparty/protocols", h.protocols)
	rt.Authed("GET /_matrix/client/v3/thirdparty/protocol/{protocol}", h.protocol)
	rt.Authed("GET /_matrix/client/v3/thirdparty/location/{protocol}", h.lookup("location"))
	rt.Authed("GET /_matrix/client/v3/thirdparty/user/{protocol}", h.lookup("user"))
	rt.Authed("GET /_matrix/client/v3/thirdparty/location", h.reverseLookup("location", "alias"))
	rt.Authed("GET /_matrix/client/v3/thirdparty/user", h.reverseLookup("user", "userid"))
}

type appServiceHandlers struct {
	api AppServiceAPI
}

// POST /_matrix/client/v1/appservice/{appserviceId}/ping makes the server
// ping the calling appservice, which proves both directions work.
func (h *appServiceHandlers) ping(r *http.Request) (any, error) {
	var req struct {
		TxnID string `json:"transaction_id"`
	}
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	asID := r.PathValue("appserviceId")
	if c := httpx.CallerFrom(r); c.AppServiceID == "" || c.AppServiceID != asID {
		return nil, httpx.Forbidden("The access token does not belong to appservice %q", asID)
	}
	ms, err := h.api.Ping(r.Context(), asID, req.TxnID)
	if err != nil {
		return nil, err
	}
	return map[string]int64{"duration_ms": ms}, nil
}

// GET /_matrix/client/v3/thirdparty/protocols lists the protocols bridged
// by appservices.
func (h *appServiceHandlers) protocols(r *http.Request) (any, error) {
	return h.api.Protocols(r.Context())
}

// GET /_matrix/client/v3/thirdparty/protocol/{protocol} describes one protocol.
func (h *appServiceHandlers) protocol(r *http.Request) (any, error) {
	return h.api.Protocol(r.Context(), r.PathValue("protocol"))
}

// GET /_matrix/client/v3/thirdparty/location/{protocol} and
// GET /_matrix/client/v3/thirdparty/user/{protocol} search a protocol's
// locations or users by the protocol's fields (query parameters).
func (h *appServiceHandlers) lookup(kind string) httpx.Handler {
	return func(r *http.Request) (any, error) {
		return h.api.Lookup(r.Context(), kind, r.PathValue("protocol"), lookupQuery(r))
	}
}

// GET /_matrix/client/v3/thirdparty/location?alias= and
// GET /_matrix/client/v3/thirdparty/user?userid= find the third-party
// entities behind a Matrix alias or user.
func (h *appServiceHandlers) reverseLookup(kind, param string) httpx.Handler {
	return func(r *http.Request) (any, error) {
		q := lookupQuery(r)
		if q.Get(param) == "" {
			return nil, httpx.MissingParam("Missing query parameter %q", param)
		}
		return h.api.Lookup(r.Context(), kind, "", q)
	}
}

// lookupQuery is the request's query without the parameters that belong
// to the homeserver (authentication, identity assertion).
func lookupQuery(r *http.Request) url.Values {
	q := r.URL.Query()
	for _, k := range []string{"access_token", "user_id", "device_id", "org.matrix.msc3202.device_id"} {
		q.Del(k)
	}
	return q
}

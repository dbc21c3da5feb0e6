package client

import (
	"net/http"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// Gatehouse stores no email addresses or phone numbers. These endpoints
// exist because Element calls them from its settings and login screens; they
// answer so that the client shows a clear message instead of a failure.

func register3PID(rt *httpx.Router) {
	rt.Authed("GET /_matrix/client/v3/account/3pid", get3PIDs)
	rt.Authed("POST /_matrix/client/v3/account/3pid/add", add3PID)
	rt.Authed("POST /_matrix/client/v3/account/3pid/bind", add3PID)
	rt.Authed("POST /_matrix/client/v3/account/3pid/delete", unbind3PID)
	rt.Authed("POST /_matrix/client/v3/account/3pid/unbind", unbind3PID)
	for _, p := range []string{
		"/_matrix/client/v3/account/3pid/email/requestToken",
		"/_matrix/client/v3/account/3pid/msisdn/requestToken",
		"/_matrix/client/v3/register/email/requestToken",
		"/_matrix/client/v3/register/msisdn/requestToken",
		"/_matrix/client/v3/account/password/email/requestToken",
		"/_matrix/client/v3/account/password/msisdn/requestToken",
	} {
		rt.Public("POST "+p, requestToken3PID)
	}
}

// GET /_matrix/client/v3/account/3pid lists the caller's third-party
// identifiers: always none.
func get3PIDs(r *http.Request) (any, error) {
	return map[string]any{"threepids": []any{}}, nil
}

// POST /_matrix/client/v3/account/3pid/add (and /bind) would attach a
// validated identifier; no validation session can exist here.
func add3PID(r *http.Request) (any, error) {
	var body map[string]any
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	return nil, httpx.NewError(http.StatusBadRequest, "M_THREEPID_AUTH_FAILED",
		"This server does not support third-party identifiers")
}

// POST /_matrix/client/v3/account/3pid/delete (and /unbind) removes an
// identifier; there is none, so nothing was unbound.
func unbind3PID(r *http.Request) (any, error) {
	var body map[string]any
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	return map[string]string{"id_server_unbind_result": "no-support"}, nil
}

// POST /_matrix/client/v3/{account/3pid,register,account/password}/{email,msisdn}/requestToken
// would send a validation code; this server sends none.
func requestToken3PID(r *http.Request) (any, error) {
	var body map[string]any
	if err := httpx.Decode(r, &body); err != nil {
		return nil, err
	}
	return nil, httpx.NewError(http.StatusBadRequest, "M_THREEPID_MEDIUM_NOT_SUPPORTED",
		"This server does not send email or SMS validation codes")
}

package appservice

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Device masquerading query parameters: the spec's name (v1.17) and the
// MSC3202 name mautrix-go and older SDKs still send.
const (
	paramDeviceID        = "device_id"
	paramMSC3202DeviceID = "org.matrix.msc3202.device_id"
)

// AuthenticateAppService implements accounts.AppServices. For an as_token
// it returns the caller the request acts as: the sender_localpart user, or
// the user asserted with ?user_id=, which must be the sender or in one of
// the appservice's user namespaces (else 403 M_FORBIDDEN) and must exist.
// ?device_id= (or org.matrix.msc3202.device_id=) masquerades as one of that
// user's devices, which must exist (else 400 M_UNKNOWN_DEVICE). A local
// user outside the namespaces may be asserted when the admin granted the
// appservice double puppeting and the user opted in (SetDoublePuppet). It returns
// (nil, nil) when token is no appservice's.
func (r *Registry) AuthenticateAppService(req *http.Request, token string) (*httpx.Caller, error) {
	as := r.byTokenValue(token)
	if as == nil {
		return nil, nil
	}
	if !as.Allows(remoteAddr(req)) {
		// Synapse answers an as_token from outside ip_range_whitelist as an
		// unknown token: it is not valid from there.
		return nil, httpx.UnknownToken()
	}
	c := &httpx.Caller{UserID: as.Sender, AppServiceID: as.ID, RateLimited: as.RateLimited}
	q := req.URL.Query()
	if u := q.Get("user_id"); u != "" {
		userID := id.UserID(u)
		puppet := false
		if !as.IsUser(userID) {
			ok, err := r.mayDoublePuppet(req.Context(), as, userID)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, httpx.Forbidden("Application service %s cannot masquerade as %s: not in its namespaces", as.ID, u)
			}
			puppet = true
		}
		// The registration request itself carries the ghost's user_id
		// (mautrix sends it on every call), so the account need not exist yet.
		if !puppet && !isRegister(req) {
			exists, err := r.userExists(req.Context(), userID)
			if err != nil {
				return nil, err
			}
			if !exists {
				return nil, httpx.Forbidden("Application service %s has not registered %s", as.ID, u)
			}
		}
		c.UserID = userID
	}
	deviceID := q.Get(paramDeviceID)
	if deviceID == "" {
		deviceID = q.Get(paramMSC3202DeviceID)
	}
	if deviceID != "" {
		if err := r.checkDevice(req, c.UserID, id.DeviceID(deviceID)); err != nil {
			return nil, err
		}
		c.DeviceID = id.DeviceID(deviceID)
	}
	return c, nil
}

func (r *Registry) checkDevice(req *http.Request, userID id.UserID, deviceID id.DeviceID) error {
	if r.accounts == nil {
		return nil
	}
	_, err := r.accounts.Device(req.Context(), userID, deviceID)
	if errors.Is(err, storage.ErrNotFound) {
		return httpx.NewError(http.StatusBadRequest, "M_UNKNOWN_DEVICE", "Device %s of %s does not exist", deviceID, userID)
	}
	return err
}

// isRegister reports whether req is POST /register (v3 or r0).
func isRegister(req *http.Request) bool {
	p := req.URL.Path
	return req.Method == http.MethodPost &&
		(strings.HasSuffix(p, "/_matrix/client/v3/register") || strings.HasSuffix(p, "/_matrix/client/r0/register"))
}

func remoteAddr(req *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	addr, _ := netip.ParseAddr(host)
	return addr
}

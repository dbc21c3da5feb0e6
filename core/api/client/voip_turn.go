package client

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/config"
)

// TurnConfig holds the TURN settings (Synapse's turn_* keys).
type TurnConfig struct {
	URIs []string
	// SharedSecret, when set, makes time-limited credentials (the TURN REST
	// API scheme coturn's use-auth-secret checks); otherwise Username and
	// Password are handed out as they are.
	SharedSecret string
	Username     string
	Password     string
	UserLifetime time.Duration
	AllowGuests  bool
	// Now replaces the clock in tests; nil means time.Now.
	Now func() time.Time
}

// TurnConfigFrom picks the TURN settings out of the config.
func TurnConfigFrom(c *config.Config) TurnConfig {
	return TurnConfig{
		URIs: c.TurnURIs, SharedSecret: c.TurnSharedSecret, Username: c.TurnUsername, Password: c.TurnPassword,
		UserLifetime: time.Duration(c.TurnUserLifetime), AllowGuests: c.TurnAllowGuests,
	}
}

// RegisterVoIP registers the TURN server endpoint.
func RegisterVoIP(rt *httpx.Router, turn TurnConfig) {
	if turn.Now == nil {
		turn.Now = time.Now
	}
	rt.Authed("GET /_matrix/client/v3/voip/turnServer", turn.turnServer)
}

// turnServerResponse is the spec's TURN credentials object.
type turnServerResponse struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	URIs     []string `json:"uris"`
	TTL      int64    `json:"ttl"`
}

// GET /_matrix/client/v3/voip/turnServer hands out TURN credentials, or {}
// when no TURN server is configured (Synapse's behaviour, which clients
// read as "no relay").
func (t TurnConfig) turnServer(r *http.Request) (any, error) {
	caller := httpx.CallerFrom(r)
	if caller.IsGuest && !t.AllowGuests {
		return nil, httpx.NewError(http.StatusForbidden, "M_GUEST_ACCESS_FORBIDDEN", "Guests may not use the TURN server")
	}
	if len(t.URIs) == 0 || t.UserLifetime <= 0 {
		return httpx.Empty, nil
	}
	resp := turnServerResponse{URIs: t.URIs, TTL: int64(t.UserLifetime / time.Second)}
	switch {
	case t.SharedSecret != "":
		expiry := t.Now().Add(t.UserLifetime).Unix()
		resp.Username = strconv.FormatInt(expiry, 10) + ":" + caller.UserID.String()
		resp.Password = turnPassword(t.SharedSecret, resp.Username)
	case t.Username != "" && t.Password != "":
		resp.Username, resp.Password = t.Username, t.Password
	default:
		return httpx.Empty, nil
	}
	return resp, nil
}

// turnPassword is the TURN REST API password for username: the standard
// (padded) base64 of HMAC-SHA1 keyed with the shared secret.
func turnPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

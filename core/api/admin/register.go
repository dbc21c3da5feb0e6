package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/ratelimit"
)

const (
	// nonceTTL is how long a nonce may be used, as in Synapse.
	nonceTTL = 60 * time.Second
	// maxNonces bounds memory against clients that fetch nonces and
	// never use them.
	maxNonces = 10_000
)

// nonceStore holds unexpired, unused registration nonces.
type nonceStore struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]time.Time
}

func newNonceStore(now func() time.Time) *nonceStore {
	return &nonceStore{now: now, m: make(map[string]time.Time)}
}

func (s *nonceStore) issue() string {
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	nonce := hex.EncodeToString(buf)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxNonces {
		for k, t := range s.m {
			if now.Sub(t) > nonceTTL || len(s.m) >= maxNonces {
				delete(s.m, k)
			}
		}
	}
	s.m[nonce] = now
	return nonce
}

// take consumes nonce, reporting whether it was valid. A nonce is spent
// even when the MAC then fails, so each guess costs a new nonce.
func (s *nonceStore) take(nonce string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[nonce]
	delete(s.m, nonce)
	return ok && s.now().Sub(t) <= nonceTTL
}

// SharedSecretMAC is the hex HMAC-SHA1 Synapse defines for shared-secret
// registration: over nonce, username, password and "admin" or "notadmin",
// NUL-separated, followed by NUL and the user type when there is one.
func SharedSecretMAC(secret, nonce, username, password string, admin bool, userType string) string {
	m := hmac.New(sha1.New, []byte(secret))
	role := "notadmin"
	if admin {
		role = "admin"
	}
	m.Write([]byte(nonce + "\x00" + username + "\x00" + password + "\x00" + role))
	if userType != "" {
		m.Write([]byte("\x00" + userType))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// SharedSecretRequest is the body of POST /_synapse/admin/v1/register.
type SharedSecretRequest struct {
	Nonce       string `json:"nonce"`
	Username    string `json:"username"`
	Password    string `json:"password"`
	Admin       bool   `json:"admin"`
	UserType    string `json:"user_type,omitempty"`
	DisplayName string `json:"displayname,omitempty"`
	MAC         string `json:"mac"`
}

func (h *adminAPI) enabled() error {
	if h.secret == "" {
		return httpx.BadRequest("Shared secret registration is not enabled")
	}
	return nil
}

// GET /_synapse/admin/v1/register hands out a nonce for shared-secret registration.
func (h *adminAPI) getNonce(r *http.Request) (any, error) {
	if err := h.enabled(); err != nil {
		return nil, err
	}
	return map[string]string{"nonce": h.nonces.issue()}, nil
}

// POST /_synapse/admin/v1/register creates an account authorised by an HMAC
// with registration_shared_secret, and logs it in.
func (h *adminAPI) sharedSecretRegister(r *http.Request) (any, error) {
	if err := h.enabled(); err != nil {
		return nil, err
	}
	var req SharedSecretRequest
	if err := httpx.Decode(r, &req); err != nil {
		return nil, err
	}
	if req.Nonce == "" || !h.nonces.take(req.Nonce) {
		return nil, httpx.BadRequest("unrecognised nonce")
	}
	if err := checkField("username", req.Username); err != nil {
		return nil, err
	}
	if err := checkField("password", req.Password); err != nil {
		return nil, err
	}
	switch req.UserType {
	case "", "support", "bot":
	default:
		return nil, httpx.InvalidParam("Invalid user type")
	}
	want := SharedSecretMAC(h.secret, req.Nonce, req.Username, req.Password, req.Admin, req.UserType)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(req.MAC))) {
		return nil, httpx.Forbidden("HMAC incorrect")
	}
	userID, err := h.acc.Register(r.Context(), accounts.RegisterParams{
		Localpart: strings.ToLower(req.Username), Password: req.Password, IsAdmin: req.Admin, DisplayName: req.DisplayName,
	})
	if err != nil {
		return nil, err
	}
	res, err := h.acc.Login(r.Context(), accounts.LoginParams{UserID: userID, IP: ratelimit.ClientIP(r), UserAgent: r.UserAgent()})
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"user_id": string(res.UserID), "access_token": res.AccessToken,
		"device_id": string(res.DeviceID), "home_server": h.acc.ServerName(),
	}, nil
}

func checkField(name, v string) error {
	if v == "" {
		return httpx.MissingParam("Missing %s", name)
	}
	if len(v) > accounts.MaxPasswordLength || strings.ContainsRune(v, 0) {
		return httpx.InvalidParam("Invalid %s", name)
	}
	return nil
}

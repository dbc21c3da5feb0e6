package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// lastSeenInterval bounds how often a device's last-seen columns are
// written: once per interval per token, or sooner when the IP changes.
const lastSeenInterval = 5 * time.Minute

// newAccessToken returns a fresh random token and the hex SHA-256 stored in
// its place.
func newAccessToken() (token, hash string) {
	buf := make([]byte, 32)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(buf)
	return token, HashToken(token)
}

// HashToken returns the hex SHA-256 of an access token, the form in which
// tokens are stored and the TokenID of their callers.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Authenticate resolves the request's access token (Authorization: Bearer
// or the access_token query parameter) to its caller. It implements
// httpx.Authenticator: M_MISSING_TOKEN or M_UNKNOWN_TOKEN (401) when it
// cannot. Appservice tokens are tried first, as Synapse does.
func (s *Service) Authenticate(r *http.Request) (*httpx.Caller, error) {
	tok := httpx.AccessToken(r)
	if tok == "" {
		return nil, httpx.MissingToken()
	}
	if s.appsvc != nil {
		c, err := s.appsvc.AuthenticateAppService(r, tok)
		if err != nil || c != nil {
			return c, err
		}
	}
	e, err := s.lookupToken(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	s.touch(r.Context(), e, clientIP(r), r.UserAgent())
	c := e.caller
	return &c, nil
}

// AuthenticateToken resolves a bare user access token without a request,
// for callers outside the router. It does not accept appservice tokens
// (those need the request's ?user_id=) and does not record last-seen.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*httpx.Caller, error) {
	if token == "" {
		return nil, httpx.MissingToken()
	}
	e, err := s.lookupToken(ctx, token)
	if err != nil {
		return nil, err
	}
	c := e.caller
	return &c, nil
}

func (s *Service) lookupToken(ctx context.Context, token string) (*cachedToken, error) {
	sum := sha256.Sum256([]byte(token))
	key := string(sum[:])
	e, gen := s.tokens.get(key)
	if e != nil {
		return e, nil
	}
	hash := hex.EncodeToString(sum[:])
	var (
		userID, deviceID          string
		admin, guest, deactivated bool
	)
	err := s.db.QueryRow(ctx, `
		SELECT t.user_id, t.device_id, u.is_admin, u.is_guest, u.deactivated
		FROM access_tokens t JOIN users u ON u.user_id = t.user_id
		WHERE t.token_hash = $1`, hash).Scan(&userID, &deviceID, &admin, &guest, &deactivated)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && deactivated) {
		return nil, httpx.UnknownToken()
	} else if err != nil {
		return nil, err
	}
	e = &cachedToken{caller: httpx.Caller{
		UserID:      id.UserID(userID),
		DeviceID:    id.DeviceID(deviceID),
		IsAdmin:     admin,
		IsGuest:     guest,
		RateLimited: !admin,
		TokenID:     hash,
	}}
	s.tokens.put(key, e, gen)
	return e, nil
}

// touch records when and from where a device was last used, at most once
// per lastSeenInterval per token so that authentication stays read-only on
// almost every request.
func (s *Service) touch(ctx context.Context, e *cachedToken, ip, ua string) {
	now := s.now()
	e.seenMu.Lock()
	if e.seenDone && now.Sub(e.seenAt) < lastSeenInterval && e.seenIP == ip && e.seenUA == ua {
		e.seenMu.Unlock()
		return
	}
	e.seenAt, e.seenIP, e.seenUA, e.seenDone = now, ip, ua, true
	e.seenMu.Unlock()
	_, err := s.db.Exec(ctx, `UPDATE devices SET last_seen_ts = $1, last_seen_ip = $2, user_agent = $3
		WHERE user_id = $4 AND device_id = $5`, now.UnixMilli(), ip, ua, e.caller.UserID, e.caller.DeviceID)
	if err != nil && ctx.Err() == nil {
		zerolog.Ctx(ctx).Warn().Err(err).Msg("Failed to record device last-seen")
	}
}

// clientIP is the request's peer address without the port. Listeners with
// x_forwarded rewrite RemoteAddr before requests reach handlers.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

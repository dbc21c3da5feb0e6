package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// MediumEmail is the only third-party identifier medium Gatehouse handles.
const MediumEmail = "email"

const (
	// threepidTokenLifetime is how long an emailed link works (Synapse's
	// email.validation_token_lifetime default).
	threepidTokenLifetime = time.Hour
	// threepidSessionLifetime is how long a session, validated or not,
	// can be used at all.
	threepidSessionLifetime = 24 * time.Hour
	maxClientSecretLength   = 255
)

// ThreePID is an address bound to an account.
type ThreePID struct {
	Medium  string `json:"medium"`
	Address string `json:"address"`
	// ValidatedAt and AddedAt are in milliseconds.
	ValidatedAt int64 `json:"validated_at"`
	AddedAt     int64 `json:"added_at"`
}

// ValidationRequest asks for a validation session for an address, as the
// requestToken endpoints do.
type ValidationRequest struct {
	Medium       string
	Address      string
	ClientSecret string
	SendAttempt  int64
	NextLink     string
}

// Validation is the outcome of StartValidation.
type Validation struct {
	SessionID string
	// Address is the normalised (lower-cased) address.
	Address string
	// Token is the secret to send to the address; empty when the request
	// repeated a send attempt already made, and nothing should be sent.
	Token string

	created    bool
	prevSend   int64
	prevHash   string
	prevExpiry int64
}

// NormaliseEmail checks that address is a bare email address and returns
// it lower-cased, as Synapse stores them. A client error (400
// M_INVALID_PARAM) otherwise.
func NormaliseEmail(address string) (string, error) {
	a, err := mail.ParseAddress(address)
	if err != nil || a.Address != strings.TrimSpace(address) || len(address) > 500 {
		return "", httpx.InvalidParam("Not a valid email address: %q", address)
	}
	return strings.ToLower(a.Address), nil
}

// checkClientSecret applies the spec's grammar for client_secret.
func checkClientSecret(secret string) error {
	if secret == "" {
		return httpx.MissingParam("Missing client_secret")
	}
	if len(secret) > maxClientSecretLength {
		return httpx.InvalidParam("client_secret is longer than %d characters", maxClientSecretLength)
	}
	for _, c := range secret {
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune(".=_-", c)
		if !ok {
			return httpx.InvalidParam("client_secret may only contain 0-9, a-z, A-Z, '.', '=', '_' and '-'")
		}
	}
	return nil
}

func checkNextLink(link string) error {
	if link == "" {
		return nil
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return httpx.InvalidParam("next_link must be an http or https URL")
	}
	return nil
}

func randomSecret(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// StartValidation creates the validation session for (client_secret,
// medium, address), or reuses it: a send_attempt no higher than the last
// one returns the same session ID and no token, so a retried request sends
// no second email; a higher one issues a new token (the older link stops
// working). The caller sends the token, and calls AbandonValidation if it
// cannot.
func (s *Service) StartValidation(ctx context.Context, req ValidationRequest) (*Validation, error) {
	if err := checkClientSecret(req.ClientSecret); err != nil {
		return nil, err
	}
	if err := checkNextLink(req.NextLink); err != nil {
		return nil, err
	}
	now := s.now()
	if _, err := s.db.Exec(ctx, `DELETE FROM threepid_validation_sessions WHERE created_ts < $1`,
		now.Add(-threepidSessionLifetime).UnixMilli()); err != nil {
		return nil, err
	}
	token := randomSecret(24)
	expires := now.Add(threepidTokenLifetime).UnixMilli()
	v := &Validation{Address: req.Address, Token: token}
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		err := tx.QueryRow(ctx, `SELECT session_id, last_send_attempt, token_hash, token_expires_ts
			FROM threepid_validation_sessions WHERE client_secret = $1 AND medium = $2 AND address = $3`,
			req.ClientSecret, req.Medium, req.Address).Scan(&v.SessionID, &v.prevSend, &v.prevHash, &v.prevExpiry)
		if errors.Is(err, sql.ErrNoRows) {
			v.SessionID, v.created = randomSecret(18), true
			_, err = tx.Exec(ctx, `INSERT INTO threepid_validation_sessions (session_id, client_secret, medium, address,
				last_send_attempt, next_link, token_hash, token_expires_ts, created_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				v.SessionID, req.ClientSecret, req.Medium, req.Address, req.SendAttempt, nullString(req.NextLink),
				HashToken(token), expires, now.UnixMilli())
			return err
		} else if err != nil {
			return err
		}
		if req.SendAttempt <= v.prevSend {
			v.Token = ""
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE threepid_validation_sessions SET last_send_attempt = $1, token_hash = $2,
			token_expires_ts = $3, next_link = $4 WHERE session_id = $5`,
			req.SendAttempt, HashToken(token), expires, nullString(req.NextLink), v.SessionID)
		return err
	})
	if err != nil && s.db.IsUniqueViolation(err) {
		// A concurrent request with the same client_secret created the
		// session and sends its email.
		return s.existingValidation(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Service) existingValidation(ctx context.Context, req ValidationRequest) (*Validation, error) {
	v := &Validation{Address: req.Address}
	err := s.db.QueryRow(ctx, `SELECT session_id FROM threepid_validation_sessions
		WHERE client_secret = $1 AND medium = $2 AND address = $3`, req.ClientSecret, req.Medium, req.Address).Scan(&v.SessionID)
	return v, err
}

// AbandonValidation undoes StartValidation after the token could not be
// sent: a new session is deleted, a reused one gets its previous token and
// send attempt back, so retrying the same send_attempt sends again.
func (s *Service) AbandonValidation(ctx context.Context, v *Validation) error {
	ctx = context.WithoutCancel(ctx)
	if v.created {
		_, err := s.db.Exec(ctx, `DELETE FROM threepid_validation_sessions WHERE session_id = $1`, v.SessionID)
		return err
	}
	_, err := s.db.Exec(ctx, `UPDATE threepid_validation_sessions SET last_send_attempt = $1, token_hash = $2,
		token_expires_ts = $3 WHERE session_id = $4`, v.prevSend, v.prevHash, v.prevExpiry, v.SessionID)
	return err
}

// errBadValidationToken is the one answer for an unknown session, a wrong
// client secret and a wrong or expired token.
func errBadValidationToken() *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "M_UNKNOWN", "Validation token not found or has expired")
}

// SubmitValidationToken marks the session validated when token is the one
// last sent for it and has not expired. It returns the session's next_link.
// Submitting the same valid token again succeeds again.
func (s *Service) SubmitValidationToken(ctx context.Context, sid, clientSecret, token string) (string, error) {
	if sid == "" || clientSecret == "" || token == "" {
		return "", httpx.MissingParam("The link is incomplete: it needs token, client_secret and sid")
	}
	var (
		secret, hash string
		expires      int64
		nextLink     sql.NullString
	)
	err := s.db.QueryRow(ctx, `SELECT client_secret, token_hash, token_expires_ts, next_link
		FROM threepid_validation_sessions WHERE session_id = $1`, sid).Scan(&secret, &hash, &expires, &nextLink)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errBadValidationToken()
	} else if err != nil {
		return "", err
	}
	now := s.now().UnixMilli()
	if subtle.ConstantTimeCompare([]byte(secret), []byte(clientSecret)) != 1 ||
		subtle.ConstantTimeCompare([]byte(hash), []byte(HashToken(token))) != 1 || now > expires {
		return "", errBadValidationToken()
	}
	_, err = s.db.Exec(ctx, `UPDATE threepid_validation_sessions SET validated_ts = $1
		WHERE session_id = $2 AND validated_ts IS NULL`, now, sid)
	return nextLink.String, err
}

// errThreePIDAuth is the answer for a session that is unknown, belongs to
// another client secret, or has not been validated.
func errThreePIDAuth() *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "M_THREEPID_AUTH_FAILED",
		"No validated session with this sid and client_secret: open the link in the email first")
}

// ValidatedThreePID returns the address a validated session proved, or 400
// M_THREEPID_AUTH_FAILED.
func (s *Service) ValidatedThreePID(ctx context.Context, sid, clientSecret string) (medium, address string, validatedTS int64, err error) {
	var (
		secret    string
		validated sql.NullInt64
		created   int64
	)
	err = s.db.QueryRow(ctx, `SELECT client_secret, medium, address, validated_ts, created_ts
		FROM threepid_validation_sessions WHERE session_id = $1`, sid).Scan(&secret, &medium, &address, &validated, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", 0, errThreePIDAuth()
	} else if err != nil {
		return "", "", 0, err
	}
	expired := s.now().Sub(time.UnixMilli(created)) > threepidSessionLifetime
	if subtle.ConstantTimeCompare([]byte(secret), []byte(clientSecret)) != 1 || !validated.Valid || expired {
		return "", "", 0, errThreePIDAuth()
	}
	return medium, address, validated.Int64, nil
}

func (s *Service) endValidation(ctx context.Context, sid string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM threepid_validation_sessions WHERE session_id = $1`, sid)
	return err
}

// UserByThreePID returns the active account the address is bound to, or ""
// when there is none.
func (s *Service) UserByThreePID(ctx context.Context, medium, address string) (id.UserID, error) {
	var userID id.UserID
	err := s.db.QueryRow(ctx, `SELECT t.user_id FROM user_threepids t JOIN users u ON u.user_id = t.user_id
		WHERE t.medium = $1 AND t.address = $2 AND NOT u.deactivated`, medium, strings.ToLower(address)).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return userID, err
}

// ThreePIDs lists the addresses bound to userID, oldest first.
func (s *Service) ThreePIDs(ctx context.Context, userID id.UserID) ([]ThreePID, error) {
	rows, err := s.db.Query(ctx, `SELECT medium, address, validated_ts, added_ts FROM user_threepids
		WHERE user_id = $1 ORDER BY added_ts, address`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ThreePID{}
	for rows.Next() {
		var t ThreePID
		if err := rows.Scan(&t.Medium, &t.Address, &t.ValidatedAt, &t.AddedAt); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// AddThreePID binds the address proved by a validated session to userID
// and ends the session. 400 M_THREEPID_AUTH_FAILED for a session not
// validated, 400 M_THREEPID_IN_USE when another account has the address.
// Binding an address the user already has succeeds.
func (s *Service) AddThreePID(ctx context.Context, userID id.UserID, sid, clientSecret string) error {
	medium, address, validated, err := s.ValidatedThreePID(ctx, sid, clientSecret)
	if err != nil {
		return err
	}
	owner, err := s.UserByThreePID(ctx, medium, address)
	if err != nil {
		return err
	}
	if owner == userID {
		return s.endValidation(ctx, sid)
	}
	if owner != "" {
		return errThreePIDInUse()
	}
	_, err = s.db.Exec(ctx, `INSERT INTO user_threepids (user_id, medium, address, validated_ts, added_ts)
		VALUES ($1, $2, $3, $4, $5)`, userID, medium, address, validated, s.nowMS())
	if err != nil && s.db.IsUniqueViolation(err) {
		return errThreePIDInUse()
	} else if err != nil {
		return err
	}
	return s.endValidation(ctx, sid)
}

func errThreePIDInUse() *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "M_THREEPID_IN_USE", "This address is already in use by another account")
}

// CheckThreePIDFree returns 400 M_THREEPID_IN_USE when the address is bound
// to any account (deactivated ones release theirs).
func (s *Service) CheckThreePIDFree(ctx context.Context, medium, address string) error {
	owner, err := s.UserByThreePID(ctx, medium, address)
	if err != nil {
		return err
	}
	if owner != "" {
		return errThreePIDInUse()
	}
	return nil
}

// DeleteThreePID unbinds an address from userID; unbinding an address the
// user does not have is not an error.
func (s *Service) DeleteThreePID(ctx context.Context, userID id.UserID, medium, address string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3`,
		userID, medium, strings.ToLower(address))
	return err
}

// ResetPassword sets a new password for the account owning the address
// proved by a validated session, then ends the session. With logoutDevices
// every device of the account is logged out. It returns the account.
func (s *Service) ResetPassword(ctx context.Context, sid, clientSecret, newPassword string, logoutDevices bool) (id.UserID, error) {
	if err := checkNewPassword(newPassword); err != nil {
		return "", err
	}
	medium, address, _, err := s.ValidatedThreePID(ctx, sid, clientSecret)
	if err != nil {
		return "", err
	}
	userID, err := s.UserByThreePID(ctx, medium, address)
	if err != nil {
		return "", err
	}
	if userID == "" {
		return "", httpx.NewError(http.StatusBadRequest, "M_THREEPID_NOT_FOUND", "No account has this address")
	}
	if err := s.ChangePassword(ctx, userID, newPassword, logoutDevices, ""); err != nil {
		return "", err
	}
	return userID, s.endValidation(ctx, sid)
}

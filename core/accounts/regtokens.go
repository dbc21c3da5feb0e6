package accounts

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// RegistrationToken allows registration when registration_requires_token
// is set. Nil UsesAllowed means unlimited; nil ExpiryTime (ms) means never.
type RegistrationToken struct {
	Token       string `json:"token"`
	UsesAllowed *int64 `json:"uses_allowed"`
	Pending     int64  `json:"pending"`
	Completed   int64  `json:"completed"`
	ExpiryTime  *int64 `json:"expiry_time"`
}

const maxRegistrationTokenLength = 64

// validTokenChars are the characters the spec allows in registration tokens.
func validTokenChars(tok string) bool {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

// CreateRegistrationToken stores t; an empty t.Token gets a random 16
// character one. It returns the stored token.
func (s *Service) CreateRegistrationToken(ctx context.Context, t RegistrationToken) (*RegistrationToken, error) {
	if t.Token == "" {
		t.Token = randomToken(16)
	}
	if len(t.Token) > maxRegistrationTokenLength || !validTokenChars(t.Token) {
		return nil, httpx.InvalidParam("token must be at most %d characters of [A-Za-z0-9._~-]", maxRegistrationTokenLength)
	}
	if t.UsesAllowed != nil && *t.UsesAllowed < 0 {
		return nil, httpx.InvalidParam("uses_allowed must be a non-negative integer or null")
	}
	t.Pending, t.Completed = 0, 0
	_, err := s.db.Exec(ctx, `INSERT INTO registration_tokens (token, uses_allowed, expiry_time) VALUES ($1, $2, $3)`,
		t.Token, t.UsesAllowed, t.ExpiryTime)
	if err != nil && s.db.IsUniqueViolation(err) {
		return nil, httpx.InvalidParam("Token already exists")
	}
	return &t, err
}

// RegistrationTokens lists every registration token.
func (s *Service) RegistrationTokens(ctx context.Context) ([]RegistrationToken, error) {
	rows, err := s.db.Query(ctx, `SELECT token, uses_allowed, pending, completed, expiry_time FROM registration_tokens ORDER BY token`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RegistrationToken{}
	for rows.Next() {
		var (
			t            RegistrationToken
			uses, expiry sql.NullInt64
		)
		if err := rows.Scan(&t.Token, &uses, &t.Pending, &t.Completed, &expiry); err != nil {
			return nil, err
		}
		if uses.Valid {
			t.UsesAllowed = &uses.Int64
		}
		if expiry.Valid {
			t.ExpiryTime = &expiry.Int64
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteRegistrationToken removes a token, or returns storage.ErrNotFound.
func (s *Service) DeleteRegistrationToken(ctx context.Context, token string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM registration_tokens WHERE token = $1`, token)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// RegistrationTokenValid reports whether token exists, has not expired and
// has uses left.
func (s *Service) RegistrationTokenValid(ctx context.Context, token string) (bool, error) {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM registration_tokens WHERE token = $1 AND `+tokenUsable, token, s.nowMS()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// tokenUsable is the condition for a token row to allow one more
// registration at time $2.
const tokenUsable = `(uses_allowed IS NULL OR pending + completed < uses_allowed)
	AND (expiry_time IS NULL OR expiry_time > $2)`

// consumeRegistrationToken spends one use of token inside the transaction
// that creates the account.
func (s *Service) consumeRegistrationToken(ctx context.Context, tx *storage.Tx, token string) error {
	res, err := tx.Exec(ctx, `UPDATE registration_tokens SET completed = completed + 1 WHERE token = $1 AND `+tokenUsable,
		token, s.nowMS())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return httpx.NewError(401, "M_UNAUTHORIZED", "Registration token is not valid")
	}
	return nil
}

func randomToken(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	for i, b := range buf {
		buf[i] = chars[int(b)%len(chars)]
	}
	return string(buf)
}

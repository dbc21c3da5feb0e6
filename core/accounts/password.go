package accounts

import (
	"context"
	"database/sql"
	"errors"

	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// MaxPasswordLength is Synapse's limit on passwords, in bytes.
const MaxPasswordLength = 512

// bcryptInputLimit is how many bytes bcrypt reads. Go's bcrypt rejects
// longer input; Python's (and so Synapse's hashes) silently ignore the rest.
// Truncating the same way keeps hashes imported from Synapse verifiable.
const bcryptInputLimit = 72

func passwordInput(pw string) []byte {
	b := []byte(pw)
	if len(b) > bcryptInputLimit {
		b = b[:bcryptInputLimit]
	}
	return b
}

// checkNewPassword returns a client error for a password that cannot be set.
func checkNewPassword(pw string) error {
	if pw == "" {
		return httpx.MissingParam("Password must not be empty")
	}
	if len(pw) > MaxPasswordLength {
		return httpx.InvalidParam("Password is longer than %d bytes", MaxPasswordLength)
	}
	return nil
}

func (s *Service) hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(passwordInput(pw), s.cost)
	return string(h), err
}

// spendBcrypt costs as much as checking a real password, so that a login
// for an unknown user takes as long as one for a known user with a wrong
// password and response times don't reveal which accounts exist.
func (s *Service) spendBcrypt(pw string) {
	s.dummyOnce.Do(func() { s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("gatehouse"), s.cost) })
	_ = bcrypt.CompareHashAndPassword(s.dummyHash, passwordInput(pw))
}

// errBadLogin is the one answer for an unknown user and a wrong password.
func errBadLogin() *httpx.Error { return httpx.Forbidden("Invalid username or password") }

// errDeactivated is the answer (403 M_USER_DEACTIVATED) for logins to a
// deactivated account.
func errDeactivated() *httpx.Error {
	return httpx.NewError(403, "M_USER_DEACTIVATED", "This account has been deactivated")
}

// CheckPassword verifies userID's password. It returns 403 M_FORBIDDEN for
// an unknown user, a wrong password or an account without a password, and
// 403 M_USER_DEACTIVATED for a deactivated account.
func (s *Service) CheckPassword(ctx context.Context, userID id.UserID, password string) error {
	var (
		hash        sql.NullString
		deactivated bool
	)
	err := s.db.QueryRow(ctx, `SELECT password_hash, deactivated FROM users WHERE user_id = $1`, userID).
		Scan(&hash, &deactivated)
	if errors.Is(err, sql.ErrNoRows) {
		s.spendBcrypt(password)
		return errBadLogin()
	} else if err != nil {
		return err
	}
	if deactivated {
		s.spendBcrypt(password)
		return errDeactivated()
	}
	if !hash.Valid || hash.String == "" {
		s.spendBcrypt(password)
		return errBadLogin()
	}
	if bcrypt.CompareHashAndPassword([]byte(hash.String), passwordInput(password)) != nil {
		return errBadLogin()
	}
	return nil
}

// ChangePassword sets userID's password. When logoutDevices is true every
// other device (and so every other access token) is deleted, keeping only
// keepDevice, the device that asked for the change.
func (s *Service) ChangePassword(ctx context.Context, userID id.UserID, newPassword string, logoutDevices bool, keepDevice id.DeviceID) error {
	if err := checkNewPassword(newPassword); err != nil {
		return err
	}
	hash, err := s.hashPassword(newPassword)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE user_id = $2 AND NOT deactivated`, hash, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return httpx.NotFound("User not found")
	}
	if !logoutDevices {
		return nil
	}
	devices, err := s.Devices(ctx, userID)
	if err != nil {
		return err
	}
	var others []id.DeviceID
	for _, d := range devices {
		if d.DeviceID != keepDevice {
			others = append(others, d.DeviceID)
		}
	}
	return s.DeleteDevices(ctx, userID, others)
}

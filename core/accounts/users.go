package accounts

import (
	"context"
	"database/sql"
	"errors"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// RegisterParams describes a new account.
type RegisterParams struct {
	Localpart string
	// Password may be empty only for appservice users, which log in with
	// the appservice's token instead.
	Password string
	IsAdmin  bool
	IsGuest  bool
	// AppServiceID marks the account as created by that appservice.
	AppServiceID string
	// DisplayName defaults to the localpart, as in Synapse.
	DisplayName string
	// RegistrationToken, when set, is consumed in the same transaction that
	// creates the account, so a token's last use cannot be spent twice.
	RegistrationToken string
}

// User is an account's stored state.
type User struct {
	UserID       id.UserID
	IsAdmin      bool
	IsGuest      bool
	Deactivated  bool
	AppServiceID string
	DisplayName  string
	AvatarURL    string
	HasPassword  bool
	// CreatedTS is in milliseconds.
	CreatedTS int64
}

// CheckAvailable reports whether localpart could be registered now: it
// returns M_INVALID_USERNAME, M_USER_IN_USE or M_EXCLUSIVE (when an
// appservice other than appServiceID claims the ID) otherwise.
func (s *Service) CheckAvailable(ctx context.Context, localpart, appServiceID string) error {
	if err := s.ValidateLocalpart(localpart); err != nil {
		return err
	}
	userID := s.UserID(localpart)
	if err := s.checkNamespace(userID, appServiceID); err != nil {
		return err
	}
	exists, err := s.UserExists(ctx, userID)
	if err != nil {
		return err
	}
	if exists {
		return httpx.UserInUse()
	}
	return nil
}

func (s *Service) checkNamespace(userID id.UserID, appServiceID string) error {
	if s.appsvc == nil {
		return nil
	}
	if owner := s.appsvc.ExclusiveOwner(userID); owner != "" && owner != appServiceID {
		return httpx.Exclusive("User ID is reserved by an application service")
	}
	if appServiceID != "" && !s.appsvc.InNamespace(appServiceID, userID) {
		return httpx.Exclusive("User ID is not in the application service's namespace")
	}
	return nil
}

// Register creates an account and returns its user ID. It does not log in;
// call Login for a device and token.
func (s *Service) Register(ctx context.Context, p RegisterParams) (id.UserID, error) {
	if err := s.ValidateLocalpart(p.Localpart); err != nil {
		return "", err
	}
	userID := s.UserID(p.Localpart)
	if err := s.checkNamespace(userID, p.AppServiceID); err != nil {
		return "", err
	}
	var hash sql.NullString
	if p.Password != "" || p.AppServiceID == "" {
		if err := checkNewPassword(p.Password); err != nil {
			return "", err
		}
		h, err := s.hashPassword(p.Password)
		if err != nil {
			return "", err
		}
		hash = sql.NullString{String: h, Valid: true}
	}
	display := p.DisplayName
	if display == "" {
		display = p.Localpart
	}
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		if p.RegistrationToken != "" {
			if err := s.consumeRegistrationToken(ctx, tx, p.RegistrationToken); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO users (user_id, localpart, password_hash, is_admin, is_guest,
			appservice_id, displayname, created_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			userID, p.Localpart, hash, p.IsAdmin, p.IsGuest, nullString(p.AppServiceID), display, s.nowMS())
		return err
	})
	if err != nil && s.db.IsUniqueViolation(err) {
		return "", httpx.UserInUse()
	}
	return userID, err
}

// UserExists reports whether userID has an account, deactivated or not
// (a deactivated account's ID is never reused).
func (s *Service) UserExists(ctx context.Context, userID id.UserID) (bool, error) {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM users WHERE user_id = $1`, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

const userColumns = `user_id, is_admin, is_guest, deactivated, appservice_id, displayname, avatar_url,
	password_hash IS NOT NULL, created_ts`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var (
		u                     User
		asID, display, avatar sql.NullString
	)
	err := row.Scan(&u.UserID, &u.IsAdmin, &u.IsGuest, &u.Deactivated, &asID, &display, &avatar, &u.HasPassword, &u.CreatedTS)
	if err != nil {
		return nil, err
	}
	u.AppServiceID, u.DisplayName, u.AvatarURL = asID.String, display.String, avatar.String
	return &u, nil
}

// GetUser returns userID's account or storage.ErrNotFound.
func (s *Service) GetUser(ctx context.Context, userID id.UserID) (*User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE user_id = $1`, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	return u, err
}

// SetAdmin grants or revokes server admin rights.
func (s *Service) SetAdmin(ctx context.Context, userID id.UserID, admin bool) error {
	res, err := s.db.Exec(ctx, `UPDATE users SET is_admin = $1 WHERE user_id = $2`, admin, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return storage.ErrNotFound
	}
	s.tokens.invalidateUser(userID)
	return nil
}

// Deactivate closes userID's account for good: its password, devices and
// access tokens and email addresses are removed, and with erase its profile is cleared too. The
// row stays so the ID is never registered again. Hooks registered with
// OnDeviceChange and OnDeactivate run afterwards.
func (s *Service) Deactivate(ctx context.Context, userID id.UserID, erase bool) error {
	var devices []id.DeviceID
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE users SET deactivated = TRUE, password_hash = NULL WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return storage.ErrNotFound
		}
		if erase {
			if _, err := tx.Exec(ctx, `UPDATE users SET displayname = NULL, avatar_url = NULL WHERE user_id = $1`, userID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM access_tokens WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM user_threepids WHERE user_id = $1`, userID); err != nil {
			return err
		}
		devices, err = deleteReturning(ctx, tx, `DELETE FROM devices WHERE user_id = $1 RETURNING device_id`, userID)
		return err
	})
	if err != nil {
		return err
	}
	s.tokens.invalidateUser(userID)
	s.fireDevice(ctx, deviceChanges(userID, devices, DeviceDeleted)...)
	s.fireDeactivate(ctx, userID)
	return nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

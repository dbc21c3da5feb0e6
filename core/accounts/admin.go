package accounts

import (
	"context"
	"errors"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// UserUpdate is a server admin's change to an account (Synapse's
// PUT /_synapse/admin/v2/users/{userId}). Nil fields are left alone.
type UserUpdate struct {
	Password *string
	// LogoutDevices deletes every device when the password changes.
	LogoutDevices bool
	DisplayName   *string
	AvatarURL     *string
	Admin         *bool
	Deactivated   *bool
}

// AdminSetUser creates userID with u, or applies u to the existing
// account; created says which. A new account needs no password (it then
// cannot log in with one, like Synapse's SSO-only users). Reactivating a
// deactivated account needs a password, as in Synapse. profileChanged is
// true when the display name or avatar changed, so the caller can update
// room memberships.
func (s *Service) AdminSetUser(ctx context.Context, userID id.UserID, u UserUpdate) (created, profileChanged bool, err error) {
	existing, err := s.GetUser(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, false, s.adminCreate(ctx, userID, u)
	} else if err != nil {
		return false, false, err
	}
	if u.Deactivated != nil && !*u.Deactivated && existing.Deactivated {
		if u.Password == nil {
			return false, false, httpx.MissingParam("Must provide a password to re-activate an account")
		}
		if _, err := s.db.Exec(ctx, `UPDATE users SET deactivated = FALSE WHERE user_id = $1`, userID); err != nil {
			return false, false, err
		}
		existing.Deactivated = false
	}
	if existing.Deactivated && (u.Password != nil || u.DisplayName != nil || u.AvatarURL != nil) {
		return false, false, httpx.BadRequest("The account is deactivated; set \"deactivated\": false with a password first")
	}
	if u.Password != nil {
		if err := s.ChangePassword(ctx, userID, *u.Password, u.LogoutDevices, ""); err != nil {
			return false, false, err
		}
	}
	if profileChanged, err = s.adminSetProfile(ctx, userID, existing, u); err != nil {
		return false, false, err
	}
	if u.Admin != nil && *u.Admin != existing.IsAdmin {
		if err := s.SetAdmin(ctx, userID, *u.Admin); err != nil {
			return false, false, err
		}
	}
	if u.Deactivated != nil && *u.Deactivated && !existing.Deactivated {
		if err := s.Deactivate(ctx, userID, false); err != nil {
			return false, false, err
		}
	}
	return false, profileChanged, nil
}

func (s *Service) adminSetProfile(ctx context.Context, userID id.UserID, existing *User, u UserUpdate) (bool, error) {
	changed := false
	if u.DisplayName != nil && *u.DisplayName != existing.DisplayName {
		if err := s.SetDisplayName(ctx, userID, *u.DisplayName); err != nil {
			return false, err
		}
		changed = true
	}
	if u.AvatarURL != nil && *u.AvatarURL != existing.AvatarURL {
		if err := s.SetAvatarURL(ctx, userID, *u.AvatarURL); err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}

func (s *Service) adminCreate(ctx context.Context, userID id.UserID, u UserUpdate) error {
	localpart, _, err := userID.Parse()
	if err != nil {
		return httpx.InvalidParam("Invalid user ID %q", userID)
	}
	p := RegisterParams{Localpart: localpart}
	if u.Password != nil {
		p.Password = *u.Password
	}
	if u.DisplayName != nil {
		p.DisplayName = *u.DisplayName
	}
	if u.Admin != nil {
		p.IsAdmin = *u.Admin
	}
	if p.Password != "" {
		if _, err := s.Register(ctx, p); err != nil {
			return err
		}
	} else if err := s.registerWithoutPassword(ctx, p); err != nil {
		return err
	}
	if u.AvatarURL != nil && *u.AvatarURL != "" {
		if err := s.SetAvatarURL(ctx, userID, *u.AvatarURL); err != nil {
			return err
		}
	}
	if u.Deactivated != nil && *u.Deactivated {
		return s.Deactivate(ctx, userID, false)
	}
	return nil
}

// registerWithoutPassword creates an account that cannot log in with a
// password; only admins create these.
func (s *Service) registerWithoutPassword(ctx context.Context, p RegisterParams) error {
	if err := s.CheckAvailable(ctx, p.Localpart, ""); err != nil {
		return err
	}
	display := p.DisplayName
	if display == "" {
		display = p.Localpart
	}
	_, err := s.db.Exec(ctx, `INSERT INTO users (user_id, localpart, password_hash, is_admin, is_guest,
		appservice_id, displayname, created_ts) VALUES ($1, $2, NULL, $3, FALSE, NULL, $4, $5)`,
		s.UserID(p.Localpart), p.Localpart, p.IsAdmin, display, s.nowMS())
	if err != nil && s.db.IsUniqueViolation(err) {
		return httpx.UserInUse()
	}
	return err
}

package accounts

import (
	"context"
	"database/sql"
	"errors"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Profile is the public profile stored with a local account. Empty strings
// mean unset.
type Profile struct {
	DisplayName string
	AvatarURL   string
}

// Profile returns a local user's profile, or storage.ErrNotFound for an
// unknown or deactivated user (the spec hides deactivated users' profiles).
func (s *Service) Profile(ctx context.Context, userID id.UserID) (Profile, error) {
	var (
		display, avatar sql.NullString
		deactivated     bool
	)
	err := s.db.QueryRow(ctx, `SELECT displayname, avatar_url, deactivated FROM users WHERE user_id = $1`, userID).
		Scan(&display, &avatar, &deactivated)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && deactivated) {
		return Profile{}, storage.ErrNotFound
	}
	return Profile{DisplayName: display.String, AvatarURL: avatar.String}, err
}

// SetDisplayName stores a display name; "" clears it. It does not update
// room memberships: the profile endpoint does that with the returned
// storage.ErrNotFound or nil.
func (s *Service) SetDisplayName(ctx context.Context, userID id.UserID, name string) error {
	return s.setProfileField(ctx, `UPDATE users SET displayname = $1 WHERE user_id = $2 AND NOT deactivated`, userID, name)
}

// SetAvatarURL stores an avatar mxc:// URL; "" clears it.
func (s *Service) SetAvatarURL(ctx context.Context, userID id.UserID, url string) error {
	return s.setProfileField(ctx, `UPDATE users SET avatar_url = $1 WHERE user_id = $2 AND NOT deactivated`, userID, url)
}

func (s *Service) setProfileField(ctx context.Context, query string, userID id.UserID, value string) error {
	res, err := s.db.Exec(ctx, query, nullString(value), userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

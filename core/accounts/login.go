package accounts

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"unicode/utf8"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

const (
	maxDeviceIDLength   = 255
	maxDeviceNameLength = 512
)

// LoginParams describes a new session for an already authenticated user.
type LoginParams struct {
	UserID id.UserID
	// DeviceID reuses that device (its older tokens are revoked, as the
	// spec requires); empty creates a new device.
	DeviceID id.DeviceID
	// DeviceName is the initial display name of a new device; it is
	// ignored for an existing one.
	DeviceName string
	IP         string
	UserAgent  string
}

// LoginResult is the new session.
type LoginResult struct {
	UserID      id.UserID
	DeviceID    id.DeviceID
	AccessToken string
}

// Login creates a device (or reuses p.DeviceID) and a fresh access token
// for a user whose credentials the caller has already checked. It fails
// with M_USER_DEACTIVATED for a deactivated account and M_FORBIDDEN for an
// unknown one.
func (s *Service) Login(ctx context.Context, p LoginParams) (*LoginResult, error) {
	if err := checkDeviceParams(p); err != nil {
		return nil, err
	}
	token, hash := newAccessToken()
	deviceID := p.DeviceID
	created := false
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		var deactivated bool
		err := tx.QueryRow(ctx, `SELECT deactivated FROM users WHERE user_id = $1`, p.UserID).Scan(&deactivated)
		if errors.Is(err, sql.ErrNoRows) {
			return errBadLogin()
		} else if err != nil {
			return err
		}
		if deactivated {
			return errDeactivated()
		}
		now := s.nowMS()
		created, err = s.insertDevice(ctx, tx, p, &deviceID, now)
		if err != nil {
			return err
		}
		if !created {
			if _, err := tx.Exec(ctx, `DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2`, p.UserID, deviceID); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES ($1, $2, $3, $4)`,
			hash, p.UserID, deviceID, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if created {
		s.fireDevice(ctx, DeviceChange{UserID: p.UserID, DeviceID: deviceID, Kind: DeviceAdded})
	} else {
		s.tokens.invalidateDevices(p.UserID, []id.DeviceID{deviceID})
	}
	return &LoginResult{UserID: p.UserID, DeviceID: deviceID, AccessToken: token}, nil
}

// insertDevice creates the device *deviceID, generating an ID when it is
// empty, and reports whether it was new. A generated ID that happens to
// exist is drawn again rather than taking over that device.
func (s *Service) insertDevice(ctx context.Context, tx *storage.Tx, p LoginParams, deviceID *id.DeviceID, now int64) (bool, error) {
	generate := *deviceID == ""
	for {
		if generate {
			*deviceID = newDeviceID()
		}
		res, err := tx.Exec(ctx, `INSERT INTO devices (user_id, device_id, display_name, last_seen_ts, last_seen_ip,
			user_agent, created_ts) VALUES ($1, $2, $3, $4, $5, $6, $4) ON CONFLICT (user_id, device_id) DO NOTHING`,
			p.UserID, *deviceID, nullString(p.DeviceName), now, nullString(p.IP), nullString(p.UserAgent))
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, err
		}
		if n == 1 || !generate {
			return n == 1, nil
		}
	}
}

func checkDeviceParams(p LoginParams) error {
	return ValidateDevice(p.DeviceID, p.DeviceName)
}

// ValidateDevice checks a client-chosen device ID and display name, so
// that /register can refuse them before creating the account rather than
// fail at the login that follows.
func ValidateDevice(deviceID id.DeviceID, name string) error {
	if len(deviceID) > maxDeviceIDLength || !utf8.ValidString(string(deviceID)) {
		return httpx.InvalidParam("device_id must be valid UTF-8 of at most %d bytes", maxDeviceIDLength)
	}
	if len(name) > maxDeviceNameLength {
		return httpx.InvalidParam("Device display name is longer than %d bytes", maxDeviceNameLength)
	}
	return nil
}

// newDeviceID returns ten random uppercase letters, the shape Synapse uses.
// 26^10 values make a collision with the user's few devices negligible.
func newDeviceID() id.DeviceID {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	buf := make([]byte, 10)
	_, _ = rand.Read(buf)
	for i, b := range buf {
		buf[i] = letters[int(b)%len(letters)]
	}
	return id.DeviceID(buf)
}

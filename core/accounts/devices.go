package accounts

import (
	"context"
	"database/sql"
	"errors"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// Device is one of a user's logged-in sessions.
type Device struct {
	UserID      id.UserID
	DeviceID    id.DeviceID
	DisplayName string
	// LastSeenTS is in milliseconds; 0 when never used since login.
	LastSeenTS int64
	LastSeenIP string
	UserAgent  string
	CreatedTS  int64
}

const deviceColumns = `user_id, device_id, display_name, last_seen_ts, last_seen_ip, user_agent, created_ts`

func scanDevice(row interface{ Scan(...any) error }) (Device, error) {
	var (
		d            Device
		name, ip, ua sql.NullString
		seen         sql.NullInt64
	)
	err := row.Scan(&d.UserID, &d.DeviceID, &name, &seen, &ip, &ua, &d.CreatedTS)
	d.DisplayName, d.LastSeenTS, d.LastSeenIP, d.UserAgent = name.String, seen.Int64, ip.String, ua.String
	return d, err
}

// Devices lists userID's devices, ordered by device ID.
func (s *Service) Devices(ctx context.Context, userID id.UserID) ([]Device, error) {
	rows, err := s.db.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY device_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Device returns one of userID's devices or storage.ErrNotFound.
func (s *Service) Device(ctx context.Context, userID id.UserID, deviceID id.DeviceID) (*Device, error) {
	d, err := scanDevice(s.db.QueryRow(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 AND device_id = $2`,
		userID, deviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// RenameDevice sets a device's display name, or returns storage.ErrNotFound.
func (s *Service) RenameDevice(ctx context.Context, userID id.UserID, deviceID id.DeviceID, name string) error {
	if len(name) > maxDeviceNameLength {
		return httpx.InvalidParam("Device display name is longer than %d bytes", maxDeviceNameLength)
	}
	res, err := s.db.Exec(ctx, `UPDATE devices SET display_name = $1 WHERE user_id = $2 AND device_id = $3`,
		nullString(name), userID, deviceID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return storage.ErrNotFound
	}
	s.fireDevice(ctx, DeviceChange{UserID: userID, DeviceID: deviceID, Kind: DeviceRenamed})
	return nil
}

// deleteBatch keeps IN lists well under every driver's parameter limit.
const deleteBatch = 500

// DeleteDevices deletes devices and their access tokens; IDs that are not
// userID's devices are ignored. OnDeviceChange hooks see each deleted one.
func (s *Service) DeleteDevices(ctx context.Context, userID id.UserID, deviceIDs []id.DeviceID) error {
	var deleted []id.DeviceID
	for start := 0; start < len(deviceIDs); start += deleteBatch {
		batch := deviceIDs[start:min(start+deleteBatch, len(deviceIDs))]
		args := make([]any, 0, len(batch)+1)
		args = append(args, userID)
		for _, d := range batch {
			args = append(args, d)
		}
		in := storage.Placeholders(2, len(batch))
		err := s.db.InTx(ctx, func(tx *storage.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM access_tokens WHERE user_id = $1 AND device_id IN (`+in+`)`, args...); err != nil {
				return err
			}
			ids, err := deleteReturning(ctx, tx, `DELETE FROM devices WHERE user_id = $1 AND device_id IN (`+in+`) RETURNING device_id`, args...)
			deleted = append(deleted, ids...)
			return err
		})
		if err != nil {
			return err
		}
	}
	s.tokens.invalidateDevices(userID, deviceIDs)
	s.fireDevice(ctx, deviceChanges(userID, deleted, DeviceDeleted)...)
	return nil
}

// Logout ends the caller's session: its token and, as the spec requires,
// its device. An appservice caller has no device and nothing to end.
func (s *Service) Logout(ctx context.Context, c *httpx.Caller) error {
	if c.DeviceID == "" || c.AppServiceID != "" {
		return nil
	}
	return s.DeleteDevices(ctx, c.UserID, []id.DeviceID{c.DeviceID})
}

// LogoutAll deletes all of userID's devices and tokens.
func (s *Service) LogoutAll(ctx context.Context, userID id.UserID) error {
	devices, err := s.Devices(ctx, userID)
	if err != nil {
		return err
	}
	ids := make([]id.DeviceID, len(devices))
	for i, d := range devices {
		ids[i] = d.DeviceID
	}
	return s.DeleteDevices(ctx, userID, ids)
}

func deleteReturning(ctx context.Context, tx *storage.Tx, query string, args ...any) ([]id.DeviceID, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []id.DeviceID
	for rows.Next() {
		var d id.DeviceID
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func deviceChanges(userID id.UserID, devices []id.DeviceID, kind DeviceChangeKind) []DeviceChange {
	out := make([]DeviceChange, len(devices))
	for i, d := range devices {
		out[i] = DeviceChange{UserID: userID, DeviceID: d, Kind: kind}
	}
	return out
}

// EnsureDevice creates a device without an access token, or renames an
// existing one when name is not empty. Appservices use it to create devices
// for their users (MSC4190); the appservice authenticates with its as_token.
func (s *Service) EnsureDevice(ctx context.Context, userID id.UserID, deviceID id.DeviceID, name string) error {
	p := LoginParams{UserID: userID, DeviceID: deviceID, DeviceName: name}
	if deviceID == "" {
		return httpx.MissingParam("Missing device ID")
	}
	if err := checkDeviceParams(p); err != nil {
		return err
	}
	var created bool
	err := s.db.InTx(ctx, func(tx *storage.Tx) error {
		var deactivated bool
		err := tx.QueryRow(ctx, `SELECT deactivated FROM users WHERE user_id = $1`, userID).Scan(&deactivated)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && deactivated) {
			return httpx.Forbidden("User %s does not exist", userID)
		} else if err != nil {
			return err
		}
		created, err = s.insertDevice(ctx, tx, p, &deviceID, s.nowMS())
		return err
	})
	if err != nil {
		return err
	}
	if created {
		s.fireDevice(ctx, DeviceChange{UserID: userID, DeviceID: deviceID, Kind: DeviceAdded})
		return nil
	}
	if name != "" {
		return s.RenameDevice(ctx, userID, deviceID, name)
	}
	return nil
}

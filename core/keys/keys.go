// Package keys owns the server side of end-to-end encryption keys: device
// identity keys, one-time and fallback keys (/keys/upload, /keys/query,
// /keys/claim), cross-signing keys and signatures
// (/keys/device_signing/upload, /keys/signatures/upload), the device list
// changes /sync and /keys/changes report, and MSC3814 dehydrated devices.
//
// The server never sees private keys and trusts no key for its own
// purposes; it checks shapes and signatures so that clients get clear errors
// for broken uploads, and so that a signature upload cannot attach a
// signature over data other than the stored key.
//
// Changes others must learn about (a device's keys, a user's cross-signing
// keys, a device added or deleted) are written through the stream writer as
// stream.KindDeviceList with the owner and everyone sharing a room with them
// in Change.UserIDs, and leave a device_list_changes row at their position.
// The package reads the accounts domain's devices table (display names,
// device existence) and the rooms domain's current_state and events tables
// (who shares a room with whom, who joined or left); it writes neither.
package keys

import (
	"context"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// Devices is what the dehydrated-device endpoints need from the accounts
// domain; *accounts.Service implements it.
type Devices interface {
	// Device returns one of the user's devices or storage.ErrNotFound.
	Device(ctx context.Context, userID id.UserID, deviceID id.DeviceID) (*accounts.Device, error)
	// EnsureDevice creates a device without an access token.
	EnsureDevice(ctx context.Context, userID id.UserID, deviceID id.DeviceID, name string) error
	// DeleteDevices deletes devices, firing the OnDeviceChange hooks.
	DeleteDevices(ctx context.Context, userID id.UserID, deviceIDs []id.DeviceID) error
}

// Service stores and serves E2EE keys.
type Service struct {
	db         *storage.DB
	w          *stream.Writer
	serverName string
	devices    Devices
	log        zerolog.Logger
	onChange   []ChangeHook
}

// ChangeHook runs inside the transaction that records a device list change
// for userID (appservices queue it for MSC3202 transactions). It must only
// write to tx.
type ChangeHook func(ctx context.Context, tx *storage.Tx, pos int64, userID id.UserID) error

// OnDeviceListChange registers h; call before serving.
func (s *Service) OnDeviceListChange(h ChangeHook) { s.onChange = append(s.onChange, h) }

// New returns a Service for serverName's users. devices may be nil when
// dehydrated devices are not served.
func New(db *storage.DB, w *stream.Writer, serverName string, devices Devices, log zerolog.Logger) *Service {
	return &Service{db: db, w: w, serverName: serverName, devices: devices, log: log}
}

// OnDeviceChange keeps keys in step with the accounts domain; register it
// with accounts.Service.OnDeviceChange. A deleted device loses its keys and
// its owner's contacts hear of it; a new or renamed device is announced too,
// since /keys/query shows display names.
func (s *Service) OnDeviceChange(ctx context.Context, c accounts.DeviceChange) {
	var err error
	if c.Kind == accounts.DeviceDeleted {
		err = s.deleteDevice(ctx, c.UserID, c.DeviceID)
	} else {
		err = s.announce(ctx, c.UserID, nil)
	}
	if err != nil {
		s.log.Err(err).Stringer("user_id", c.UserID).Stringer("device_id", c.DeviceID).
			Msg("Failed to record device list change")
	}
}

func (s *Service) deleteDevice(ctx context.Context, userID id.UserID, deviceID id.DeviceID) error {
	return s.announce(ctx, userID, func(ctx context.Context, tx *storage.Tx) error {
		for _, table := range []string{"e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE user_id = $1 AND device_id = $2`, userID, deviceID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM dehydrated_devices WHERE user_id = $1 AND device_id = $2`, userID, deviceID)
		return err
	})
}

// announce commits write (which may be nil) together with a device list
// change for userID, waking userID and everyone sharing a room with them.
func (s *Service) announce(ctx context.Context, userID id.UserID, write func(ctx context.Context, tx *storage.Tx) error) error {
	audience, err := s.audience(ctx, userID)
	if err != nil {
		return err
	}
	_, err = s.w.Submit(ctx, stream.Change{Kind: stream.KindDeviceList, UserIDs: audience},
		func(ctx context.Context, tx *storage.Tx, pos int64) error {
			if write != nil {
				if err := write(ctx, tx); err != nil {
					return err
				}
			}
			if err := recordChange(ctx, tx, pos, userID, ""); err != nil {
				return err
			}
			for _, h := range s.onChange {
				if err := h(ctx, tx, pos, userID); err != nil {
					return err
				}
			}
			return nil
		})
	return err
}

func recordChange(ctx context.Context, tx *storage.Tx, pos int64, userID id.UserID, viewer id.UserID) error {
	_, err := tx.Exec(ctx, `INSERT INTO device_list_changes (stream_pos, user_id, viewer) VALUES ($1, $2, $3)
		ON CONFLICT (stream_pos, user_id, viewer) DO NOTHING`, pos, userID, viewer)
	return err
}

// sharedUsers selects the users joined to a room $1 is joined to.
const sharedUsers = `
	SELECT b.state_key FROM current_state a JOIN current_state b ON b.room_id = a.room_id
	WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'
	AND b.type = 'm.room.member' AND b.membership = 'join'`

// audience lists userID and every user sharing a room with them: whom a
// change to userID's devices must wake.
func (s *Service) audience(ctx context.Context, userID id.UserID) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT state_key FROM (`+sharedUsers+`) AS shared`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{string(userID)}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		if u != string(userID) {
			out = append(out, u)
		}
	}
	return out, rows.Err()
}

// isLocal reports whether userID is a well-formed user of this server.
func (s *Service) isLocal(userID id.UserID) bool {
	_, server, err := userID.Parse()
	return err == nil && len(userID) > 0 && userID[0] == '@' && server == s.serverName
}

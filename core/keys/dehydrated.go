package keys

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// MSC3814: a dehydrated device is an ordinary device of the user, without
// an access token, whose keys are published so others encrypt to it while
// all the user's clients are offline. Its private keys live encrypted in
// device_data, which only the user's clients can open.

// DehydratedRequest is the body of PUT /dehydrated_device.
type DehydratedRequest struct {
	DeviceID                 id.DeviceID                `json:"device_id"`
	DeviceData               json.RawMessage            `json:"device_data"`
	InitialDeviceDisplayName string                     `json:"initial_device_display_name,omitempty"`
	DeviceKeys               json.RawMessage            `json:"device_keys,omitempty"`
	OneTimeKeys              map[string]json.RawMessage `json:"one_time_keys,omitempty"`
	FallbackKeys             map[string]json.RawMessage `json:"fallback_keys,omitempty"`
}

const defaultDehydratedName = "Dehydrated device"

// PutDehydrated replaces the user's dehydrated device with a new one and
// publishes its keys. caller is the requesting device, which cannot
// become the dehydrated device.
func (s *Service) PutDehydrated(ctx context.Context, user id.UserID, caller id.DeviceID, req DehydratedRequest) (id.DeviceID, error) {
	if s.devices == nil {
		return "", httpx.Unrecognized("Dehydrated devices are not enabled")
	}
	dev := req.DeviceID
	if dev == "" || len(dev) > 255 {
		return "", httpx.MissingParam("Missing device_id")
	}
	data := bytes.TrimSpace(req.DeviceData)
	if len(data) == 0 || data[0] != '{' {
		return "", httpx.BadJSON("device_data must be a JSON object")
	}
	if len(req.DeviceKeys) == 0 || isNull(req.DeviceKeys) {
		return "", httpx.MissingParam("Missing device_keys")
	}
	up := UploadRequest{DeviceKeys: req.DeviceKeys, OneTimeKeys: req.OneTimeKeys, FallbackKeys: req.FallbackKeys}
	if _, err := parseUpload(up, user, dev); err != nil {
		return "", err
	}
	current, _, err := s.GetDehydrated(ctx, user)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return "", err
	}
	if dev != current {
		if dev == caller {
			return "", httpx.InvalidParam("The dehydrated device cannot be the requesting device")
		}
		if _, err := s.devices.Device(ctx, user, dev); err == nil {
			return "", httpx.InvalidParam("Device ID %s is already in use", dev)
		} else if !errors.Is(err, storage.ErrNotFound) {
			return "", err
		}
		if current != "" {
			if err := s.devices.DeleteDevices(ctx, user, []id.DeviceID{current}); err != nil {
				return "", err
			}
		}
	}
	name := req.InitialDeviceDisplayName
	if name == "" {
		name = defaultDehydratedName
	}
	if err := s.devices.EnsureDevice(ctx, user, dev, name); err != nil {
		return "", err
	}
	if _, err := s.Upload(ctx, user, dev, up); err != nil {
		return "", err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return "", httpx.BadJSON("device_data is not valid JSON")
	}
	_, err = s.db.Exec(ctx, `INSERT INTO dehydrated_devices (user_id, device_id, device_data) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET device_id = excluded.device_id, device_data = excluded.device_data`,
		user, dev, compact.String())
	return dev, err
}

// GetDehydrated returns the user's dehydrated device ID and device_data,
// or storage.ErrNotFound.
func (s *Service) GetDehydrated(ctx context.Context, user id.UserID) (id.DeviceID, json.RawMessage, error) {
	var dev id.DeviceID
	var data string
	err := s.db.QueryRow(ctx, `SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = $1`, user).Scan(&dev, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, storage.ErrNotFound
	}
	return dev, json.RawMessage(data), err
}

// DeleteDehydrated deletes the user's dehydrated device (and, through the
// device hooks, its keys and to-device queue) and returns its ID, or
// storage.ErrNotFound.
func (s *Service) DeleteDehydrated(ctx context.Context, user id.UserID) (id.DeviceID, error) {
	if s.devices == nil {
		return "", httpx.Unrecognized("Dehydrated devices are not enabled")
	}
	dev, _, err := s.GetDehydrated(ctx, user)
	if err != nil {
		return "", err
	}
	if err := s.devices.DeleteDevices(ctx, user, []id.DeviceID{dev}); err != nil {
		return "", err
	}
	_, err = s.db.Exec(ctx, `DELETE FROM dehydrated_devices WHERE user_id = $1`, user)
	return dev, err
}

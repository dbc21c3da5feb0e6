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

// UploadRequest is the body of POST /keys/upload.
type UploadRequest struct {
	DeviceKeys   json.RawMessage            `json:"device_keys,omitempty"`
	OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys,omitempty"`
	FallbackKeys map[string]json.RawMessage `json:"fallback_keys,omitempty"`
}

// upload is a validated UploadRequest.
type upload struct {
	device   *deviceKey
	otks     []oneTimeKey
	fallback []oneTimeKey
}

func parseUpload(req UploadRequest, user id.UserID, device id.DeviceID) (*upload, error) {
	var u upload
	var err error
	if len(req.DeviceKeys) > 0 && !isNull(req.DeviceKeys) {
		if u.device, err = parseDeviceKeys(req.DeviceKeys, user, device); err != nil {
			return nil, err
		}
	}
	if u.otks, err = parseOneTimeKeys("one_time_keys", req.OneTimeKeys); err != nil {
		return nil, err
	}
	if u.fallback, err = parseOneTimeKeys("fallback_keys", req.FallbackKeys); err != nil {
		return nil, err
	}
	for i := 1; i < len(u.fallback); i++ {
		if u.fallback[i].Algorithm == u.fallback[i-1].Algorithm {
			return nil, httpx.InvalidParam("fallback_keys holds more than one key for %s", u.fallback[i].Algorithm)
		}
	}
	return &u, nil
}

// Upload stores the keys of user's device and returns its one-time key
// counts per algorithm. Re-uploading identical keys changes nothing; a
// one-time key ID reused for different key material is refused.
func (s *Service) Upload(ctx context.Context, user id.UserID, device id.DeviceID, req UploadRequest) (map[string]int, error) {
	if device == "" {
		return nil, httpx.InvalidParam("Keys can only be uploaded by a device")
	}
	u, err := parseUpload(req, user, device)
	if err != nil {
		return nil, err
	}
	if err := s.checkReused(ctx, user, device, u.otks); err != nil {
		return nil, err
	}
	changed := false
	if u.device != nil {
		if changed, err = s.mergeStored(ctx, user, device, u.device); err != nil {
			return nil, err
		}
	}
	write := func(ctx context.Context, tx *storage.Tx) error { return writeUpload(ctx, tx, user, device, u, changed) }
	if changed {
		err = s.announce(ctx, user, write)
	} else if len(u.otks) > 0 || len(u.fallback) > 0 {
		err = s.db.InTx(ctx, func(tx *storage.Tx) error { return write(ctx, tx) })
	}
	if err != nil {
		return nil, err
	}
	return s.OneTimeKeyCounts(ctx, user, device)
}

// mergeStored compares uploaded device keys with the stored ones. Identical
// keys keep the stored signatures (which may include cross-signing ones)
// plus any new ones, and report a change only if a signature was added.
func (s *Service) mergeStored(ctx context.Context, user id.UserID, device id.DeviceID, dk *deviceKey) (bool, error) {
	var stored string
	err := s.db.QueryRow(ctx, `SELECT key_json FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2`,
		user, device).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	old, err := splitSigned([]byte(stored))
	if err != nil || !bytes.Equal(old.Payload, dk.obj.Payload) {
		return true, err
	}
	merged, added := mergeSignatures(old.Signatures, dk.obj.Signatures)
	if !added {
		return false, nil
	}
	dk.JSON, err = dk.obj.withSignatures(merged)
	return true, err
}

// mergeSignatures returns base plus the signatures of extra it lacks.
func mergeSignatures(base, extra Signatures) (Signatures, bool) {
	out := Signatures{}
	for u, m := range base {
		out[u] = map[string]string{}
		for k, v := range m {
			out[u][k] = v
		}
	}
	added := false
	for u, m := range extra {
		for k, v := range m {
			if out[u] == nil {
				out[u] = map[string]string{}
			}
			if out[u][k] != v {
				out[u][k] = v
				added = true
			}
		}
	}
	return out, added
}

// checkReused refuses one-time key IDs already stored with other content.
func (s *Service) checkReused(ctx context.Context, user id.UserID, device id.DeviceID, otks []oneTimeKey) error {
	if len(otks) == 0 {
		return nil
	}
	args := []any{user, device}
	for _, k := range otks {
		args = append(args, k.Algorithm+":"+k.KeyID)
	}
	rows, err := s.db.Query(ctx, `SELECT algorithm, key_id, key_json FROM e2e_one_time_keys
		WHERE user_id = $1 AND device_id = $2 AND algorithm || ':' || key_id IN (`+storage.Placeholders(3, len(otks))+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	stored := map[string]string{}
	for rows.Next() {
		var alg, keyID, data string
		if err := rows.Scan(&alg, &keyID, &data); err != nil {
			return err
		}
		stored[alg+":"+keyID] = data
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range otks {
		if old, ok := stored[k.Algorithm+":"+k.KeyID]; ok && old != string(k.JSON) {
			return httpx.InvalidParam("One-time key %s:%s already exists with different key material", k.Algorithm, k.KeyID)
		}
	}
	return nil
}

func writeUpload(ctx context.Context, tx *storage.Tx, user id.UserID, device id.DeviceID, u *upload, deviceChanged bool) error {
	if u.device != nil && deviceChanged {
		_, err := tx.Exec(ctx, `INSERT INTO e2e_device_keys (user_id, device_id, key_json, ed25519) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json, ed25519 = excluded.ed25519`,
			user, device, string(u.device.JSON), u.device.ed25519)
		if err != nil {
			return err
		}
	}
	for start := 0; start < len(u.otks); start += 100 {
		chunk := u.otks[start:min(start+100, len(u.otks))]
		args := []any{user, device}
		values := make([]byte, 0, len(chunk)*24)
		for i, k := range chunk {
			if i > 0 {
				values = append(values, ", "...)
			}
			values = append(values, "($1, $2, "+storage.Placeholders(len(args)+1, 3)+")"...)
			args = append(args, k.Algorithm, k.KeyID, string(k.JSON))
		}
		_, err := tx.Exec(ctx, `INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json) VALUES `+
			string(values)+` ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING`, args...)
		if err != nil {
			return err
		}
	}
	for _, k := range u.fallback {
		_, err := tx.Exec(ctx, `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
			VALUES ($1, $2, $3, $4, $5, FALSE)
			ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id,
			key_json = excluded.key_json, used = (e2e_fallback_keys.key_id = excluded.key_id AND e2e_fallback_keys.used)`,
			user, device, k.Algorithm, k.KeyID, string(k.JSON))
		if err != nil {
			return err
		}
	}
	return nil
}

// OneTimeKeyCounts returns the device's unclaimed one-time keys per
// algorithm; signed_curve25519 is always present, as clients expect.
func (s *Service) OneTimeKeyCounts(ctx context.Context, user id.UserID, device id.DeviceID) (map[string]int, error) {
	counts, _, err := s.DeviceKeyCounts(ctx, user, device)
	return counts, err
}

// DeviceKeyCounts returns, in one query, the device's one-time key counts
// and the algorithms of its unused fallback keys (for /sync).
func (s *Service) DeviceKeyCounts(ctx context.Context, user id.UserID, device id.DeviceID) (map[string]int, []string, error) {
	rows, err := s.db.Query(ctx, `
		SELECT algorithm, COUNT(*), 0 FROM e2e_one_time_keys WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm
		UNION ALL
		SELECT algorithm, 0, 1 FROM e2e_fallback_keys WHERE user_id = $1 AND device_id = $2 AND used = FALSE`, user, device)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	counts := map[string]int{"signed_curve25519": 0}
	fallback := []string{}
	for rows.Next() {
		var alg string
		var n, isFallback int
		if err := rows.Scan(&alg, &n, &isFallback); err != nil {
			return nil, nil, err
		}
		if isFallback == 1 {
			fallback = append(fallback, alg)
		} else {
			counts[alg] = n
		}
	}
	return counts, fallback, rows.Err()
}

package keys

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

// CrossSigningRequest is the body of POST /keys/device_signing/upload
// (without "auth", which the handler takes care of).
type CrossSigningRequest struct {
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
	UserSigningKey json.RawMessage `json:"user_signing_key,omitempty"`
}

// crossUpload is a validated CrossSigningRequest.
type crossUpload struct {
	keys []*crossSigningKey
	// stored maps usage to the stored key's canonical JSON.
	stored map[string]string
}

// storedCrossSigning returns the user's stored cross-signing keys by usage:
// canonical JSON and public key.
func (s *Service) storedCrossSigning(ctx context.Context, user id.UserID) (map[string][2]string, error) {
	rows, err := s.db.Query(ctx, `SELECT key_type, key_json, public_key FROM e2e_cross_signing_keys WHERE user_id = $1`, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var usage, data, pub string
		if err := rows.Scan(&usage, &data, &pub); err != nil {
			return nil, err
		}
		out[usage] = [2]string{data, pub}
	}
	return out, rows.Err()
}

// prepareCrossSigning validates req against the stored keys. It reports
// whether the upload changes anything and whether it replaces an existing
// master key's set (which needs user-interactive auth).
func (s *Service) prepareCrossSigning(ctx context.Context, user id.UserID, req CrossSigningRequest) (*crossUpload, bool, error) {
	stored, err := s.storedCrossSigning(ctx, user)
	if err != nil {
		return nil, false, err
	}
	up := &crossUpload{stored: map[string]string{}}
	for usage, v := range stored {
		up.stored[usage] = v[0]
	}
	masterPub := stored[UsageMaster][1]
	for _, f := range []struct {
		raw   json.RawMessage
		usage string
	}{{req.MasterKey, UsageMaster}, {req.SelfSigningKey, UsageSelfSigning}, {req.UserSigningKey, UsageUserSigning}} {
		if len(f.raw) == 0 || isNull(f.raw) {
			continue
		}
		k, err := parseCrossSigningKey(f.raw, user, f.usage)
		if err != nil {
			return nil, false, err
		}
		if f.usage == UsageMaster {
			masterPub = k.Public
		} else if masterPub == "" {
			return nil, false, httpx.MissingParam("No master key is available to sign the %s key", f.usage)
		} else if !k.obj.verifiedBy(string(user), "ed25519:"+masterPub, masterPub) {
			return nil, false, InvalidSignature("The %s key is not signed by the master key", f.usage)
		}
		up.keys = append(up.keys, k)
	}
	if err := s.checkKeyIDsFree(ctx, user, up.keys); err != nil {
		return nil, false, err
	}
	changes := false
	for _, k := range up.keys {
		if up.stored[k.Usage] != string(k.JSON) {
			changes = true
		}
	}
	_, hadMaster := stored[UsageMaster]
	return up, changes && hadMaster, nil
}

// checkKeyIDsFree refuses public keys equal to one of the user's device
// IDs: /keys/signatures/upload names keys by device ID or public key.
func (s *Service) checkKeyIDsFree(ctx context.Context, user id.UserID, keys []*crossSigningKey) error {
	if len(keys) == 0 {
		return nil
	}
	args := []any{user}
	for _, k := range keys {
		args = append(args, k.Public)
	}
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM devices WHERE user_id = $1 AND device_id IN (`+
		storage.Placeholders(2, len(keys))+`) LIMIT 1`, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	return httpx.Forbidden("A cross-signing public key is the same as one of your device IDs")
}

// CrossSigningNeedsAuth reports whether uploading req would replace the
// user's existing cross-signing keys, which requires user-interactive
// authentication. A first upload, or re-uploading the same keys, does not
// (MSC3967). Invalid requests report the validation error.
func (s *Service) CrossSigningNeedsAuth(ctx context.Context, user id.UserID, req CrossSigningRequest) (bool, error) {
	_, replaces, err := s.prepareCrossSigning(ctx, user, req)
	return replaces, err
}

// UploadCrossSigning stores the user's cross-signing keys. The caller has
// already done user-interactive auth when CrossSigningNeedsAuth asked for
// it. Everyone sharing a room with the user sees them in
// device_lists.changed (the local form of m.signing_key_update).
func (s *Service) UploadCrossSigning(ctx context.Context, user id.UserID, req CrossSigningRequest) error {
	up, _, err := s.prepareCrossSigning(ctx, user, req)
	if err != nil {
		return err
	}
	var changed []*crossSigningKey
	for _, k := range up.keys {
		if up.stored[k.Usage] != string(k.JSON) {
			changed = append(changed, k)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	return s.announce(ctx, user, func(ctx context.Context, tx *storage.Tx) error {
		for _, k := range changed {
			_, err := tx.Exec(ctx, `INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json) VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = excluded.public_key, key_json = excluded.key_json`,
				user, k.Usage, k.Public, string(k.JSON))
			if err != nil {
				return err
			}
			// Signatures by a replaced user-signing key, or over a replaced
			// master key, no longer mean anything.
			switch k.Usage {
			case UsageMaster:
				_, err = tx.Exec(ctx, `DELETE FROM e2e_signatures WHERE target_user = $1 AND target_key <> $2`, user, k.Public)
			case UsageUserSigning:
				_, err = tx.Exec(ctx, `DELETE FROM e2e_signatures WHERE signer_user = $1 AND signer_key <> $2`, user, "ed25519:"+k.Public)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

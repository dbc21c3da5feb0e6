package keys

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// SignatureFailure is one entry of /keys/signatures/upload's failures.
type SignatureFailure struct {
	ErrCode string `json:"errcode"`
	Error   string `json:"error"`
}

// sigWrite is one accepted signature upload.
type sigWrite struct {
	// kind is "device", "master" (merged into the stored key's JSON) or
	// "other" (a user-signing signature over another user's master key).
	kind      string
	target    id.UserID
	keyID     string
	json      []byte
	signerKey string
	signature string
}

func sigFail(code, format string, a ...any) *SignatureFailure {
	e := httpx.NewError(400, code, format, a...)
	return &SignatureFailure{ErrCode: e.ErrCode, Error: e.Message}
}

// UploadSignatures answers POST /keys/signatures/upload for signer. Each
// object must be the stored key (signatures aside) and carry a valid
// signature by the right key: the signer's self-signing key over their own
// devices, one of their devices over their own master key, or their
// user-signing key over another user's master key. Anything else is
// reported in failures; the rest is stored.
func (s *Service) UploadSignatures(ctx context.Context, signer id.UserID, body map[id.UserID]map[string]json.RawMessage) (map[id.UserID]map[string]*SignatureFailure, error) {
	failures := map[id.UserID]map[string]*SignatureFailure{}
	signerKeys, err := s.storedCrossSigning(ctx, signer)
	if err != nil {
		return nil, err
	}
	var writes []sigWrite
	for target, objs := range body {
		for keyID, raw := range objs {
			w, fail, err := s.checkSignature(ctx, signer, signerKeys, target, keyID, raw)
			if err != nil {
				return nil, err
			}
			if fail != nil {
				if failures[target] == nil {
					failures[target] = map[string]*SignatureFailure{}
				}
				failures[target][keyID] = fail
				continue
			}
			writes = append(writes, w...)
		}
	}
	if len(writes) == 0 {
		return failures, nil
	}
	return failures, s.storeSignatures(ctx, signer, writes)
}

func (s *Service) checkSignature(ctx context.Context, signer id.UserID, signerKeys map[string][2]string, target id.UserID, keyID string, raw json.RawMessage) ([]sigWrite, *SignatureFailure, error) {
	obj, err := splitSigned(raw)
	if err != nil {
		return nil, sigFail("M_BAD_JSON", "Not a signed JSON object: %v", err), nil
	}
	mine := obj.Signatures[string(signer)]
	if len(mine) == 0 {
		return nil, sigFail("M_INVALID_SIGNATURE", "No signature by %s", signer), nil
	}
	if target != signer {
		return s.checkOtherMaster(ctx, signer, signerKeys, target, keyID, obj)
	}
	stored, _, err := s.storedDeviceKey(ctx, signer, keyID)
	if err != nil {
		return nil, nil, err
	}
	if stored != "" {
		ssk := signerKeys[UsageSelfSigning][1]
		if ssk == "" {
			return nil, sigFail("M_INVALID_SIGNATURE", "You have no self-signing key"), nil
		}
		return mergeInto("device", signer, keyID, stored, obj, map[string]string{"ed25519:" + ssk: ssk})
	}
	master := signerKeys[UsageMaster]
	if master[1] == "" || keyID != master[1] {
		return nil, sigFail("M_NOT_FOUND", "Unknown key %s", truncate(keyID)), nil
	}
	// A device signing its owner's master key.
	devKeys := map[string]string{}
	for sigKey := range mine {
		dev, ok := strings.CutPrefix(sigKey, "ed25519:")
		if !ok || dev == master[1] {
			continue
		}
		if _, ed, err := s.storedDeviceKey(ctx, signer, dev); err != nil {
			return nil, nil, err
		} else if ed != "" {
			devKeys[sigKey] = ed
		}
	}
	return mergeInto("master", signer, keyID, master[0], obj, devKeys)
}

// mergeInto checks that obj is the stored object and that it carries at
// least one valid signature by one of allowed (key ID -> public key), and
// returns the stored object with those signatures added.
func mergeInto(kind string, user id.UserID, keyID, stored string, obj *signedObject, allowed map[string]string) ([]sigWrite, *SignatureFailure, error) {
	old, err := splitSigned([]byte(stored))
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(old.Payload, obj.Payload) {
		return nil, sigFail("M_INVALID_SIGNATURE", "The signed object does not match the stored key"), nil
	}
	add := Signatures{string(user): {}}
	for sigKey, pub := range allowed {
		sig, ok := obj.Signatures[string(user)][sigKey]
		if !ok {
			continue
		}
		if !verify(pub, obj.Payload, sig) {
			return nil, sigFail("M_INVALID_SIGNATURE", "Invalid signature by %s", sigKey), nil
		}
		add[string(user)][sigKey] = sig
	}
	if len(add[string(user)]) == 0 {
		return nil, sigFail("M_INVALID_SIGNATURE", "No signature by a key allowed to sign this key"), nil
	}
	merged, added := mergeSignatures(old.Signatures, add)
	if !added {
		return nil, nil, nil
	}
	data, err := old.withSignatures(merged)
	if err != nil {
		return nil, nil, err
	}
	return []sigWrite{{kind: kind, target: user, keyID: keyID, json: data}}, nil, nil
}

// checkOtherMaster handles signer's user-signing key signing target's
// master key.
func (s *Service) checkOtherMaster(ctx context.Context, signer id.UserID, signerKeys map[string][2]string, target id.UserID, keyID string, obj *signedObject) ([]sigWrite, *SignatureFailure, error) {
	usk := signerKeys[UsageUserSigning][1]
	if usk == "" {
		return nil, sigFail("M_INVALID_SIGNATURE", "You have no user-signing key"), nil
	}
	theirs, err := s.storedCrossSigning(ctx, target)
	if err != nil {
		return nil, nil, err
	}
	master := theirs[UsageMaster]
	if master[1] == "" || master[1] != keyID {
		return nil, sigFail("M_NOT_FOUND", "%s has no master key %s", target, truncate(keyID)), nil
	}
	old, err := splitSigned([]byte(master[0]))
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(old.Payload, obj.Payload) {
		return nil, sigFail("M_INVALID_SIGNATURE", "The signed object does not match the stored key"), nil
	}
	sigKey := "ed25519:" + usk
	sig, ok := obj.Signatures[string(signer)][sigKey]
	if !ok || !verify(usk, obj.Payload, sig) {
		return nil, sigFail("M_INVALID_SIGNATURE", "Missing or invalid signature by your user-signing key"), nil
	}
	return []sigWrite{{kind: "other", target: target, keyID: keyID, signerKey: sigKey, signature: sig}}, nil, nil
}

// storedDeviceKey returns a device's stored key JSON and ed25519 key, or
// empty strings.
func (s *Service) storedDeviceKey(ctx context.Context, user id.UserID, device string) (string, string, error) {
	var data, ed string
	err := s.db.QueryRow(ctx, `SELECT key_json, ed25519 FROM e2e_device_keys WHERE user_id = $1 AND device_id = $2`,
		user, device).Scan(&data, &ed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return data, ed, err
}

// storeSignatures writes accepted signatures in one stream write: changes
// to the signer's own keys reach everyone sharing a room with them; a
// signature over another user's master key only the signer.
func (s *Service) storeSignatures(ctx context.Context, signer id.UserID, writes []sigWrite) error {
	audience := []string{string(signer)}
	for _, w := range writes {
		if w.kind != "other" {
			var err error
			if audience, err = s.audience(ctx, signer); err != nil {
				return err
			}
			break
		}
	}
	_, err := s.w.Submit(ctx, stream.Change{Kind: stream.KindDeviceList, UserIDs: audience},
		func(ctx context.Context, tx *storage.Tx, pos int64) error {
			for _, w := range writes {
				var err error
				switch w.kind {
				case "device":
					_, err = tx.Exec(ctx, `UPDATE e2e_device_keys SET key_json = $3 WHERE user_id = $1 AND device_id = $2`,
						w.target, w.keyID, string(w.json))
				case "master":
					_, err = tx.Exec(ctx, `UPDATE e2e_cross_signing_keys SET key_json = $3 WHERE user_id = $1 AND key_type = $2`,
						w.target, UsageMaster, string(w.json))
				default:
					_, err = tx.Exec(ctx, `INSERT INTO e2e_signatures (target_user, target_key, signer_user, signer_key, signature)
						VALUES ($1, $2, $3, $4, $5) ON CONFLICT (target_user, target_key, signer_user, signer_key)
						DO UPDATE SET signature = excluded.signature`, w.target, w.keyID, signer, w.signerKey, w.signature)
				}
				if err != nil {
					return err
				}
				viewer := id.UserID("")
				if w.kind == "other" {
					viewer = signer
				}
				if err := recordChange(ctx, tx, pos, w.target, viewer); err != nil {
					return err
				}
			}
			return nil
		})
	return err
}

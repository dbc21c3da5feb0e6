package keys

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// Limits on what one upload may carry.
const (
	maxKeysPerUpload = 1000
	maxKeyJSON       = 4096
)

// InvalidSignature is the spec's M_INVALID_SIGNATURE.
func InvalidSignature(format string, a ...any) *httpx.Error {
	return httpx.NewError(http.StatusBadRequest, "M_INVALID_SIGNATURE", format, a...)
}

// deviceKey is a validated device_keys object.
type deviceKey struct {
	obj     *signedObject
	ed25519 string
	// JSON is the canonical object as stored (signatures kept, unsigned dropped).
	JSON []byte
}

// deviceKeysShape is the part of device_keys the server checks.
type deviceKeysShape struct {
	UserID     id.UserID         `json:"user_id"`
	DeviceID   id.DeviceID       `json:"device_id"`
	Algorithms []string          `json:"algorithms"`
	Keys       map[string]string `json:"keys"`
}

// parseDeviceKeys validates device_keys uploaded by user's device: it must
// name them, carry the device's ed25519 and curve25519 keys, and be signed
// by its own ed25519 key.
func parseDeviceKeys(raw json.RawMessage, user id.UserID, device id.DeviceID) (*deviceKey, error) {
	obj, err := splitSigned(raw)
	if err != nil {
		return nil, httpx.BadJSON("device_keys is not a valid signed JSON object: %v", err)
	}
	var shape deviceKeysShape
	if err := json.Unmarshal(raw, &shape); err != nil {
		return nil, httpx.BadJSON("device_keys has the wrong shape: %v", err)
	}
	if shape.UserID != user {
		return nil, httpx.Forbidden("device_keys.user_id %q is not the caller %s", shape.UserID, user)
	}
	if shape.DeviceID != device {
		return nil, httpx.InvalidParam("device_keys.device_id %q is not the caller's device %s", shape.DeviceID, device)
	}
	if len(shape.Algorithms) == 0 {
		return nil, httpx.InvalidParam("device_keys.algorithms must list at least one algorithm")
	}
	ed := shape.Keys["ed25519:"+string(device)]
	curve := shape.Keys["curve25519:"+string(device)]
	if !validKey(ed) || !validKey(curve) {
		return nil, httpx.InvalidParam("device_keys.keys must hold the device's ed25519 and curve25519 keys as unpadded base64")
	}
	if !obj.verifiedBy(string(user), "ed25519:"+string(device), ed) {
		return nil, InvalidSignature("device_keys is not signed by the device's own ed25519 key")
	}
	data, err := obj.withSignatures(obj.Signatures)
	if err != nil {
		return nil, httpx.BadJSON("device_keys is not canonical JSON: %v", err)
	}
	return &deviceKey{obj: obj, ed25519: ed, JSON: data}, nil
}

// oneTimeKey is one validated one-time or fallback key.
type oneTimeKey struct {
	Algorithm string
	KeyID     string
	JSON      []byte
}

// parseOneTimeKeys validates "<algorithm>:<key_id>" -> key maps. A key is
// an unpadded base64 string or an object with a "key" string (signed keys).
func parseOneTimeKeys(field string, keys map[string]json.RawMessage) ([]oneTimeKey, error) {
	if len(keys) > maxKeysPerUpload {
		return nil, httpx.InvalidParam("%s holds more than %d keys", field, maxKeysPerUpload)
	}
	out := make([]oneTimeKey, 0, len(keys))
	for name, raw := range keys {
		alg, keyID, ok := strings.Cut(name, ":")
		if !ok || alg == "" || keyID == "" || len(name) > 255 {
			return nil, httpx.InvalidParam("%s: key name %q is not <algorithm>:<key_id>", field, truncate(name))
		}
		if len(raw) > maxKeyJSON {
			return nil, httpx.InvalidParam("%s: key %q is too large", field, truncate(name))
		}
		data, err := parseKeyObject(raw)
		if err != nil {
			return nil, httpx.InvalidParam("%s: key %q: %v", field, truncate(name), err)
		}
		out = append(out, oneTimeKey{Algorithm: alg, KeyID: keyID, JSON: data})
	}
	slices.SortFunc(out, func(a, b oneTimeKey) int { return strings.Compare(a.Algorithm+":"+a.KeyID, b.Algorithm+":"+b.KeyID) })
	return out, nil
}

func parseKeyObject(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" {
			return nil, errString("must be a non-empty string or an object")
		}
		return json.Marshal(s)
	}
	var obj struct {
		Key *string `json:"key"`
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errString("must be a non-empty string or an object")
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Key == nil || *obj.Key == "" {
		return nil, errString("must have a non-empty \"key\" string")
	}
	if _, err := splitSigned(raw); err != nil {
		return nil, err
	}
	data, err := canonicalRaw(raw)
	if err != nil {
		return nil, errString("is not canonical JSON")
	}
	return data, nil
}

func canonicalRaw(raw json.RawMessage) ([]byte, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return canonical(v)
}

type errString string

func (e errString) Error() string { return string(e) }

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Cross-signing key usages.
const (
	UsageMaster      = "master"
	UsageSelfSigning = "self_signing"
	UsageUserSigning = "user_signing"
)

// crossSigningKey is a validated cross-signing key.
type crossSigningKey struct {
	obj    *signedObject
	Usage  string
	Public string
	JSON   []byte
}

// parseCrossSigningKey validates one of user's cross-signing keys: it must
// name the user, have the usage, and hold exactly one ed25519 key whose ID
// is its public key.
func parseCrossSigningKey(raw json.RawMessage, user id.UserID, usage string) (*crossSigningKey, error) {
	obj, err := splitSigned(raw)
	if err != nil {
		return nil, httpx.BadJSON("%s key is not a valid signed JSON object: %v", usage, err)
	}
	var shape struct {
		UserID id.UserID         `json:"user_id"`
		Usage  []string          `json:"usage"`
		Keys   map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil {
		return nil, httpx.BadJSON("%s key has the wrong shape: %v", usage, err)
	}
	if shape.UserID != user {
		return nil, httpx.Forbidden("%s key user_id %q is not the caller %s", usage, shape.UserID, user)
	}
	if !slices.Contains(shape.Usage, usage) {
		return nil, httpx.InvalidParam("%s key must have usage %q", usage, usage)
	}
	if len(shape.Keys) != 1 {
		return nil, httpx.InvalidParam("%s key must hold exactly one key", usage)
	}
	var pub string
	for keyID, value := range shape.Keys {
		if keyID != "ed25519:"+value || !validKey(value) {
			return nil, httpx.InvalidParam("%s key must be an unpadded base64 ed25519 key named ed25519:<key>", usage)
		}
		pub = value
	}
	data, err := obj.withSignatures(obj.Signatures)
	if err != nil {
		return nil, httpx.BadJSON("%s key is not canonical JSON: %v", usage, err)
	}
	return &crossSigningKey{obj: obj, Usage: usage, Public: pub, JSON: data}, nil
}

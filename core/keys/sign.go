package keys

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"maunium.net/go/mautrix/crypto/canonicaljson"
)

// Signatures maps user ID -> key ID ("ed25519:...") -> unpadded base64 signature.
type Signatures map[string]map[string]string

// signedObject is a JSON object split into what its signatures cover and
// the signatures themselves (the spec's "Signing JSON" appendix).
type signedObject struct {
	// Payload is the canonical JSON of the object without "signatures"
	// and "unsigned": the bytes every signature signs.
	Payload []byte
	// Signatures is the object's "signatures" (empty when absent).
	Signatures Signatures
	// Fields are the object's members, for the caller's own checks.
	Fields map[string]json.RawMessage
}

var errNotObject = errors.New("not a JSON object")

// splitSigned parses raw as a signed JSON object.
func splitSigned(raw []byte) (*signedObject, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, errNotObject
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	obj := &signedObject{Signatures: Signatures{}, Fields: fields}
	if sigs, ok := fields["signatures"]; ok && !isNull(sigs) {
		if err := json.Unmarshal(sigs, &obj.Signatures); err != nil {
			return nil, errors.New("signatures must map user IDs to key IDs to strings")
		}
	}
	payload := make(map[string]json.RawMessage, len(fields))
	for k, v := range fields {
		if k != "signatures" && k != "unsigned" {
			payload[k] = v
		}
	}
	var err error
	obj.Payload, err = canonical(payload)
	return obj, err
}

// canonical renders v as canonical JSON (sorted keys, no insignificant
// whitespace, integers only).
func canonical(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return canonicaljson.CanonicalJSON(data)
}

// withSignatures renders the canonical object carrying sigs.
func (o *signedObject) withSignatures(sigs Signatures) ([]byte, error) {
	out := make(map[string]any, len(o.Fields)+1)
	for k, v := range o.Fields {
		if k != "signatures" && k != "unsigned" {
			out[k] = v
		}
	}
	if len(sigs) > 0 {
		out["signatures"] = sigs
	}
	return canonical(out)
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// decodeB64 decodes unpadded (or, leniently, padded) standard base64.
func decodeB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// validKey reports whether s is an unpadded base64 32-byte public key.
func validKey(s string) bool {
	b, err := decodeB64(s)
	return err == nil && len(b) == 32
}

// verify checks an ed25519 signature (unpadded base64) by the public key
// pub (unpadded base64) over msg. Malformed keys or signatures are simply
// not valid.
func verify(pub string, msg []byte, sig string) bool {
	key, err := decodeB64(pub)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return false
	}
	s, err := decodeB64(sig)
	if err != nil || len(s) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(key), msg, s)
}

// verifiedBy reports whether obj carries a valid signature by user's key
// keyID ("ed25519:...") whose public key is pub.
func (o *signedObject) verifiedBy(user, keyID, pub string) bool {
	sig, ok := o.Signatures[user][keyID]
	return ok && verify(pub, o.Payload, sig)
}

package keys

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
)

// checkMatrixError fails unless err is nil or a 4xx Matrix error.
func checkMatrixError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var me *httpx.Error
	if !errors.As(err, &me) || me.Status < 400 || me.Status >= 500 || me.ErrCode == "" {
		t.Fatalf("error %v is not a 4xx Matrix error", err)
	}
}

var deviceSeeds = []string{
	`{"user_id":"@a:x","device_id":"D","algorithms":["m.olm.v1.curve25519-aes-sha2"],"keys":{"ed25519:D":"lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI","curve25519:D":"3C5BFWi2Y8MaVvjM8M22DBmh24PmgR0nPvJOIArzgyI"},"signatures":{"@a:x":{"ed25519:D":"dSO80A01XiigH3uBiDVx/EjzaoycHcjq9lfQX0uWsqxl2giMIiSPR8a4d291W1ihKJL/a+myXS367WT6NAIcBA"}}}`,
	`{"user_id":"@a:x","device_id":"D","keys":{"ed25519:D":"","curve25519:D":"="},"signatures":{"@a:x":{"ed25519:D":"===="}}}`,
	`{"user_id":"@a:x","device_id":"D","signatures":null,"unsigned":{"x":1}}`,
	`{"signatures":{"@a:x":"nope"}}`, `{"signatures":[]}`, `{"a":1.5}`, `{"a":1e400}`, `{"a":"\ud800"}`,
	`{"a":1,"a":2}`, `[]`, `null`, `"x"`, `{`, ``,
}

// FuzzParseDeviceKeys feeds arbitrary device_keys to the upload parser:
// it must answer with keys or a 4xx Matrix error, never panic.
func FuzzParseDeviceKeys(f *testing.F) {
	for _, s := range deviceSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dk, err := parseDeviceKeys(json.RawMessage(data), "@a:x", "D")
		checkMatrixError(t, err)
		if err == nil && (dk.ed25519 == "" || !json.Valid(dk.JSON)) {
			t.Fatalf("accepted keys without an ed25519 key or with invalid JSON: %s", dk.JSON)
		}
	})
}

// FuzzSignatureVerification checks that splitting and verifying arbitrary
// signed objects with arbitrary keys never panics (ed25519.Verify panics on
// keys of the wrong length, so lengths must be checked first).
func FuzzSignatureVerification(f *testing.F) {
	for _, s := range deviceSeeds {
		f.Add([]byte(s), "lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI", "ed25519:D")
	}
	f.Add([]byte(`{"signatures":{"@a:x":{"ed25519:D":"AAAA"}}}`), "AAAA", "ed25519:D")
	f.Fuzz(func(t *testing.T, data []byte, pub, keyID string) {
		obj, err := splitSigned(data)
		if err != nil {
			return
		}
		_ = obj.verifiedBy("@a:x", keyID, pub)
		for _, m := range obj.Signatures {
			for _, sig := range m {
				_ = verify(pub, obj.Payload, sig)
			}
		}
		if _, err := obj.withSignatures(obj.Signatures); err != nil && len(obj.Payload) > 0 {
			t.Fatalf("canonical payload but no canonical object: %v", err)
		}
	})
}

// FuzzParseOneTimeKeys feeds arbitrary one_time_keys maps to the parser.
func FuzzParseOneTimeKeys(f *testing.F) {
	for _, s := range []string{
		`{"signed_curve25519:AAAAHg":{"key":"zKbLg+NrIjpnagy+pIY6uPL4ZwEG2v+8F9lmgsnlZzs","signatures":{"@a:x":{"ed25519:D":"x"}}}}`,
		`{"curve25519:AAAAAQ":"/qyvZvwjiTxGdGU0RCguDCLeR+nmsb3FfNG3/Ve4vU8"}`,
		`{"curve25519":"x"}`, `{":":"x"}`, `{"a:b":{"key":1}}`, `{"a:b":{"key":"k","fallback":1.5}}`, `{"a:b":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return
		}
		keys, err := parseOneTimeKeys("one_time_keys", m)
		checkMatrixError(t, err)
		for _, k := range keys {
			if k.Algorithm == "" || k.KeyID == "" || !json.Valid(k.JSON) {
				t.Fatalf("accepted bad key %+v", k)
			}
		}
	})
}

// FuzzParseCrossSigningKey feeds arbitrary cross-signing keys to the parser.
func FuzzParseCrossSigningKey(f *testing.F) {
	f.Add([]byte(`{"user_id":"@a:x","usage":["master"],"keys":{"ed25519:lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI":"lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI"}}`))
	f.Add([]byte(`{"user_id":"@a:x","usage":"master","keys":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseCrossSigningKey(json.RawMessage(data), "@a:x", UsageMaster)
		checkMatrixError(t, err)
		if err == nil && !validKey(k.Public) {
			t.Fatalf("accepted invalid public key %q", k.Public)
		}
	})
}

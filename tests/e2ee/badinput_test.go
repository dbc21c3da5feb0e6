package e2ee

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix/crypto/canonicaljson"
	"maunium.net/go/mautrix/id"
)

// rawResp is a decoded answer of the server.
type rawResp struct {
	Status int
	Body   map[string]any
	Raw    string
}

func rawDo(t *testing.T, s *server, method, path, token string, body any) rawResp {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	default:
		data, _ = json.Marshal(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := rawResp{Status: resp.StatusCode, Raw: string(raw)}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %.200q", method, path, raw)
	}
	return out
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// signObj adds user's signature by keyID over obj (spec "Signing JSON").
func signObj(t *testing.T, obj map[string]any, user id.UserID, keyID string, priv ed25519.PrivateKey) map[string]any {
	payload := map[string]any{}
	for k, v := range obj {
		if k != "signatures" && k != "unsigned" {
			payload[k] = v
		}
	}
	data, _ := json.Marshal(payload)
	canon, err := canonicaljson.CanonicalJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	obj["signatures"] = map[string]any{string(user): map[string]any{keyID: b64(ed25519.Sign(priv, canon))}}
	return obj
}

// TestE2EEBadInput sends broken E2EE requests to the real server: each gets
// a clear Matrix error (or, for signatures, a failure entry), nothing 5xx.
func TestE2EEBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		s := startServer(t, backend)
		alice := newMXClient(t, s, "alice") // a real device with real keys
		eve := newMXClient(t, s, "eve")
		tok := alice.AccessToken
		dev := string(alice.DeviceID)

		// Cross-signing keys made by hand, so signatures can be forged.
		mpub, mpriv, _ := ed25519.GenerateKey(rand.Reader)
		spub, spriv, _ := ed25519.GenerateKey(rand.Reader)
		master := map[string]any{"user_id": alice.UserID, "usage": []string{"master"}, "keys": map[string]any{"ed25519:" + b64(mpub): b64(mpub)}}
		self := signObj(t, map[string]any{"user_id": alice.UserID, "usage": []string{"self_signing"},
			"keys": map[string]any{"ed25519:" + b64(spub): b64(spub)}}, alice.UserID, "ed25519:"+b64(mpub), mpriv)
		if r := rawDo(t, s, "POST", "/_matrix/client/v3/keys/device_signing/upload", tok, map[string]any{"master_key": master, "self_signing_key": self}); r.Status != 200 {
			t.Fatalf("cross-signing upload: %d %s", r.Status, r.Raw)
		}
		q := rawDo(t, s, "POST", "/_matrix/client/v3/keys/query", tok, map[string]any{"device_keys": map[string]any{string(alice.UserID): []string{}}})
		stored, _ := q.Body["device_keys"].(map[string]any)[string(alice.UserID)].(map[string]any)[dev].(map[string]any)
		if stored == nil {
			t.Fatalf("alice's device keys: %s", q.Raw)
		}
		delete(stored, "unsigned")
		stored["keys"].(map[string]any)["curve25519:"+dev] = b64(make([]byte, 32)) // not what was signed
		forged := signObj(t, stored, alice.UserID, "ed25519:"+b64(spub), spriv)

		mautrixKeys := map[string]any{"user_id": eve.UserID, "device_id": eve.DeviceID, "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
			"keys": map[string]any{"ed25519:" + string(eve.DeviceID): b64(spub), "curve25519:" + string(eve.DeviceID): b64(spub)}}
		big := `{"messages":{"@eve:localhost":{"*":{"body":"` + strings.Repeat("x", 70*1024) + `"}}}}`
		cases := []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"device keys of another user", "POST", "/_matrix/client/v3/keys/upload", map[string]any{"device_keys": mautrixKeys}, 403, "M_FORBIDDEN"},
			{"unsigned device keys", "POST", "/_matrix/client/v3/keys/upload", map[string]any{"device_keys": map[string]any{
				"user_id": alice.UserID, "device_id": dev, "algorithms": []string{"x"}, "keys": map[string]any{"ed25519:" + dev: b64(spub), "curve25519:" + dev: b64(spub)}}}, 400, "M_INVALID_SIGNATURE"},
			{"malformed key name", "POST", "/_matrix/client/v3/keys/upload", `{"one_time_keys":{"AAAAAQ":"a2V5"}}`, 400, "M_INVALID_PARAM"},
			{"keys not JSON", "POST", "/_matrix/client/v3/keys/upload", `{"device_keys": {`, 400, "M_NOT_JSON"},
			{"self-signing key with a bad signature", "POST", "/_matrix/client/v3/keys/device_signing/upload", map[string]any{
				"self_signing_key": signObj(t, map[string]any{"user_id": alice.UserID, "usage": []string{"self_signing"},
					"keys": map[string]any{"ed25519:" + b64(mpub): b64(mpub)}}, alice.UserID, "ed25519:"+b64(mpub), spriv)}, 400, "M_INVALID_SIGNATURE"},
			{"oversized to-device message", "PUT", "/_matrix/client/v3/sendToDevice/m.test/big", big, 413, "M_TOO_LARGE"},
			{"to-device content not an object", "PUT", "/_matrix/client/v3/sendToDevice/m.test/str", `{"messages":{"@eve:localhost":{"*":"hi"}}}`, 400, "M_BAD_JSON"},
			{"backup keys without version", "PUT", "/_matrix/client/v3/room_keys/keys", `{"rooms":{}}`, 400, "M_MISSING_PARAM"},
			{"backup of an unknown version", "GET", "/_matrix/client/v3/room_keys/version/7", nil, 404, "M_NOT_FOUND"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := rawDo(t, s, c.method, c.path, tok, c.body)
				if r.Status != c.status || r.Body["errcode"] != c.code {
					t.Errorf("got %d %.300s, want %d %s", r.Status, r.Raw, c.status, c.code)
				}
			})
		}

		t.Run("signature over the wrong data", func(t *testing.T) {
			r := rawDo(t, s, "POST", "/_matrix/client/v3/keys/signatures/upload", tok, map[string]any{string(alice.UserID): map[string]any{dev: forged}})
			code, _ := r.Body["failures"].(map[string]any)[string(alice.UserID)].(map[string]any)[dev].(map[string]any)["errcode"].(string)
			if r.Status != 200 || code != "M_INVALID_SIGNATURE" {
				t.Fatalf("got %d %s, want a M_INVALID_SIGNATURE failure", r.Status, r.Raw)
			}
		})
		t.Run("claims for unknown devices", func(t *testing.T) {
			r := rawDo(t, s, "POST", "/_matrix/client/v3/keys/claim", tok, map[string]any{"one_time_keys": map[string]any{
				string(eve.UserID): map[string]any{"NOSUCHDEVICE": "signed_curve25519"}, "@nobody:localhost": map[string]any{"X": "signed_curve25519"}}})
			if r.Status != 200 || len(r.Body["one_time_keys"].(map[string]any)) != 0 {
				t.Fatalf("got %d %s, want no keys", r.Status, r.Raw)
			}
		})
		t.Run("garbage never gets a 5xx", func(t *testing.T) {
			bodies := []string{``, `null`, `[]`, `"x"`, `{"a":`, "\x00\xff", `{"device_keys":7}`, `{"one_time_keys":{"a:b":{"key":5}}}`,
				`{"messages":{"x":{"y":1}}}`, `{"device_keys":{"@alice:localhost":[1]}}`, `{"one_time_keys":{"@a:localhost":{"D":7}}}`,
				`{"master_key":{"keys":{"ed25519:a":"a"}}}`, `{"@alice:localhost":{"k":"v"}}`, `{"rooms":{"!r:x":{"sessions":{"s":{}}}}}`,
				`{"algorithm":5,"auth_data":[]}`, `{"device_id":"","device_data":1}`, `{"next_batch":5}`}
			paths := []struct{ method, path string }{
				{"POST", "/_matrix/client/v3/keys/upload"}, {"POST", "/_matrix/client/v3/keys/query"}, {"POST", "/_matrix/client/v3/keys/claim"},
				{"POST", "/_matrix/client/v3/keys/device_signing/upload"}, {"POST", "/_matrix/client/v3/keys/signatures/upload"},
				{"PUT", "/_matrix/client/v3/sendToDevice/m.x/g"}, {"POST", "/_matrix/client/v3/room_keys/version"},
				{"PUT", "/_matrix/client/v3/room_keys/version/1"}, {"PUT", "/_matrix/client/v3/room_keys/keys?version=1"},
				{"PUT", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"},
				{"POST", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/X/events"},
			}
			for _, p := range paths {
				for i, b := range bodies {
					path := p.path
					if strings.HasSuffix(path, "/g") {
						path += fmt.Sprint(i)
					}
					r := rawDo(t, s, p.method, path, tok, b)
					if r.Status >= 500 || (r.Status >= 400 && r.Body["errcode"] == nil) {
						t.Errorf("%s %s with %.30q: %d %.200s", p.method, p.path, b, r.Status, r.Raw)
					}
				}
			}
			for _, q := range []string{"from=x&to=y", "from=s1", "to=s1", "from=-1&to=s2"} {
				if r := rawDo(t, s, "GET", "/_matrix/client/v3/keys/changes?"+q, tok, nil); r.Status != 400 {
					t.Errorf("/keys/changes?%s: %d %s", q, r.Status, r.Raw)
				}
			}
		})
	})
}

package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/crypto/canonicaljson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/backup"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

// e2eeEnv serves the account, key, to-device, backup and dehydrated
// device endpoints over HTTP on a real database.
type e2eeEnv struct {
	t    testing.TB
	acc  *accounts.Service
	keys *keys.Service
	td   *todevice.Service
	w    *stream.Writer
	srv  *httptest.Server
}

func newE2EEEnv(t testing.TB, db *storage.DB) *e2eeEnv {
	t.Helper()
	ctx := context.Background()
	w, err := stream.NewWriter(ctx, db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	acc := accounts.New(db, "example.org", accounts.Options{BcryptCost: bcrypt.MinCost})
	k := keys.New(db, w, "example.org", acc, zerolog.Nop())
	td := todevice.New(db, w, "example.org", zerolog.Nop(), todevice.Options{})
	acc.OnDeviceChange(k.OnDeviceChange)
	acc.OnDeviceChange(td.OnDeviceChange)
	rt := httpx.NewRouter(acc, zerolog.Nop())
	uia := RegisterAccounts(rt, acc, openRegistration, AccountLimits{})
	RegisterKeys(rt, k, uia)
	RegisterToDevice(rt, td)
	RegisterBackup(rt, backup.New(db))
	RegisterDehydrated(rt, k, td)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return &e2eeEnv{t: t, acc: acc, keys: k, td: td, w: w, srv: srv}
}

// e2eeClient is a logged-in device with its ed25519 identity key.
type e2eeClient struct {
	e      *e2eeEnv
	user   id.UserID
	device id.DeviceID
	token  string
	priv   ed25519.PrivateKey
	pub    string
}

func (e *e2eeEnv) newClient(localpart string) *e2eeClient {
	e.t.Helper()
	ctx := context.Background()
	uid := id.NewUserID(localpart, "example.org")
	if ok, _ := e.acc.UserExists(ctx, uid); !ok {
		if _, err := e.acc.Register(ctx, accounts.RegisterParams{Localpart: localpart, Password: "pw-" + localpart}); err != nil {
			e.t.Fatal(err)
		}
	}
	r := e.do("POST", "/_matrix/client/v3/login", "", map[string]any{
		"type": "m.login.password", "identifier": map[string]string{"type": "m.id.user", "user": localpart},
		"password": "pw-" + localpart,
	}).want(e.t, 200, "")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &e2eeClient{e: e, user: uid, device: id.DeviceID(r.str("device_id")), token: r.str("access_token"),
		priv: priv, pub: e2eeB64(pub)}
}

func e2eeB64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

func (e *e2eeEnv) do(method, path, token string, body any) acctResp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := acctResp{Status: resp.StatusCode, Raw: raw, Header: resp.Header}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		e.t.Fatalf("%s %s: non-JSON response %q", method, path, raw)
	}
	return out
}

func (c *e2eeClient) do(method, path string, body any) acctResp {
	c.e.t.Helper()
	return c.e.do(method, path, c.token, body)
}

// e2eeSign adds user's signature by keyID over obj.
func e2eeSign(obj map[string]any, user id.UserID, keyID string, priv ed25519.PrivateKey) map[string]any {
	payload := map[string]any{}
	for k, v := range obj {
		if k != "signatures" && k != "unsigned" {
			payload[k] = v
		}
	}
	data, _ := json.Marshal(payload)
	canon, err := canonicaljson.CanonicalJSON(data)
	if err != nil {
		panic(err)
	}
	sigs, _ := obj["signatures"].(map[string]any)
	if sigs == nil {
		sigs = map[string]any{}
	}
	mine, _ := sigs[string(user)].(map[string]any)
	if mine == nil {
		mine = map[string]any{}
	}
	mine[keyID] = e2eeB64(ed25519.Sign(priv, canon))
	sigs[string(user)] = mine
	obj["signatures"] = sigs
	return obj
}

func (c *e2eeClient) deviceKeys() map[string]any {
	curve := make([]byte, 32)
	_, _ = rand.Read(curve)
	return e2eeSign(map[string]any{
		"user_id": c.user, "device_id": c.device,
		"algorithms": []string{"m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"},
		"keys":       map[string]any{"ed25519:" + string(c.device): c.pub, "curve25519:" + string(c.device): e2eeB64(curve)},
	}, c.user, "ed25519:"+string(c.device), c.priv)
}

// e2eePath walks nested JSON objects.
func e2eePath(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

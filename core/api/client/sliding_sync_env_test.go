package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/sync/synctest"
	"github.com/gatehouse-chat/gatehouse/core/todevice"
)

const slidingPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

// slidingEnv is the sync stack (syncEnv's router, access token = user ID,
// device DEV) with sliding sync, accounts, keys and to-device messages
// wired in as serve.go wires them.
type slidingEnv struct {
	*syncEnv
	acc  *accounts.Service
	keys *keys.Service
	td   *todevice.Service
}

func forEachSlidingDB(t *testing.T, fn func(t *testing.T, e *slidingEnv)) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := synctest.New(t, db)
		acc := accounts.New(db, synctest.ServerName, accounts.Options{BcryptCost: bcrypt.MinCost})
		k := keys.New(db, e.Writer, synctest.ServerName, acc, zerolog.Nop())
		td := todevice.New(db, e.Writer, synctest.ServerName, zerolog.Nop(), todevice.Options{})
		acc.OnDeviceChange(k.OnDeviceChange)
		acc.OnDeviceChange(td.OnDeviceChange)
		rt := httpx.NewRouter(syncAuth{}, zerolog.Nop())
		RegisterSync(rt, e.Sync)
		RegisterSlidingSync(rt, e.Sync, k, td)
		fn(t, &slidingEnv{syncEnv: &syncEnv{Env: e, rt: rt}, acc: acc, keys: k, td: td})
	})
}

// account registers a user with device DEV (the device syncAuth reports).
func (e *slidingEnv) account(name string) id.UserID {
	e.T.Helper()
	u, err := e.acc.Register(e.Ctx, accounts.RegisterParams{Localpart: name, Password: "pw-" + name + "-long"})
	if err != nil {
		e.T.Fatal(err)
	}
	if err := e.acc.EnsureDevice(e.Ctx, u, "DEV", ""); err != nil {
		e.T.Fatal(err)
	}
	return u
}

// slide sends one sliding sync request with pos and timeout in the query
// string, as matrix-rust-sdk does.
func (e *slidingEnv) slide(as id.UserID, pos string, timeout time.Duration, body any) syncResp {
	e.T.Helper()
	q := url.Values{}
	if pos != "" {
		q.Set("pos", pos)
	}
	q.Set("timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	return e.do("POST", slidingPath+"?"+q.Encode(), as, body)
}

// roomsOf returns the room IDs of a response.
func roomsOf(res gjson.Result) map[string]gjson.Result {
	out := map[string]gjson.Result{}
	res.Get("rooms").ForEach(func(k, v gjson.Result) bool {
		out[k.Str] = v
		return true
	})
	return out
}

// stateOf indexes a room's required_state by type and state key.
func stateOf(room gjson.Result) map[[2]string]gjson.Result {
	out := map[[2]string]gjson.Result{}
	for _, ev := range room.Get("required_state").Array() {
		out[[2]string{ev.Get("type").Str, ev.Get("state_key").Str}] = ev
	}
	return out
}

// timelineBodies returns the body of each timeline event.
func timelineBodies(room gjson.Result) []string {
	var out []string
	for _, ev := range room.Get("timeline").Array() {
		out = append(out, ev.Get("content.body").Str)
	}
	return out
}

// deviceKeysFor returns signed device keys for user's device DEV.
func deviceKeysFor(user id.UserID) map[string]any {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c := &e2eeClient{user: user, device: "DEV", priv: priv, pub: e2eeB64(pub)}
	return c.deviceKeys()
}

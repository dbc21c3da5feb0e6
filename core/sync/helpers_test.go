package sync_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
	"github.com/gatehouse-chat/gatehouse/core/sync/synctest"
)

// env is synctest.Env with sync helpers.
type env struct{ *synctest.Env }

func newEnv(t testing.TB, db *storage.DB) *env { return &env{synctest.New(t, db)} }

// forEachDB runs fn on SQLite and, when configured, PostgreSQL.
func forEachDB(t *testing.T, fn func(t *testing.T, e *env)) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) { fn(t, newEnv(t, db)) })
}

// syncOpts are the optional parts of a sync request.
type syncOpts struct {
	since     string
	filter    string
	timeout   time.Duration
	fullState bool
	device    id.DeviceID
}

// sync runs one /sync and returns the parsed body.
func (e *env) sync(user id.UserID, o syncOpts) gjson.Result {
	e.T.Helper()
	req := &gsync.Request{UserID: user, DeviceID: o.device, Timeout: o.timeout, FullState: o.fullState, SetPresence: "offline"}
	if o.device == "" {
		req.DeviceID = "DEV"
	}
	if o.since != "" {
		pos, err := gsync.ParseToken(o.since)
		if err != nil {
			e.T.Fatal(err)
		}
		req.Since = pos
	}
	f, err := e.Sync.ResolveFilter(e.Ctx, user, o.filter)
	if err != nil {
		e.T.Fatal(err)
	}
	req.Filter = f
	body, err := e.Sync.Sync(e.Ctx, req)
	if err != nil {
		e.T.Fatalf("sync: %v", err)
	}
	if !json.Valid(body) {
		e.T.Fatalf("sync returned invalid JSON: %s", body)
	}
	return gjson.ParseBytes(body)
}

// joined returns the join section of one room.
func joined(res gjson.Result, room id.RoomID) gjson.Result {
	return res.Get("rooms.join." + gjsonKey(string(room)))
}

func gjsonKey(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', '*', '?', '|', '#', '@', '\\', '!', '=', '<', '>', '%', ':':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// bodies returns content.body of each timeline event.
func bodies(room gjson.Result) []string {
	var out []string
	for _, ev := range room.Get("timeline.events").Array() {
		if b := ev.Get("content.body"); b.Exists() {
			out = append(out, b.Str)
		}
	}
	return out
}

// types returns the event types of a list of events.
func types(evs gjson.Result) []string {
	var out []string
	for _, ev := range evs.Array() {
		out = append(out, ev.Get("type").Str)
	}
	return out
}

func eq[T comparable](t testing.TB, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

// errCode returns the Matrix errcode of err ("" when it is not one).
func errCode(err error) string {
	var he *httpx.Error
	if errors.As(err, &he) {
		return he.ErrCode
	}
	return ""
}

func idOf(s string) id.EventID { return id.EventID(s) }

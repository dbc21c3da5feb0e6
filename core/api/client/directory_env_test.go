package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/directory"
	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/relations"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

// The profile endpoints take *accounts.Service and *rooms.Service as they are.
var (
	_ ProfileStore      = (*accounts.Service)(nil)
	_ ProfilePropagator = (*rooms.Service)(nil)
)

// extrasEnv is a real server for the directory, relations, profile, report
// and VoIP tests: accounts, rooms and the stream writer over one database,
// behind an httpx.Router. Tokens are simply the user IDs.
type extrasEnv struct {
	t   *testing.T
	ctx context.Context
	db  *storage.DB
	acc *accounts.Service
	rs  *rooms.Service
	rt  *httpx.Router
	// callers maps access tokens to callers.
	callers map[string]*httpx.Caller
}

type extrasAuth map[string]*httpx.Caller

func (a extrasAuth) Authenticate(r *http.Request) (*httpx.Caller, error) {
	tok := httpx.AccessToken(r)
	if tok == "" {
		return nil, httpx.MissingToken()
	}
	if c := a[tok]; c != nil {
		return c, nil
	}
	return nil, httpx.UnknownToken()
}

// extrasProfiles adapts accounts to rooms.Profiles.
type extrasProfiles struct{ acc *accounts.Service }

func (p extrasProfiles) UserExists(ctx context.Context, u id.UserID) (bool, error) {
	return p.acc.UserExists(ctx, u)
}

func (p extrasProfiles) Profile(ctx context.Context, u id.UserID) (string, string, error) {
	pr, err := p.acc.Profile(ctx, u)
	if errors.Is(err, storage.ErrNotFound) {
		return "", "", nil
	}
	return pr.DisplayName, pr.AvatarURL, err
}

func newExtrasEnv(t *testing.T, db *storage.DB, allowPublicRoomsWithoutAuth bool) *extrasEnv {
	t.Helper()
	ctx := context.Background()
	key, err := events.LoadOrCreateSigningKey(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := stream.NewWriter(ctx, db, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	acc := accounts.New(db, "test.local", accounts.Options{BcryptCost: bcrypt.MinCost})
	rs := rooms.New(db, w, extrasProfiles{acc}, rooms.Options{ServerName: "test.local", Key: key}, zerolog.Nop())
	auth := extrasAuth{}
	rt := httpx.NewRouter(auth, zerolog.Nop())
	RegisterDirectory(rt, directory.New(db, rs), "test.local", allowPublicRoomsWithoutAuth)
	rel := relations.New(db, rs)
	RegisterRelations(rt, rel)
	RegisterReports(rt, rel)
	RegisterProfile(rt, acc, rs)
	return &extrasEnv{t: t, ctx: ctx, db: db, acc: acc, rs: rs, rt: rt, callers: auth}
}

// user registers a local account and makes its user ID a valid token.
func (e *extrasEnv) user(localpart string, admin bool) id.UserID {
	e.t.Helper()
	uid, err := e.acc.Register(e.ctx, accounts.RegisterParams{Localpart: localpart, Password: "pw", IsAdmin: admin})
	if err != nil {
		e.t.Fatalf("register %s: %v", localpart, err)
	}
	e.callers[string(uid)] = &httpx.Caller{UserID: uid, DeviceID: "DEV", IsAdmin: admin}
	return uid
}

// extrasResp is a decoded response.
type extrasResp struct {
	status int
	body   gjson.Result
}

// do sends a request as user ("" sends no token). body is JSON-encoded
// unless it is a string, which is sent as is.
func (e *extrasEnv) do(method, path string, as id.UserID, body any) extrasResp {
	e.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequest(method, path, rd)
	if as != "" {
		req.Header.Set("Authorization", "Bearer "+string(as))
	}
	rec := httptest.NewRecorder()
	e.rt.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		e.t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
	}
	return extrasResp{status: rec.Code, body: gjson.ParseBytes(rec.Body.Bytes())}
}

// ok fails unless the response is a 200.
func (r extrasResp) ok(t *testing.T) gjson.Result {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("want 200, got %d %s", r.status, r.body.Raw)
	}
	return r.body
}

// fails checks the status and errcode of an error response.
func (r extrasResp) fails(t *testing.T, status int, errcode string) {
	t.Helper()
	if r.status != status || r.body.Get("errcode").Str != errcode {
		t.Fatalf("want %d %s, got %d %s", status, errcode, r.status, r.body.Raw)
	}
}

// room creates a room as creator and joins the others to it.
func (e *extrasEnv) room(creator id.UserID, req rooms.CreateRequest, joiners ...id.UserID) id.RoomID {
	e.t.Helper()
	roomID, _, err := e.rs.CreateRoom(e.ctx, creator, &req)
	if err != nil {
		e.t.Fatalf("create room: %v", err)
	}
	for _, u := range joiners {
		if req.Preset != "public_chat" {
			if _, err := e.rs.SetMembership(e.ctx, rooms.MembershipRequest{RoomID: roomID, Sender: creator, Target: u, Membership: "invite"}); err != nil {
				e.t.Fatalf("invite %s: %v", u, err)
			}
		}
		if _, err := e.rs.Join(e.ctx, u, string(roomID), "", nil); err != nil {
			e.t.Fatalf("join %s: %v", u, err)
		}
	}
	return roomID
}

// send stores an event and returns its ID.
func (e *extrasEnv) send(roomID id.RoomID, sender id.UserID, evType string, content any) id.EventID {
	e.t.Helper()
	raw, err := json.Marshal(content)
	if err != nil {
		e.t.Fatal(err)
	}
	ev, err := e.rs.Send(e.ctx, rooms.SendRequest{RoomID: roomID, Sender: sender, Type: evType, Content: raw})
	if err != nil {
		e.t.Fatalf("send %s: %v", evType, err)
	}
	return ev.ID
}

// setState sends a state event with an empty state key.
func (e *extrasEnv) setState(roomID id.RoomID, sender id.UserID, evType string, content any) {
	e.t.Helper()
	raw, err := json.Marshal(content)
	if err != nil {
		e.t.Fatal(err)
	}
	empty := ""
	if _, err := e.rs.Send(e.ctx, rooms.SendRequest{RoomID: roomID, Sender: sender, Type: evType, StateKey: &empty, Content: raw}); err != nil {
		e.t.Fatalf("set %s: %v", evType, err)
	}
}

func extrasEsc(s string) string { return url.PathEscape(s) }

// eventIDs lists the event_id of each chunk entry.
func extrasEventIDs(chunk gjson.Result) []string {
	out := []string{}
	for _, ev := range chunk.Array() {
		out = append(out, ev.Get("event_id").Str)
	}
	return out
}

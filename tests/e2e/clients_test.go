package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// user is a logged-in mautrix client plus the /sync position the test has
// read up to.
type user struct {
	*mautrix.Client
	password string
	since    string
}

// newClient returns a mautrix client whose requests go through the
// server's recording HTTP client, so every status code is checked.
func (s *server) newClient(t *testing.T, userID id.UserID, token string) *mautrix.Client {
	t.Helper()
	c, err := mautrix.NewClient(s.URL, userID, token)
	if err != nil {
		t.Fatal(err)
	}
	c.Client = s.HTTP
	return c
}

// register creates a user through POST /_matrix/client/v3/register with
// the m.login.dummy flow, as Element does on an open server.
func (s *server) register(t *testing.T, name string) *user {
	t.Helper()
	c := s.newClient(t, "", "")
	pw := name + "-correct-horse-battery"
	resp, err := c.RegisterDummy(t.Context(), &mautrix.ReqRegister[any]{
		Username: name, Password: pw, InitialDeviceDisplayName: "e2e " + name,
	})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	if want := id.NewUserID(name, ServerName); resp.UserID != want {
		t.Fatalf("register %s: user_id %q, want %q", name, resp.UserID, want)
	}
	if resp.AccessToken == "" || resp.DeviceID == "" {
		t.Fatalf("register %s: no access_token or device_id in %+v", name, resp)
	}
	c.SetCredentials(resp.UserID, resp.AccessToken)
	c.DeviceID = resp.DeviceID
	return &user{Client: c, password: pw}
}

// login logs u in again with its password, giving a new device.
func (s *server) login(t *testing.T, u *user, deviceName string) *user {
	t.Helper()
	c := s.newClient(t, "", "")
	resp, err := c.Login(t.Context(), &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: u.UserID.Localpart()},
		Password:                 u.password,
		InitialDeviceDisplayName: deviceName,
		StoreCredentials:         true,
	})
	if err != nil {
		t.Fatalf("login %s: %v", u.UserID, err)
	}
	if resp.UserID != u.UserID || resp.AccessToken == "" || resp.DeviceID == "" {
		t.Fatalf("login %s: got %+v", u.UserID, resp)
	}
	return &user{Client: c, password: u.password}
}

// syncTimeout is how long syncUntil waits for what it is looking for.
const syncTimeout = 20 * time.Second

// syncUntil runs incremental /sync from u.since (long-polling one second
// at a time) until done accepts a response, and fails the test after
// syncTimeout. done sees every response, so it can accumulate across them.
func (u *user) syncUntil(t *testing.T, what string, done func(*mautrix.RespSync) bool) *mautrix.RespSync {
	t.Helper()
	deadline := time.Now().Add(syncTimeout)
	for {
		resp, err := u.SyncRequest(t.Context(), 1000, u.since, "", false, "")
		if err != nil {
			t.Fatalf("%s: /sync waiting for %s: %v", u.UserID, what, err)
		}
		if resp.NextBatch == "" {
			t.Fatalf("%s: /sync response without next_batch", u.UserID)
		}
		u.since = resp.NextBatch
		if done(resp) {
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no /sync delivered %s within %s", u.UserID, what, syncTimeout)
		}
	}
}

// joined returns the joined-room section for room, or nil.
func joined(resp *mautrix.RespSync, room id.RoomID) *mautrix.SyncJoinedRoom {
	return resp.Rooms.Join[room]
}

// timeline returns the timeline events of a joined room in resp.
func timeline(resp *mautrix.RespSync, room id.RoomID) []*event.Event {
	if jr := joined(resp, room); jr != nil {
		return jr.Timeline.Events
	}
	return nil
}

// ephemeral returns the ephemeral events of a joined room in resp.
func ephemeral(resp *mautrix.RespSync, room id.RoomID) []*event.Event {
	if jr := joined(resp, room); jr != nil {
		return jr.Ephemeral.Events
	}
	return nil
}

// stateAndTimeline returns a joined or left room's state followed by its timeline.
func stateAndTimeline(resp *mautrix.RespSync, room id.RoomID) []*event.Event {
	if jr := resp.Rooms.Join[room]; jr != nil {
		return append(slices.Clone(jr.State.Events), jr.Timeline.Events...)
	}
	if lr := resp.Rooms.Leave[room]; lr != nil {
		return append(slices.Clone(lr.State.Events), lr.Timeline.Events...)
	}
	return nil
}

// byID returns the event with the given ID, or nil.
func byID(evs []*event.Event, eventID id.EventID) *event.Event {
	for _, ev := range evs {
		if ev.ID == eventID {
			return ev
		}
	}
	return nil
}

// memberEvent returns the last m.room.member event about userID in evs.
func memberEvent(evs []*event.Event, userID id.UserID) *event.Event {
	var found *event.Event
	for _, ev := range evs {
		if ev.Type.Type == "m.room.member" && ev.StateKey != nil && *ev.StateKey == string(userID) {
			found = ev
		}
	}
	return found
}

// ofType returns the events of type typ in evs.
func ofType(evs []*event.Event, typ string) []*event.Event {
	var out []*event.Event
	for _, ev := range evs {
		if ev.Type.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// field walks an event's raw content by keys and returns the value found,
// or nil.
func field(ev *event.Event, path ...string) any {
	var cur any = ev.Content.Raw
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// str is field for a string value ("" when absent or not a string).
func str(ev *event.Event, path ...string) string {
	s, _ := field(ev, path...).(string)
	return s
}

// wantMatrixError checks that err is a Matrix error with the given HTTP
// status and errcode.
func wantMatrixError(t *testing.T, err error, status int, errcode string) {
	t.Helper()
	var he mautrix.HTTPError
	if !errors.As(err, &he) || he.Response == nil {
		t.Fatalf("want %d %s, got %v", status, errcode, err)
	}
	got := ""
	if he.RespError != nil {
		got = he.RespError.ErrCode
	}
	if he.Response.StatusCode != status || got != errcode {
		t.Fatalf("want %d %s, got %d %s (%v)", status, errcode, he.Response.StatusCode, got, err)
	}
}

// rawResponse is a response read in full by server.raw.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// raw sends a request with an exact body (nil for none), bypassing
// mautrix so malformed input reaches the server as written. token may be
// empty for no Authorization header.
func (s *server) raw(t *testing.T, method, path, token string, body []byte) rawResponse {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// matrixError parses a Matrix error body and checks it is well formed: a
// JSON object served as application/json with string errcode and error.
func (r rawResponse) matrixError(t *testing.T, what string) (errcode string) {
	t.Helper()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, r.Header.Get("Content-Type"))
	}
	var body struct {
		ErrCode *string `json:"errcode"`
		Error   *string `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.ErrCode == nil {
		t.Fatalf("%s: %d with a body that is not a Matrix error: %q", what, r.Status, r.Body)
	}
	if body.Error == nil {
		t.Errorf("%s: Matrix error without an \"error\" message: %s", what, r.Body)
	}
	return *body.ErrCode
}

// wantError checks r is a well-formed Matrix error with status and one of
// errcodes.
func (r rawResponse) wantError(t *testing.T, what string, status int, errcodes ...string) {
	t.Helper()
	code := r.matrixError(t, what)
	if r.Status != status || !slices.Contains(errcodes, code) {
		t.Errorf("%s: got %d %s, want %d %v (body %s)", what, r.Status, code, status, errcodes, r.Body)
	}
}

package e2ee

import (
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// startSlidingJS is startJS running js/sliding.mjs: the same matrix-js-sdk
// client and line protocol, syncing with simplified sliding sync.
func startSlidingJS(t *testing.T, s *server, user, password string, room id.RoomID, peer id.UserID) *jsClient {
	t.Helper()
	return startScript(t, "sliding.mjs", s, user, password, room, peer)
}

// TestMatrixJSSlidingSyncInterop: a matrix-js-sdk client that syncs only
// through simplified sliding sync (MSC4186) gets its invite, joins, and
// exchanges encrypted messages both ways with a mautrix-go client: room
// keys reach it as to-device messages, and the devices it encrypts for
// come from the e2ee extension's device lists.
func TestMatrixJSSlidingSyncInterop(t *testing.T) {
	s := startServer(t, "sqlite")
	gouser := newMXClient(t, s, "gouser")
	reg, err := mautrix.NewClient(s.URL, "", "")
	if err != nil {
		t.Fatal(err)
	}
	reg.Client = httpClient
	const jsPassword = "slider-correct-horse-battery"
	resp, err := reg.RegisterDummy(t.Context(), &mautrix.ReqRegister[any]{Username: "slider", Password: jsPassword})
	if err != nil {
		t.Fatal(err)
	}
	room := gouser.encryptedRoom(resp.UserID)
	js := startSlidingJS(t, s, "slider", jsPassword, room, gouser.UserID)
	js.next("ready", 90*time.Second, func(l jsLine) bool { return l.Ready != nil })
	gouser.waitMember(room, resp.UserID)

	gouser.send(room, "hello sliding sync, from mautrix-go")
	js.waitGot("hello sliding sync, from mautrix-go")
	js.send("hello mautrix-go, from sliding sync")
	gouser.waitMessage(room, "hello mautrix-go, from sliding sync")
	for _, body := range []string{"one", "two", "three"} {
		gouser.send(room, body)
		js.waitGot(body)
	}
}

package rooms_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// FuzzSend feeds arbitrary state and message content through event
// building and the auth rules: the answer is a stored event or a Matrix
// error, never a panic or an internal error.
func FuzzSend(f *testing.F) {
	seeds := []struct {
		typ, key, content string
	}{
		{"m.room.power_levels", "", `{"users":{"@alice:test.local":"100"}}`},
		{"m.room.power_levels", "", `{"users":{"@alice:test.local":1e400}}`},
		{"m.room.member", "@bob:test.local", `{"membership":"join"}`},
		{"m.room.member", "@alice:test.local", `{"membership":"ban"}`},
		{"m.room.join_rules", "", `{"join_rule":7}`},
		{"m.room.message", "", `{"body":"\u0000"}`},
		{"m.room.create", "", `{}`},
		{"m.room.name", "@bob:test.local", `{"name":"x"}`},
	}
	for _, s := range seeds {
		f.Add(s.typ, s.key, []byte(s.content), true)
	}
	db := storagetest.NewSQLite(f)
	rs, _ := newService(&testing.T{}, db)
	ctx := context.Background()
	roomID, _, err := rs.CreateRoom(ctx, alice, &rooms.CreateRequest{Preset: "public_chat"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ, key string, content []byte, state bool) {
		if !json.Valid(content) || len(content) == 0 || content[0] != '{' || typ == "" {
			return // the HTTP layer refuses these before rooms sees them
		}
		req := rooms.SendRequest{RoomID: roomID, Sender: alice, Type: typ, Content: content}
		if state {
			req.StateKey = &key
		}
		_, err := rs.Send(ctx, req)
		var me *httpx.Error
		if err != nil && (!errors.As(err, &me) || me.Status >= 500) {
			t.Fatalf("Send(%q, %q, %s): %v", typ, key, content, err)
		}
	})
}

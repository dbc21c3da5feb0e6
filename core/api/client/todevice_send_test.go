package client

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestSendToDevice(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newE2EEEnv(t, db)
		alice, bob := e.newClient("alice"), e.newClient("bob")
		body := map[string]any{"messages": map[string]any{string(bob.user): map[string]any{"*": map[string]any{"hello": "bob"}}}}
		alice.do("PUT", "/_matrix/client/v3/sendToDevice/m.test/txn1", body).want(t, 200, "")
		alice.do("PUT", "/_matrix/client/v3/sendToDevice/m.test/txn1", body).want(t, 200, "")
		evs, err := e.td.ForSync(context.Background(), bob.user, bob.device, 0, e.w.Pos())
		if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0]), `"sender":"@alice:example.org"`) ||
			!strings.Contains(string(evs[0]), `"content":{"hello":"bob"}`) {
			t.Fatalf("bob's to-device events: %s %v", evs, err)
		}

		big := `{"messages":{"@bob:example.org":{"*":{"body":"` + strings.Repeat("x", 70000) + `"}}}}`
		cases := []struct {
			name, body string
			status     int
			code       string
		}{
			{"oversized message", big, 413, "M_TOO_LARGE"},
			{"malformed JSON", `{"messages":`, 400, "M_NOT_JSON"},
			{"missing messages", `{}`, 400, "M_MISSING_PARAM"},
			{"messages of the wrong shape", `{"messages":{"@bob:example.org":["x"]}}`, 400, "M_BAD_JSON"},
			{"content not an object", `{"messages":{"@bob:example.org":{"*":"x"}}}`, 400, "M_BAD_JSON"},
			{"invalid user ID", `{"messages":{"bob":{"*":{}}}}`, 400, "M_INVALID_PARAM"},
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				alice.do("PUT", "/_matrix/client/v3/sendToDevice/m.test/bad"+string(rune('a'+i)), c.body).want(t, c.status, c.code)
			})
		}
	})
}

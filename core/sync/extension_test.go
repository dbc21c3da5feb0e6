package sync_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	gsync "github.com/gatehouse-chat/gatehouse/core/sync"
)

// toDevice is a toy to-device extension: messages live in memory, are
// announced through the stream writer, and are delivered once.
type toDevice struct {
	w    *stream.Writer
	mu   sync.Mutex
	msgs map[id.UserID][]string
	reqs []gsync.ExtensionRequest
}

func (x *toDevice) send(ctx context.Context, to id.UserID, msg string) error {
	x.mu.Lock()
	x.msgs[to] = append(x.msgs[to], msg)
	x.mu.Unlock()
	_, err := x.w.Submit(ctx, stream.Change{Kind: stream.KindToDevice, UserIDs: []string{to.String()}},
		func(context.Context, *storage.Tx, int64) error { return nil })
	return err
}

func (x *toDevice) Sync(_ context.Context, req *gsync.ExtensionRequest) (map[string]json.RawMessage, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.reqs = append(x.reqs, *req)
	msgs := x.msgs[req.UserID]
	delete(x.msgs, req.UserID)
	evs := []map[string]any{}
	for _, m := range msgs {
		evs = append(evs, map[string]any{"type": "org.example.msg", "sender": "@x:y", "content": map[string]string{"m": m}})
	}
	raw, err := json.Marshal(map[string]any{"events": evs})
	return map[string]json.RawMessage{"to_device": raw, "device_unused_fallback_key_types": json.RawMessage(`[]`)}, len(msgs) > 0, err
}

func TestExtensionSeam(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ext := &toDevice{w: e.Writer, msgs: map[id.UserID][]string{}}
		e.Sync.AddExtension(ext)
		alice, bob := e.User("alice"), e.User("bob")
		room := e.Room(alice, rooms.CreateRequest{}, bob)
		res := e.sync(bob, syncOpts{})
		if !res.Get("to_device.events").IsArray() || !res.Get("device_unused_fallback_key_types").IsArray() ||
			!res.Get("device_lists.changed").IsArray() {
			t.Fatalf("extension fields or placeholders missing: %s", res.Raw)
		}
		done := make(chan string, 1)
		go func() {
			done <- e.sync(bob, syncOpts{since: res.Get("next_batch").Str, timeout: 20 * time.Second}).Get("to_device.events.0.content.m").Str
		}()
		time.Sleep(30 * time.Millisecond)
		if err := ext.send(e.Ctx, bob, "psst"); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-done:
			if got != "psst" {
				t.Errorf("to-device message = %q", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("extension news did not end the long poll")
		}
		// Joining and leaving reach the extension.
		next := e.sync(bob, syncOpts{}).Get("next_batch").Str
		e.Leave(room, bob, bob)
		e.sync(bob, syncOpts{since: next})
		last := ext.reqs[len(ext.reqs)-1]
		if len(last.NewlyLeft) != 1 || last.NewlyLeft[0] != room || last.DeviceID != "DEV" || last.Since == 0 {
			t.Errorf("extension request = %+v", last)
		}
	})
}

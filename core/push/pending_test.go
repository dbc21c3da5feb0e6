package push

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/events"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
)

type everyone struct{}

func (everyone) UserExists(context.Context, id.UserID) (bool, error) { return true, nil }
func (everyone) Profile(context.Context, id.UserID) (string, string, error) {
	return "", "", nil
}

// TestCountsOfBatchedSends checks that concurrent sends, which commit
// several to a transaction, each count once, and that a read receipt
// committed through the writer sees them all.
func TestCountsOfBatchedSends(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		w, err := stream.NewWriter(ctx, db, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		key, err := events.ParseSigningKey("ed25519 a_test YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE")
		if err != nil {
			t.Fatal(err)
		}
		rs := rooms.New(db, w, everyone{}, rooms.Options{ServerName: "x", Key: key}, zerolog.Nop())
		ps := New(db, w, "x", zerolog.Nop())
		rs.AddPersistHook(ps.PersistHook)
		alice, bob := id.UserID("@alice:x"), id.UserID("@bob:x")
		roomID, _, err := rs.CreateRoom(ctx, alice, &rooms.CreateRequest{Preset: "public_chat"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rs.Join(ctx, bob, roomID.String(), "", nil); err != nil {
			t.Fatal(err)
		}
		const n = 40
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				_, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: alice, Type: "m.room.message",
					Content: json.RawMessage(`{"msgtype":"m.text","body":"hi"}`)})
				errs <- err
			}()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		counts, err := ps.UnreadCounts(ctx, bob, []id.RoomID{roomID})
		if err != nil {
			t.Fatal(err)
		}
		if got := counts[roomID].Notifications; got != n {
			t.Fatalf("bob has %d notifications, want %d", got, n)
		}
		upTo := w.Pos()
		done := make(chan error, 1)
		go func() {
			_, err := rs.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: alice, Type: "m.room.message",
				Content: json.RawMessage(`{"msgtype":"m.text","body":"after"}`)})
			done <- err
		}()
		if _, err := w.Submit(ctx, stream.Change{Kind: stream.KindReceipt, RoomID: string(roomID)},
			func(ctx context.Context, tx *storage.Tx, pos int64) error {
				return ps.MarkRead(ctx, tx, bob, roomID, upTo, 0)
			}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		counts, _ = ps.UnreadCounts(ctx, bob, []id.RoomID{roomID})
		if got := counts[roomID].Notifications; got != 1 {
			t.Fatalf("after the receipt bob has %d notifications, want 1", got)
		}
	})
}

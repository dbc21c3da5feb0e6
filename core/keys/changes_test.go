package keys_test

import (
	"slices"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/keys"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func (e *env) changes(viewer id.UserID, since, upto int64) (changed, left []id.UserID) {
	e.t.Helper()
	changed, left, err := e.keys.DeviceListChanges(e.ctx, viewer, since, upto)
	if err != nil {
		e.t.Fatal(err)
	}
	return changed, left
}

func wantUsers(t *testing.T, what string, got []id.UserID, want ...id.UserID) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestDeviceListChanges(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		alice, bob, carol := e.user("alice"), e.user("bob"), e.user("carol")
		room := e.shareRoom(alice, bob)
		p0 := e.w.Pos()

		// alice logs in a new device and uploads its keys.
		d := e.device(alice, "NEWDEV")
		if _, err := e.keys.Upload(e.ctx, alice, "NEWDEV", keys.UploadRequest{DeviceKeys: d.deviceKeys()}); err != nil {
			t.Fatal(err)
		}
		p1 := e.w.Pos()
		changed, left := e.changes(bob, p0, p1)
		wantUsers(t, "bob's changed after alice's new device", changed, alice)
		wantUsers(t, "bob's left", left)
		changed, _ = e.changes(alice, p0, p1)
		wantUsers(t, "alice's own changed", changed, alice)
		changed, _ = e.changes(carol, p0, p1)
		wantUsers(t, "carol (no shared room) changed", changed)
		changed, _ = e.changes(bob, 0, p1)
		wantUsers(t, "initial sync changed", changed)

		// carol joins: bob must start tracking her, she everyone in the room.
		if _, err := e.rooms.Join(e.ctx, carol, string(room), "", nil); err != nil {
			t.Fatal(err)
		}
		p2 := e.w.Pos()
		changed, _ = e.changes(bob, p1, p2)
		wantUsers(t, "bob's changed after carol joined", changed, carol)
		changed, _ = e.changes(carol, p1, p2)
		wantUsers(t, "carol's changed after joining", changed, alice, bob)

		// A profile change (join -> join) is not a device list change.
		if _, err := e.rooms.SetMembership(e.ctx, rooms.MembershipRequest{RoomID: room, Sender: carol, Target: carol,
			Membership: event.MembershipJoin, Extra: map[string]any{"displayname": "Caroline"}}); err != nil {
			t.Fatal(err)
		}
		p3 := e.w.Pos()
		changed, left = e.changes(bob, p2, p3)
		wantUsers(t, "bob's changed after a rename", changed)
		wantUsers(t, "bob's left after a rename", left)

		// carol leaves: bob stops tracking her and she everyone.
		if _, err := e.rooms.SetMembership(e.ctx, rooms.MembershipRequest{RoomID: room, Sender: carol, Target: carol,
			Membership: event.MembershipLeave}); err != nil {
			t.Fatal(err)
		}
		p4 := e.w.Pos()
		changed, left = e.changes(bob, p3, p4)
		wantUsers(t, "bob's left after carol left", left, carol)
		wantUsers(t, "bob's changed after carol left", changed)
		_, left = e.changes(carol, p3, p4)
		wantUsers(t, "carol's left after leaving", left, alice, bob)

		// Deleting a device is a change too; the window is exact.
		if err := e.acc.DeleteDevices(e.ctx, alice, []id.DeviceID{"NEWDEV"}); err != nil {
			t.Fatal(err)
		}
		p5 := e.w.Pos()
		changed, _ = e.changes(bob, p4, p5)
		wantUsers(t, "bob's changed after alice deleted a device", changed, alice)
		changed, _ = e.changes(bob, p5, p5)
		wantUsers(t, "empty window", changed)
	})
}

func TestComputeSync(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEnv(t, db)
		alice, bob := e.user("alice"), e.user("bob")
		e.shareRoom(alice, bob)
		d := e.device(bob, "BOBDEV")
		p0 := e.w.Pos()
		if _, err := e.keys.Upload(e.ctx, bob, "BOBDEV", keys.UploadRequest{DeviceKeys: d.deviceKeys(),
			OneTimeKeys: d.otks(2), FallbackKeys: d.fallback()}); err != nil {
			t.Fatal(err)
		}
		sec, err := keys.ComputeSync(e.ctx, e.keys, e.td, keys.SyncRequest{UserID: alice, DeviceID: "ALICEDEV", Since: p0, Upto: e.w.Pos()})
		if err != nil {
			t.Fatal(err)
		}
		if !sec.News() {
			t.Fatal("bob's new keys are no news to alice")
		}
		f := sec.Fields()
		if string(f["device_lists"]) != `{"changed":["@bob:test.local"],"left":[]}` || string(f["to_device"]) != `{"events":[]}` {
			t.Fatalf("alice's sections: %s %s", f["device_lists"], f["to_device"])
		}
		if string(f["device_one_time_keys_count"]) != `{"signed_curve25519":0}` || string(f["device_unused_fallback_key_types"]) != `[]` {
			t.Fatalf("alice's key counts: %s %s", f["device_one_time_keys_count"], f["device_unused_fallback_key_types"])
		}
		sec, _ = keys.ComputeSync(e.ctx, e.keys, e.td, keys.SyncRequest{UserID: bob, DeviceID: "BOBDEV", Since: e.w.Pos(), Upto: e.w.Pos()})
		f = sec.Fields()
		if sec.News() || f["device_lists"] != nil {
			t.Fatalf("empty window has news: %v", f)
		}
		if string(f["device_one_time_keys_count"]) != `{"signed_curve25519":2}` || string(f["device_unused_fallback_key_types"]) != `["signed_curve25519"]` {
			t.Fatalf("bob's key counts: %s %s", f["device_one_time_keys_count"], f["device_unused_fallback_key_types"])
		}
	})
}

package appservice

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/presence"
	"github.com/gatehouse-chat/gatehouse/core/receipts"
	"github.com/gatehouse-chat/gatehouse/core/rooms"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/core/typing"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// keyStore stands in for the E2EE key store (being written in parallel):
// every device of the ghost has 42 one-time keys and an unused fallback key.
type keyStore struct{}

func (keyStore) OneTimeKeyCounts(_ context.Context, users []id.UserID) (map[id.UserID]map[id.DeviceID]map[id.KeyAlgorithm]int, error) {
	out := map[id.UserID]map[id.DeviceID]map[id.KeyAlgorithm]int{}
	for _, u := range users {
		if u == ghost {
			out[u] = map[id.DeviceID]map[id.KeyAlgorithm]int{"GHOSTDEV": {id.KeyAlgorithmSignedCurve25519: 42}}
		}
	}
	return out, nil
}

func (keyStore) UnusedFallbackKeyTypes(_ context.Context, users []id.UserID) (map[id.UserID]map[id.DeviceID][]id.KeyAlgorithm, error) {
	out := map[id.UserID]map[id.DeviceID][]id.KeyAlgorithm{}
	for _, u := range users {
		if u == ghost {
			out[u] = map[id.DeviceID][]id.KeyAlgorithm{"GHOSTDEV": {id.KeyAlgorithmSignedCurve25519}}
		}
	}
	return out, nil
}

func TestEphemeralAndMSC3202(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		f := newFakeAS(t)
		reg := bridgeReg(t, f.srv.URL) // receive_ephemeral, MSC3202, MSC4190
		mx := f.start(reg, "")
		var ty *typing.Service
		var rc *receipts.Service
		var pr *presence.Service
		c := newCoreFull(t, db, []*registration.Registration{reg}, nil, anyLocal{}, func(w *stream.Writer, rs *rooms.Service) PusherOptions {
			ty = typing.New(w, rs, zerolog.Nop())
			rc = receipts.New(db, w, rs)
			pr = presence.New(db, w, zerolog.Nop())
			t.Cleanup(pr.Close)
			t.Cleanup(ty.Close)
			return PusherOptions{Typing: ty, Receipts: rc, Presence: pr, Keys: keyStore{}}
		})
		room := bridgedRoom(t, c)
		msg := c.send(t, room, alice, "read me")

		if err := ty.Set(ctx, room, alice, true, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := rc.Set(ctx, room, alice, receipts.Read, msg.ID, ""); err != nil {
			t.Fatal(err)
		}
		if err := pr.Set(ctx, alice, presence.Online, nil); err != nil {
			t.Fatal(err)
		}
		acc := f.waitFor(10*time.Second, "typing, receipt and presence", func(acc []delivery) bool {
			var types []string
			for _, d := range acc {
				types = append(types, d.ephemeral...)
			}
			return slices.Contains(types, "m.typing") && slices.Contains(types, "m.receipt") && slices.Contains(types, "m.presence")
		})
		for _, d := range acc {
			for _, e := range d.raw.Get("ephemeral").Array() {
				switch e.Get("type").Str {
				case "m.typing":
					if e.Get("room_id").Str != string(room) || e.Get("content.user_ids.0").Str != string(alice) {
						t.Fatalf("typing EDU %s", e.Raw)
					}
				case "m.receipt":
					if !e.Get(`content.` + gjson.Escape(string(msg.ID)) + `.m\.read.` + gjson.Escape(string(alice)) + `.ts`).Exists() {
						t.Fatalf("receipt EDU %s", e.Raw)
					}
				case "m.presence":
					if e.Get("sender").Str != string(alice) || e.Get("content.presence").Str != "online" {
						t.Fatalf("presence EDU %s", e.Raw)
					}
				}
			}
			if d.raw.Get("ephemeral").Raw != d.raw.Get(`de\.sorunome\.msc2409\.ephemeral`).Raw {
				t.Fatal("ephemeral events must be under both names")
			}
		}

		// MSC3202: bob starts and stops sharing a room with the bridge's
		// users; a to-device message to the ghost carries its key counts.
		if _, err := c.rooms.Join(ctx, bob, string(room), "", nil); err != nil {
			t.Fatal(err)
		}
		sendToDevice(t, c, 1)
		// In one transaction "changed" then "left" collapse to "left", so let
		// the join go out first.
		f.waitFor(10*time.Second, "bob's device list change", func(acc []delivery) bool {
			return slices.ContainsFunc(acc, func(d delivery) bool { return d.raw.Get("device_lists.changed.0").Str == string(bob) })
		})
		if _, err := c.rooms.SetMembership(ctx, rooms.MembershipRequest{RoomID: room, Sender: bob, Target: bob, Membership: event.MembershipLeave}); err != nil {
			t.Fatal(err)
		}
		_, err := c.w.Submit(ctx, stream.Change{Kind: stream.KindDeviceList, UserIDs: []string{string(alice)}},
			func(ctx context.Context, tx *storage.Tx, pos int64) error {
				return c.p.QueueDeviceListChange(ctx, tx, pos, alice)
			})
		if err != nil {
			t.Fatal(err)
		}
		acc = f.waitFor(10*time.Second, "device lists", func(acc []delivery) bool {
			changed, left := map[string]bool{}, map[string]bool{}
			for _, d := range acc {
				for _, u := range d.raw.Get("device_lists.changed").Array() {
					changed[u.Str] = true
				}
				for _, u := range d.raw.Get("device_lists.left").Array() {
					left[u.Str] = true
				}
			}
			return changed[string(bob)] && left[string(bob)] && changed[string(alice)]
		})
		var sawCounts bool
		for _, d := range acc {
			if d.raw.Get(`device_lists`).Raw != d.raw.Get(`org\.matrix\.msc3202\.device_lists`).Raw {
				t.Fatal("device lists must be under both names")
			}
			if n := d.raw.Get(`device_one_time_keys_count.` + gjson.Escape(string(ghost)) + `.GHOSTDEV.signed_curve25519`); n.Exists() {
				sawCounts = n.Int() == 42 &&
					d.raw.Get(`org\.matrix\.msc3202\.device_one_time_keys_count`).Raw == d.raw.Get("device_one_time_keys_count").Raw &&
					d.raw.Get(`device_unused_fallback_key_types.`+gjson.Escape(string(ghost))+`.GHOSTDEV.0`).Str == "signed_curve25519"
			}
		}
		if !sawCounts {
			t.Fatal("no one-time key counts for the ghost's device")
		}
		// mautrix handed the counts to the bridge's crypto.
		select {
		case otk := <-mx.OTKCounts:
			if otk.UserID != ghost || otk.DeviceID != "GHOSTDEV" || otk.SignedCurve25519 != 42 {
				t.Fatalf("mautrix OTK count %+v", otk)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("mautrix got no OTK counts")
		}
	})
}

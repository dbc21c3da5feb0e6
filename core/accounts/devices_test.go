package accounts

import (
	"context"
	"errors"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestDevices(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		var changes []DeviceChange
		s.OnDeviceChange(func(_ context.Context, c DeviceChange) { changes = append(changes, c) })
		uid := mustRegister(t, s, "alice", "pw")
		a := mustLogin(t, s, uid, "AAA")
		mustLogin(t, s, uid, "BBB")
		mustLogin(t, s, uid, "CCC")

		devs, err := s.Devices(ctx, uid)
		if err != nil || len(devs) != 3 || devs[0].DeviceID != "AAA" || devs[0].DisplayName != "test device" || devs[0].CreatedTS == 0 {
			t.Fatalf("devices = %+v, %v", devs, err)
		}
		if err := s.RenameDevice(ctx, uid, "BBB", "Work laptop"); err != nil {
			t.Fatal(err)
		}
		d, err := s.Device(ctx, uid, "BBB")
		if err != nil || d.DisplayName != "Work laptop" {
			t.Fatalf("renamed device = %+v, %v", d, err)
		}
		if err := s.RenameDevice(ctx, uid, "ZZZ", "x"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("rename missing device: %v", err)
		}
		bob := mustRegister(t, s, "bob", "pw")
		if _, err := s.Device(ctx, bob, "AAA"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("bob sees alice's device: %v", err)
		}

		if err := s.DeleteDevices(ctx, uid, []id.DeviceID{"AAA", "CCC", "NOPE"}); err != nil {
			t.Fatal(err)
		}
		_, err = s.Authenticate(authRequest(a.AccessToken))
		wantErrCode(t, err, "M_UNKNOWN_TOKEN")
		devs, _ = s.Devices(ctx, uid)
		if len(devs) != 1 || devs[0].DeviceID != "BBB" {
			t.Fatalf("devices after delete = %+v", devs)
		}
		var tokens int
		_ = db.QueryRow(ctx, `SELECT COUNT(*) FROM access_tokens WHERE user_id = $1`, uid).Scan(&tokens)
		if tokens != 1 {
			t.Fatalf("%d tokens left, want 1", tokens)
		}
		want := []DeviceChange{
			{uid, "AAA", DeviceAdded}, {uid, "BBB", DeviceAdded}, {uid, "CCC", DeviceAdded},
			{uid, "BBB", DeviceRenamed}, {uid, "AAA", DeviceDeleted}, {uid, "CCC", DeviceDeleted},
		}
		if len(changes) != len(want) {
			t.Fatalf("changes = %+v", changes)
		}
		for i := range want {
			if changes[i] != want[i] {
				t.Fatalf("change %d = %+v, want %+v", i, changes[i], want[i])
			}
		}
	})
}

func TestProfileAndDirectory(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		alice := mustRegister(t, s, "alice", "pw")
		mustRegister(t, s, "bob", "pw")
		carol := mustRegister(t, s, "carol", "pw")
		mustRegister(t, s, "dave_100", "pw")
		gone := mustRegister(t, s, "alicia", "pw")
		if err := s.Deactivate(ctx, gone, false); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisplayName(ctx, carol, "Carol ALICEson"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAvatarURL(ctx, alice, "mxc://example.org/abc"); err != nil {
			t.Fatal(err)
		}
		p, err := s.Profile(ctx, alice)
		if err != nil || p.DisplayName != "alice" || p.AvatarURL != "mxc://example.org/abc" {
			t.Fatalf("profile = %+v, %v", p, err)
		}
		if err := s.SetDisplayName(ctx, alice, ""); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.Profile(ctx, alice); p.DisplayName != "" {
			t.Fatalf("cleared display name = %q", p.DisplayName)
		}
		if err := s.SetDisplayName(ctx, "@ghost:example.org", "x"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("set name of unknown user: %v", err)
		}

		res, limited, err := s.SearchUsers(ctx, "Alice", 10)
		if err != nil || limited || len(res) != 2 || res[0].UserID != alice || res[1].UserID != carol ||
			res[0].AvatarURL != "mxc://example.org/abc" || res[1].DisplayName != "Carol ALICEson" {
			t.Fatalf("search alice = %+v limited=%v err=%v", res, limited, err)
		}
		res, limited, _ = s.SearchUsers(ctx, "example.org", 2)
		if len(res) != 2 || !limited {
			t.Fatalf("limited search = %+v limited=%v", res, limited)
		}
		// LIKE wildcards in the term match literally.
		if res, _, _ := s.SearchUsers(ctx, "_1", 10); len(res) != 1 || res[0].UserID != "@dave_100:example.org" {
			t.Fatalf("search _1 = %+v", res)
		}
		if res, _, _ := s.SearchUsers(ctx, "%", 10); len(res) != 0 {
			t.Fatalf("search %% = %+v", res)
		}
	})
}

func TestRegistrationTokens(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		one := int64(1)
		tok, err := s.CreateRegistrationToken(ctx, RegistrationToken{Token: "once", UsesAllowed: &one})
		if err != nil || tok.Token != "once" {
			t.Fatalf("create: %+v %v", tok, err)
		}
		past := int64(1000)
		if _, err := s.CreateRegistrationToken(ctx, RegistrationToken{Token: "expired", ExpiryTime: &past}); err != nil {
			t.Fatal(err)
		}
		random, err := s.CreateRegistrationToken(ctx, RegistrationToken{})
		if err != nil || len(random.Token) != 16 {
			t.Fatalf("random token: %+v %v", random, err)
		}
		_, err = s.CreateRegistrationToken(ctx, RegistrationToken{Token: "bad token!"})
		wantErrCode(t, err, "M_INVALID_PARAM")
		_, err = s.CreateRegistrationToken(ctx, RegistrationToken{Token: "once"})
		wantErrCode(t, err, "M_INVALID_PARAM")

		for tokName, want := range map[string]bool{"once": true, "expired": false, "missing": false, random.Token: true} {
			if ok, err := s.RegistrationTokenValid(ctx, tokName); err != nil || ok != want {
				t.Fatalf("valid(%s) = %v, %v", tokName, ok, err)
			}
		}
		if _, err := s.Register(ctx, RegisterParams{Localpart: "a", Password: "pw", RegistrationToken: "once"}); err != nil {
			t.Fatal(err)
		}
		_, err = s.Register(ctx, RegisterParams{Localpart: "b", Password: "pw", RegistrationToken: "once"})
		wantErrCode(t, err, "M_UNAUTHORIZED")
		if ok, _ := s.UserExists(ctx, "@b:example.org"); ok {
			t.Fatal("registration with a spent token created the user")
		}
		list, err := s.RegistrationTokens(ctx)
		if err != nil || len(list) != 3 {
			t.Fatalf("list = %+v %v", list, err)
		}
		for _, l := range list {
			if l.Token == "once" && (l.Completed != 1 || l.UsesAllowed == nil || *l.UsesAllowed != 1) {
				t.Fatalf("once = %+v", l)
			}
		}
		if err := s.DeleteRegistrationToken(ctx, "once"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRegistrationToken(ctx, "once"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

func TestRegisterValidation(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		uid := mustRegister(t, s, "alice", "pw")
		if uid != "@alice:example.org" {
			t.Fatalf("user ID = %s", uid)
		}
		_, err := s.Register(ctx, RegisterParams{Localpart: "alice", Password: "other"})
		wantErrCode(t, err, "M_USER_IN_USE")
		for _, bad := range []string{"", "Alice", "al ice", "al:ice", "é", "@alice", strings.Repeat("a", 250)} {
			_, err := s.Register(ctx, RegisterParams{Localpart: bad, Password: "pw"})
			wantErrCode(t, err, "M_INVALID_USERNAME")
		}
		// Every allowed punctuation character, and the longest allowed ID.
		mustRegister(t, s, "a.b_c=d-e/f+g", "pw")
		mustRegister(t, s, strings.Repeat("x", 255-len("@:example.org")), "pw")
		_, err = s.Register(ctx, RegisterParams{Localpart: "nopw"})
		wantErrCode(t, err, "M_MISSING_PARAM")
		_, err = s.Register(ctx, RegisterParams{Localpart: "longpw", Password: strings.Repeat("p", MaxPasswordLength+1)})
		wantErrCode(t, err, "M_INVALID_PARAM")

		u, err := s.GetUser(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		if u.DisplayName != "alice" || u.IsAdmin || u.Deactivated || !u.HasPassword || u.CreatedTS == 0 {
			t.Fatalf("user = %+v", u)
		}
		if _, err := s.GetUser(ctx, "@nobody:example.org"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("GetUser unknown: %v", err)
		}
		wantErrCode(t, s.CheckAvailable(ctx, "alice", ""), "M_USER_IN_USE")
		if err := s.CheckAvailable(ctx, "bob", ""); err != nil {
			t.Fatalf("bob available: %v", err)
		}
	})
}

func TestCheckPassword(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		uid := mustRegister(t, s, "alice", "correct horse")
		if err := s.CheckPassword(ctx, uid, "correct horse"); err != nil {
			t.Fatalf("right password: %v", err)
		}
		wantErrCode(t, s.CheckPassword(ctx, uid, "wrong"), "M_FORBIDDEN")
		wantErrCode(t, s.CheckPassword(ctx, "@ghost:example.org", "x"), "M_FORBIDDEN")

		// bcrypt reads 72 bytes; longer passwords still work as Synapse's do.
		long := strings.Repeat("z", 100)
		uid2 := mustRegister(t, s, "long", long)
		if err := s.CheckPassword(ctx, uid2, long); err != nil {
			t.Fatalf("long password: %v", err)
		}
		var stored string
		if err := db.QueryRow(ctx, `SELECT password_hash FROM users WHERE user_id = $1`, uid).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, "$2a$") || strings.Contains(stored, "correct horse") {
			t.Fatalf("stored hash %q is not bcrypt", stored)
		}
	})
}

func TestChangePassword(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		uid := mustRegister(t, s, "alice", "old")
		keep := mustLogin(t, s, uid, "KEEP")
		other := mustLogin(t, s, uid, "OTHER")
		if _, err := s.Authenticate(authRequest(other.AccessToken)); err != nil {
			t.Fatal(err)
		}
		if err := s.ChangePassword(ctx, uid, "new", true, "KEEP"); err != nil {
			t.Fatal(err)
		}
		wantErrCode(t, s.CheckPassword(ctx, uid, "old"), "M_FORBIDDEN")
		if err := s.CheckPassword(ctx, uid, "new"); err != nil {
			t.Fatal(err)
		}
		_, err := s.Authenticate(authRequest(other.AccessToken))
		wantErrCode(t, err, "M_UNKNOWN_TOKEN")
		if c, err := s.Authenticate(authRequest(keep.AccessToken)); err != nil || c.DeviceID != "KEEP" {
			t.Fatalf("kept session: %+v %v", c, err)
		}
		// Without logout, other sessions survive.
		third := mustLogin(t, s, uid, "THIRD")
		if err := s.ChangePassword(ctx, uid, "newer", false, "KEEP"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(authRequest(third.AccessToken)); err != nil {
			t.Fatalf("third session: %v", err)
		}
	})
}

func TestDeactivate(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		var deactivated []string
		var deleted []string
		s.OnDeactivate(func(_ context.Context, u id.UserID) { deactivated = append(deactivated, string(u)) })
		s.OnDeviceChange(func(_ context.Context, c DeviceChange) {
			if c.Kind == DeviceDeleted {
				deleted = append(deleted, string(c.DeviceID))
			}
		})
		uid := mustRegister(t, s, "alice", "pw")
		sess := mustLogin(t, s, uid, "DEV1")
		if _, err := s.Authenticate(authRequest(sess.AccessToken)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetDisplayName(ctx, uid, "Alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.Deactivate(ctx, uid, true); err != nil {
			t.Fatal(err)
		}
		_, err := s.Authenticate(authRequest(sess.AccessToken))
		wantErrCode(t, err, "M_UNKNOWN_TOKEN")
		wantErrCode(t, s.CheckPassword(ctx, uid, "pw"), "M_USER_DEACTIVATED")
		_, err = s.Login(ctx, LoginParams{UserID: uid})
		wantErrCode(t, err, "M_USER_DEACTIVATED")
		_, err = s.Register(ctx, RegisterParams{Localpart: "alice", Password: "pw"})
		wantErrCode(t, err, "M_USER_IN_USE")
		if _, err := s.Profile(ctx, uid); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("profile of deactivated user: %v", err)
		}
		u, _ := s.GetUser(ctx, uid)
		if !u.Deactivated || u.HasPassword || u.DisplayName != "" {
			t.Fatalf("user after deactivate: %+v", u)
		}
		if len(deactivated) != 1 || deactivated[0] != string(uid) || len(deleted) != 1 || deleted[0] != "DEV1" {
			t.Fatalf("hooks: deactivated=%v deleted=%v", deactivated, deleted)
		}
		if err := s.Deactivate(ctx, "@ghost:example.org", false); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("deactivate unknown: %v", err)
		}
	})
}

func TestListUsers(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		s := newTestService(t, db)
		ctx := context.Background()
		for _, lp := range []string{"dave", "carol", "bob", "alice"} {
			mustRegister(t, s, lp, "pw")
		}
		if _, err := s.Register(ctx, RegisterParams{Localpart: "guest1", Password: "pw", IsGuest: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.Deactivate(ctx, "@dave:example.org", false); err != nil {
			t.Fatal(err)
		}
		page, total, err := s.ListUsers(ctx, ListUsersParams{From: 1, Limit: 2})
		if err != nil || total != 3 || len(page) != 2 || page[0].UserID != "@bob:example.org" || page[1].UserID != "@carol:example.org" {
			t.Fatalf("page = %+v total=%d err=%v", page, total, err)
		}
		all, total, _ := s.ListUsers(ctx, ListUsersParams{Limit: 10, IncludeGuests: true, IncludeDeactivated: true})
		if total != 5 || len(all) != 5 {
			t.Fatalf("all = %+v total=%d", all, total)
		}
		named, total, _ := s.ListUsers(ctx, ListUsersParams{Limit: 10, Name: "CAR"})
		if total != 1 || named[0].UserID != "@carol:example.org" {
			t.Fatalf("named = %+v", named)
		}
	})
}

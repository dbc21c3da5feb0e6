package accounts

import (
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// TestValidationTokenExpiry checks the emailed token's one-hour lifetime
// and that a session cannot be used after its day.
func TestValidationTokenExpiry(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		s := New(db, testServer, Options{BcryptCost: bcrypt.MinCost, Now: func() time.Time { return now }})
		ctx := context.Background()
		alice := mustRegister(t, s, "alice", "pw")
		req := ValidationRequest{Medium: MediumEmail, Address: "alice@example.org", ClientSecret: "secret", SendAttempt: 1}

		late, err := s.StartValidation(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Hour + time.Minute)
		_, err = s.SubmitValidationToken(ctx, late.SessionID, "secret", late.Token)
		wantErrCode(t, err, "M_UNKNOWN")

		req.SendAttempt = 2
		v, err := s.StartValidation(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if v.SessionID != late.SessionID || v.Token == "" || v.Token == late.Token {
			t.Fatalf("new attempt: sid %q (was %q), token changed %v", v.SessionID, late.SessionID, v.Token != late.Token)
		}
		if _, err := s.SubmitValidationToken(ctx, v.SessionID, "secret", v.Token); err != nil {
			t.Fatal(err)
		}
		now = now.Add(23 * time.Hour)
		err = s.AddThreePID(ctx, alice, v.SessionID, "secret")
		wantErrCode(t, err, "M_THREEPID_AUTH_FAILED")
		if list, err := s.ThreePIDs(ctx, alice); err != nil || len(list) != 0 {
			t.Fatalf("threepids = %v, %v", list, err)
		}
	})
}

func TestNormaliseEmail(t *testing.T) {
	for in, want := range map[string]string{"Alice@Example.ORG": "alice@example.org", " bob@example.org ": "bob@example.org"} {
		if got, err := NormaliseEmail(in); err != nil || got != want {
			t.Errorf("NormaliseEmail(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "alice", "Alice <alice@example.org>", "a@b, c@d"} {
		_, err := NormaliseEmail(in)
		wantErrCode(t, err, "M_INVALID_PARAM")
	}
}

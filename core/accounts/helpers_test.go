package accounts

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
)

const testServer = "example.org"

func newTestService(t testing.TB, db *storage.DB) *Service {
	t.Helper()
	return New(db, testServer, Options{BcryptCost: bcrypt.MinCost})
}

func mustRegister(t testing.TB, s *Service, localpart, password string) id.UserID {
	t.Helper()
	uid, err := s.Register(context.Background(), RegisterParams{Localpart: localpart, Password: password})
	if err != nil {
		t.Fatalf("register %s: %v", localpart, err)
	}
	return uid
}

func mustLogin(t testing.TB, s *Service, userID id.UserID, deviceID id.DeviceID) *LoginResult {
	t.Helper()
	res, err := s.Login(context.Background(), LoginParams{UserID: userID, DeviceID: deviceID, DeviceName: "test device"})
	if err != nil {
		t.Fatalf("login %s: %v", userID, err)
	}
	return res
}

func authRequest(token string) *http.Request {
	r := httptest.NewRequest("GET", "/_matrix/client/v3/account/whoami", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// wantErrCode fails unless err is an *httpx.Error with code.
func wantErrCode(t testing.TB, err error, code string) {
	t.Helper()
	var me *httpx.Error
	if !errors.As(err, &me) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if me.ErrCode != code {
		t.Fatalf("want %s, got %s (%s)", code, me.ErrCode, me.Message)
	}
}

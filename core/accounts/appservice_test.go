package accounts

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

// bridgeRegistry is a minimal real AppServices: one appservice owning
// @bridge_*; the appservice package provides the full one.
type bridgeRegistry struct{}

func (bridgeRegistry) AuthenticateAppService(r *http.Request, token string) (*httpx.Caller, error) {
	if token != "as_secret" {
		return nil, nil
	}
	return &httpx.Caller{UserID: "@bridgebot:example.org", AppServiceID: "bridge"}, nil
}

func (bridgeRegistry) ExclusiveOwner(u id.UserID) string {
	if strings.HasPrefix(string(u), "@bridge_") {
		return "bridge"
	}
	return ""
}

func (b bridgeRegistry) InNamespace(as string, u id.UserID) bool {
	return as == "bridge" && b.ExclusiveOwner(u) == "bridge"
}

func TestAppServiceSeam(t *testing.T) {
	db := storagetest.NewSQLite(t)
	s := New(db, testServer, Options{BcryptCost: 4, AppServices: bridgeRegistry{}})
	ctx := context.Background()
	_, err := s.Register(ctx, RegisterParams{Localpart: "bridge_alice", Password: "pw"})
	wantErrCode(t, err, "M_EXCLUSIVE")
	wantErrCode(t, s.CheckAvailable(ctx, "bridge_alice", ""), "M_EXCLUSIVE")
	if err := s.CheckAvailable(ctx, "bridge_alice", "bridge"); err != nil {
		t.Fatal(err)
	}
	uid, err := s.Register(ctx, RegisterParams{Localpart: "bridge_alice", AppServiceID: "bridge"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := s.GetUser(ctx, uid)
	if u.AppServiceID != "bridge" || u.HasPassword {
		t.Fatalf("appservice user = %+v", u)
	}
	_, err = s.Register(ctx, RegisterParams{Localpart: "alice", AppServiceID: "bridge"})
	wantErrCode(t, err, "M_EXCLUSIVE")
	c, err := s.Authenticate(authRequest("as_secret"))
	if err != nil || c.AppServiceID != "bridge" {
		t.Fatalf("as_token caller = %+v, %v", c, err)
	}
}

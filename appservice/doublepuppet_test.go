package appservice

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"maunium.net/go/mautrix/id"

	"github.com/gatehouse-chat/gatehouse/core/accountdata"
	"github.com/gatehouse-chat/gatehouse/core/accounts"
	"github.com/gatehouse-chat/gatehouse/core/api/httpx"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/registration"
	"github.com/rs/zerolog"
)

// Native double puppeting: a granted appservice acts as a local user outside
// its namespaces only in the way the admin's grant and the user's opt-in say.
func TestNativeDoublePuppet(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		w, err := stream.NewWriter(ctx, db, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ad := accountdata.New(db, w)
		bridge := bridgeReg(t, "http://127.0.0.1:1")
		other, err := registration.Parse("other.yaml", []byte("id: other\nurl:\nas_token: other_token\nhs_token: h2\nsender_localpart: otherbot\nnamespaces:\n  users:\n  - regex: '@other_.*:test\\.local'\n    exclusive: true\n"))
		if err != nil {
			t.Fatal(err)
		}
		acc := accounts.New(db, server, accounts.Options{BcryptCost: bcrypt.MinCost})
		reg := NewRegistry([]*registration.Registration{bridge, other}, server, acc)
		acc.SetAppServices(reg)
		for _, u := range []struct{ local, as string }{{"alice", ""}, {"bob", ""}, {"other_x", "other"}} {
			p := accounts.RegisterParams{Localpart: u.local, AppServiceID: u.as}
			if u.as == "" {
				p.Password = "pw"
			}
			if _, err := acc.Register(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		as := func(token, user string) (id.UserID, string) {
			c, err := reg.AuthenticateAppService(httptest.NewRequest("GET", "/x?user_id="+user, nil), token)
			if err != nil {
				return "", err.(*httpx.Error).ErrCode
			}
			return c.UserID, ""
		}
		expect := func(step, token, user string, ok bool) {
			t.Helper()
			got, code := as(token, user)
			if ok && got != id.UserID(user) {
				t.Fatalf("%s: %s as %s = %q %s, want allowed", step, token, user, got, code)
			}
			if !ok && code != "M_FORBIDDEN" {
				t.Fatalf("%s: %s as %s = %q %s, want M_FORBIDDEN", step, token, user, got, code)
			}
		}

		expect("no grant", bridge.ASToken, "@alice:test.local", false)

		reg.SetDoublePuppet(map[string]DoublePuppetMode{"bridge": DoublePuppetOptIn, "other": DoublePuppetAll}, ad)
		expect("granted, alice has not opted in", bridge.ASToken, "@alice:test.local", false)
		set := func(user id.UserID, body string) {
			if err := ad.Set(ctx, user, "", DoublePuppetAccountData, json.RawMessage(body)); err != nil {
				t.Fatal(err)
			}
		}
		set("@alice:test.local", `{"allow":["bridge"]}`)
		expect("alice opted in", bridge.ASToken, "@alice:test.local", true)
		expect("bob did not", bridge.ASToken, "@bob:test.local", false)
		set("@bob:test.local", `{"allow":"bridge"}`)
		expect("malformed opt-in", bridge.ASToken, "@bob:test.local", false)
		set("@alice:test.local", `{"allow":[]}`)
		expect("alice opted out", bridge.ASToken, "@alice:test.local", false)

		expect("all mode", "other_token", "@bob:test.local", true)
		expect("never another appservice's ghost", "other_token", "@bridge_a:test.local", false)
		expect("never a remote user", "other_token", "@bob:elsewhere.org", false)
		expect("never an unknown user", "other_token", "@nobody:test.local", false)
		expect("its own ghost still works", "other_token", "@other_x:test.local", true)
	})
}

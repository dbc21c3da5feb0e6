package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/appservice"
	"github.com/gatehouse-chat/gatehouse/core/accountdata"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
	"github.com/gatehouse-chat/gatehouse/core/stream"
	"github.com/gatehouse-chat/gatehouse/registration"
)

// The bot's `double-puppet on|off` edits only its own entry of the user's
// opt-in list and keeps whatever else the account data holds.
func TestPuppetConsent(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		w, err := stream.NewWriter(ctx, db, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ad := accountdata.New(db, w)
		c := puppetConsent{ad: ad}
		const alice = "@alice:example.org"
		read := func() map[string]any {
			raw, err := ad.Get(ctx, alice, "", appservice.DoublePuppetAccountData)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		if err := c.SetDoublePuppet(ctx, alice, "telegram", true); err != nil {
			t.Fatal(err)
		}
		if err := ad.Set(ctx, alice, "", appservice.DoublePuppetAccountData, json.RawMessage(`{"allow":["telegram","whatsapp"],"note":"mine"}`)); err != nil {
			t.Fatal(err)
		}
		if err := c.SetDoublePuppet(ctx, alice, "discord", true); err != nil {
			t.Fatal(err)
		}
		if err := c.SetDoublePuppet(ctx, alice, "telegram", false); err != nil {
			t.Fatal(err)
		}
		m := read()
		got, _ := json.Marshal(m["allow"])
		if string(got) != `["discord","whatsapp"]` || m["note"] != "mine" {
			t.Fatalf("account data after on/off: %v", m)
		}
	})
}

func TestDoublePuppetGrants(t *testing.T) {
	reg, err := registration.Parse("wa.yaml", []byte("id: whatsapp\nurl: http://127.0.0.1:29318\nas_token: a\nhs_token: h\nsender_localpart: whatsappbot\nnamespaces:\n  users:\n  - regex: '@whatsapp_.*:example\\.org'\n    exclusive: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	asReg := appservice.NewRegistry([]*registration.Registration{reg}, "example.org", nil)
	cfg := config.Defaults()
	cfg.AppServiceDoublePuppet = []string{"whatsapp"}
	grants, err := doublePuppetGrants(&cfg, asReg, map[string]appservice.DoublePuppetMode{"discord": appservice.DoublePuppetAll})
	if err != nil || grants["whatsapp"] != appservice.DoublePuppetOptIn || grants["discord"] != appservice.DoublePuppetAll {
		t.Fatalf("grants %v, %v", grants, err)
	}
	cfg.AppServiceDoublePuppet = []string{"whatsapp", "signal"}
	if _, err := doublePuppetGrants(&cfg, asReg, nil); err == nil || !strings.Contains(err.Error(), `app_service_double_puppet[1]: no appservice registration has id "signal"`) {
		t.Fatalf("unknown id: %v", err)
	}
}

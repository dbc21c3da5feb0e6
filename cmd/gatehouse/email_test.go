package main

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/config"
)

// TestAccountsConfigEmail checks the wiring: an SMTP sender exactly when
// email.smtp_host is set, and links pointing at public_baseurl.
func TestAccountsConfigEmail(t *testing.T) {
	cfg := config.Defaults()
	cfg.ServerName, cfg.PublicBaseURL = "example.org", "https://matrix.example.org/"
	c, err := accountsConfig(&cfg, zerolog.Nop())
	if err != nil || c.Mailer != nil {
		t.Fatalf("without smtp_host: mailer %v, err %v", c.Mailer, err)
	}
	cfg.Email.SMTPHost, cfg.Email.NotifFrom, cfg.Email.AppName = "smtp.example.org", "%(app)s <noreply@example.org>", "Example Chat"
	c, err = accountsConfig(&cfg, zerolog.Nop())
	if err != nil || c.Mailer == nil || c.Mailer.AppName() != "Example Chat" || c.BaseURL != "https://matrix.example.org/" {
		t.Fatalf("with smtp_host: %+v, err %v", c, err)
	}
	cfg.Email.NotifFrom = "nobody"
	if _, err := accountsConfig(&cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "email.notif_from") {
		t.Fatalf("bad notif_from: err %v", err)
	}
}

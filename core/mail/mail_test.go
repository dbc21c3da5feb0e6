package mail_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/mail"
	"github.com/gatehouse-chat/gatehouse/core/mail/mailtest"
)

func sender(t *testing.T, srv *mailtest.Server, mod func(*config.Email)) *mail.Sender {
	t.Helper()
	cfg := config.Email{SMTPHost: srv.Host(), SMTPPort: srv.Port(), NotifFrom: "%(app)s <noreply@example.org>", AppName: "Gatehouse Test"}
	if mod != nil {
		mod(&cfg)
	}
	s, err := mail.New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s.TLSConfig = srv.TLSConfig()
	return s
}

func TestSendSTARTTLSAndAuth(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{User: "mailer", Pass: "secret"})
	s := sender(t, srv, func(c *config.Email) { c.SMTPUser, c.SMTPPass, c.RequireTransportSecurity = "mailer", "secret", true })
	body := "Hello Ünïcode,\n\nfollow https://example.org/" + strings.Repeat("x", 120) + "?a=1&b=2\n"
	if err := s.Send(context.Background(), "Alice@Example.org", "Réinitialiser", body); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
	m := msgs[0]
	if !m.TLS || !m.Authed {
		t.Errorf("tls=%v authed=%v, want both", m.TLS, m.Authed)
	}
	if m.From != "noreply@example.org" || len(m.To) != 1 || m.To[0] != "Alice@Example.org" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	if got := m.Header.Get("From"); !strings.Contains(got, "Gatehouse Test") {
		t.Errorf("From header %q lacks the app name", got)
	}
	if m.Subject != "Réinitialiser" || m.Body != body {
		t.Errorf("subject %q body %q", m.Subject, m.Body)
	}
}

func TestSendImplicitTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{ImplicitTLS: true})
	s := sender(t, srv, func(c *config.Email) { c.ForceTLS = true })
	if err := s.Send(context.Background(), "bob@example.org", "Hi", "text"); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages(); len(m) != 1 || !m[0].TLS || strings.TrimSpace(m[0].Body) != "text" {
		t.Fatalf("messages %+v", m)
	}
}

func TestSendFailuresNameTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts mailtest.Options
		mod  func(*config.Email)
		want string
	}{
		{"no starttls", mailtest.Options{NoSTARTTLS: true}, func(c *config.Email) { c.RequireTransportSecurity = true }, "require_transport_security"},
		{"bad password", mailtest.Options{User: "u", Pass: "p"}, func(c *config.Email) { c.SMTPUser, c.SMTPPass = "u", "wrong" }, "smtp_pass"},
		{"server down", mailtest.Options{}, nil, "smtp_host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.NewServer(t, tc.opts)
			s := sender(t, srv, tc.mod)
			if tc.name == "server down" {
				srv.Close()
			}
			err := s.Send(context.Background(), "bob@example.org", "Hi", "text")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
			if len(srv.Messages()) != 0 {
				t.Fatal("a message was delivered")
			}
		})
	}
}

func TestNoSTARTTLSAllowedWhenNotRequired(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.Options{NoSTARTTLS: true})
	if err := sender(t, srv, nil).Send(context.Background(), "bob@example.org", "Hi", "text"); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages(); len(m) != 1 || m[0].TLS {
		t.Fatalf("messages %+v", m)
	}
}

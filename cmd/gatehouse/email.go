package main

import (
	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/api/client"
	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/mail"
)

// accountsConfig is the account endpoints' settings, with an SMTP sender
// when email.smtp_host is set (password resets and email addresses).
func accountsConfig(cfg *config.Config, log zerolog.Logger) (client.AccountsConfig, error) {
	c := client.AccountsConfigFrom(cfg)
	if cfg.Email.SMTPHost == "" {
		return c, nil
	}
	sender, err := mail.New(cfg.Email, log.With().Str("component", "mail").Logger())
	if err != nil {
		return c, err
	}
	c.Mailer = sender
	return c, nil
}

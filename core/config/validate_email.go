package config

import (
	"net/mail"
	"strings"
)

// checkNotifFrom requires notif_from once email can be sent (smtp_host set):
// password-reset and validation emails need a From address. Synapse's
// "%(app)s" placeholder is replaced by app_name before parsing, as when
// sending.
func checkNotifFrom(p *problems, e Email) {
	if e.NotifFrom == "" {
		p.add("email.notif_from", "required when email.smtp_host is set (e.g. \"%%(app)s <noreply@example.org>\")")
		return
	}
	from := strings.ReplaceAll(e.NotifFrom, "%(app)s", e.AppName)
	if _, err := mail.ParseAddress(from); err != nil {
		p.add("email.notif_from", "not an email address such as \"Matrix <noreply@example.org>\" (got %q: %v)", e.NotifFrom, err)
	}
}

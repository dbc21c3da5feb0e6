package config

import "testing"

// TestEmailProblems checks the email section as admins from Synapse guides
// write it: with smtp_host set, notif_from is required and must be an
// address once %(app)s is replaced; each problem names its key and line.
func TestEmailProblems(t *testing.T) {
	wantProblems(t, problemsOf(t, "server_name: example.org\nemail:\n  smtp_host: smtp.example.org\n"),
		`2: email.notif_from: required when email.smtp_host is set`)
	wantProblems(t, problemsOf(t, "server_name: example.org\nemail:\n  smtp_host: smtp.example.org\n  notif_from: not an address\n"),
		`4: email.notif_from: not an email address`)
	wantProblems(t, problemsOf(t, "server_name: example.org\nemail:\n  smtp_host: smtp.example.org\n  smtp_port: 0\n  notif_from: \"%(app)s\"\n"),
		`4: email.smtp_port: must be between 1 and 65535`, `5: email.notif_from: not an email address`)
	// Synapse's placeholder form, and no email at all, are fine.
	mustParse(t, "server_name: example.org\nemail:\n  smtp_host: smtp.example.org\n  notif_from: \"Your Friendly %(app)s homeserver <noreply@example.org>\"\n  app_name: My Matrix\n")
	mustParse(t, "server_name: example.org\nemail:\n  notif_from: garbage\n")
}

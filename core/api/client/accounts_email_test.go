package client

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/config"
	"github.com/gatehouse-chat/gatehouse/core/mail"
	"github.com/gatehouse-chat/gatehouse/core/mail/mailtest"
	"github.com/gatehouse-chat/gatehouse/core/ratelimit"
	"github.com/gatehouse-chat/gatehouse/core/storage"
	"github.com/gatehouse-chat/gatehouse/core/storage/storagetest"
)

const emailBaseURL = "https://matrix.example.org/"

// emailEnv is an account server whose emails go through a real SMTP
// exchange (STARTTLS, AUTH PLAIN) to a fake mail server.
type emailEnv struct {
	*acctEnv
	smtp   *mailtest.Server
	mailer *switchMailer
}

// switchMailer sends through the working server, or through one that is
// down when down is set.
type switchMailer struct {
	up, broken *mail.Sender
	down       bool
}

func (m *switchMailer) Send(ctx context.Context, to, subject, body string) error {
	if m.down {
		return m.broken.Send(ctx, to, subject, body)
	}
	return m.up.Send(ctx, to, subject, body)
}

func (m *switchMailer) AppName() string { return m.up.AppName() }

func newSender(t *testing.T, srv *mailtest.Server) *mail.Sender {
	t.Helper()
	s, err := mail.New(config.Email{SMTPHost: srv.Host(), SMTPPort: srv.Port(), SMTPUser: "gatehouse", SMTPPass: "smtp-secret",
		RequireTransportSecurity: true, NotifFrom: "%(app)s <noreply@example.org>", AppName: "Example Chat"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s.TLSConfig = srv.TLSConfig()
	return s
}

func newEmailEnv(t *testing.T, db *storage.DB, limits ...AccountLimits) *emailEnv {
	t.Helper()
	limits = append(limits, AccountLimits{})
	srv := mailtest.NewServer(t, mailtest.Options{User: "gatehouse", Pass: "smtp-secret"})
	dead := mailtest.NewServer(t, mailtest.Options{User: "gatehouse", Pass: "smtp-secret"})
	dead.Close()
	m := &switchMailer{up: newSender(t, srv), broken: newSender(t, dead)}
	e := newAcctEnv(t, db, AccountsConfig{BaseURL: emailBaseURL, Mailer: m}, limits[0])
	return &emailEnv{acctEnv: e, smtp: srv, mailer: m}
}

var linkRE = regexp.MustCompile(regexp.QuoteMeta(emailBaseURL) + `\S+`)

// lastLink returns the link in the newest email to address, pointed at the
// test server instead of public_baseurl.
func (e *emailEnv) lastLink(t *testing.T, address string) string {
	t.Helper()
	msgs := e.smtp.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if len(msgs[i].To) == 1 && msgs[i].To[0] == address {
			link := linkRE.FindString(msgs[i].Body)
			if link == "" {
				t.Fatalf("no link in email %q", msgs[i].Body)
			}
			return e.srv.URL + "/" + strings.TrimPrefix(link, emailBaseURL)
		}
	}
	t.Fatalf("no email to %s among %d", address, len(msgs))
	return ""
}

// open follows a link as a browser would, without following redirects.
func open(t *testing.T, link string) (status int, body, location string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), resp.Header.Get("Location")
}

func tokenReq(email, secret string, attempt int) map[string]any {
	return map[string]any{"email": email, "client_secret": secret, "send_attempt": attempt}
}

func emailAuth(sid, secret string) map[string]any {
	return map[string]any{"type": StageEmailIdentity, "threepid_creds": map[string]string{"sid": sid, "client_secret": secret}}
}

// addEmail binds address to the user of tok through the whole flow: email,
// link, then /account/3pid/add with the password.
func (e *emailEnv) addEmail(t *testing.T, tok, user, password, address string) {
	t.Helper()
	sid := e.do("POST", "/_matrix/client/v3/account/3pid/email/requestToken", "", tokenReq(address, "add-"+user, 1)).
		want(t, 200, "").str("sid")
	if status, body, _ := open(t, e.lastLink(t, strings.ToLower(address))); status != 200 || !strings.Contains(body, "validated") {
		t.Fatalf("link: %d %s", status, body)
	}
	e.do("POST", "/_matrix/client/v3/account/3pid/add", tok, map[string]any{"sid": sid, "client_secret": "add-" + user,
		"auth": pwAuth(user, password, "")}).want(t, 200, "")
}

func TestForgotPasswordByEmail(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEmailEnv(t, db)
		e.register("alice", "old password")
		oldTok := e.mustLogin("alice", "old password", "PHONE")

		// Alice adds her address; before she opens the link it cannot be added.
		sid := e.do("POST", "/_matrix/client/v3/account/3pid/email/requestToken", "", tokenReq("Alice@Example.org", "add-1", 1)).
			want(t, 200, "").str("sid")
		e.do("POST", "/_matrix/client/v3/account/3pid/add", oldTok, map[string]any{"sid": sid, "client_secret": "add-1",
			"auth": pwAuth("alice", "old password", "")}).want(t, 400, "M_THREEPID_AUTH_FAILED")
		msgs := e.smtp.Messages()
		if len(msgs) != 1 || msgs[0].To[0] != "alice@example.org" || !msgs[0].TLS || !msgs[0].Authed ||
			!strings.Contains(msgs[0].Subject, "Example Chat") || !strings.Contains(msgs[0].Header.Get("From"), "Example Chat") {
			t.Fatalf("validation email: %+v", msgs)
		}
		if status, body, _ := open(t, e.lastLink(t, "alice@example.org")); status != 200 || !strings.Contains(body, "Go back to your app") {
			t.Fatalf("link: %d %s", status, body)
		}
		e.do("POST", "/_matrix/client/v3/account/3pid/add", oldTok, map[string]any{"sid": sid, "client_secret": "add-1",
			"auth": pwAuth("alice", "old password", "")}).want(t, 200, "")
		r := e.do("GET", "/_matrix/client/v3/account/3pid", oldTok, nil).want(t, 200, "")
		if l := r.Body["threepids"].([]any); len(l) != 1 || l[0].(map[string]any)["address"] != "alice@example.org" ||
			l[0].(map[string]any)["medium"] != "email" {
			t.Fatalf("3pids = %s", r.Raw)
		}

		// She forgets her password: Element asks for a reset email.
		reset := tokenReq("ALICE@example.org", "reset-1", 1)
		sid = e.do("POST", "/_matrix/client/v3/account/password/email/requestToken", "", reset).want(t, 200, "").str("sid")
		if again := e.do("POST", "/_matrix/client/v3/account/password/email/requestToken", "", reset).want(t, 200, "").str("sid"); again != sid {
			t.Fatalf("same send_attempt gave sid %q, then %q", sid, again)
		}
		if n := len(e.smtp.Messages()); n != 2 {
			t.Fatalf("%d emails after a repeated send_attempt, want 2", n)
		}
		if m := e.smtp.Messages()[1]; !strings.Contains(m.Subject, "Password reset") || !strings.Contains(m.Body, "@alice:example.org") {
			t.Fatalf("reset email: %q %q", m.Subject, m.Body)
		}
		newPw := map[string]any{"new_password": "new password", "auth": emailAuth(sid, "reset-1")}
		// Element polls until the link was opened.
		e.do("POST", "/_matrix/client/v3/account/password", "", newPw).want(t, 401, "M_UNAUTHORIZED")
		if status, _, _ := open(t, e.lastLink(t, "alice@example.org")); status != 200 {
			t.Fatalf("reset link: %d", status)
		}
		e.do("POST", "/_matrix/client/v3/account/password", "", map[string]any{"new_password": "x",
			"auth": emailAuth(sid, "someone-else")}).want(t, 401, "M_UNAUTHORIZED")
		e.do("POST", "/_matrix/client/v3/account/password", "", newPw).want(t, 200, "")

		e.login("alice", "old password", "").want(t, 403, "M_FORBIDDEN")
		e.mustLogin("alice", "new password", "")
		e.do("GET", "/_matrix/client/v3/account/whoami", oldTok, nil).want(t, 401, "M_UNKNOWN_TOKEN")
		// The session was used up.
		e.do("POST", "/_matrix/client/v3/account/password", "", map[string]any{"new_password": "third",
			"auth": emailAuth(sid, "reset-1")}).want(t, 401, "M_UNAUTHORIZED")

		// And she can log in with the address.
		r = e.do("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password",
			"identifier": map[string]string{"type": "m.id.thirdparty", "medium": "email", "address": "alice@EXAMPLE.org"},
			"password":   "new password"}).want(t, 200, "")
		if r.str("user_id") != "@alice:example.org" {
			t.Fatalf("email login = %s", r.Raw)
		}
		e.do("POST", "/_matrix/client/v3/login", "", map[string]any{"type": "m.login.password",
			"identifier": map[string]string{"type": "m.id.thirdparty", "medium": "email", "address": "nobody@example.org"},
			"password":   "new password"}).want(t, 403, "M_FORBIDDEN")
	})
}

func TestPasswordResetRequests(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEmailEnv(t, db)
		e.register("bob", "pw")
		tok := e.mustLogin("bob", "pw", "")
		e.addEmail(t, tok, "bob", "pw", "bob@example.org")
		sent := len(e.smtp.Messages())
		const path = "/_matrix/client/v3/account/password/email/requestToken"

		e.do("POST", path, "", tokenReq("nobody@example.org", "s", 1)).want(t, 400, "M_THREEPID_NOT_FOUND")
		e.do("POST", path, "", tokenReq("not an address", "s", 1)).want(t, 400, "M_INVALID_PARAM")
		e.do("POST", path, "", tokenReq("bob@example.org", "bad secret!", 1)).want(t, 400, "M_INVALID_PARAM")
		e.do("POST", path, "", map[string]any{"email": "bob@example.org", "client_secret": "s"}).want(t, 400, "M_MISSING_PARAM")
		e.do("POST", path, "", map[string]any{"email": "bob@example.org", "client_secret": "s", "send_attempt": 1,
			"next_link": "javascript:alert(1)"}).want(t, 400, "M_INVALID_PARAM")
		e.do("POST", path, "", `{"email": 1}`).want(t, 400, "M_BAD_JSON")
		if n := len(e.smtp.Messages()); n != sent {
			t.Fatalf("rejected requests sent %d emails", n-sent)
		}

		// A newer send_attempt sends a new link; the older one stops working.
		sid := e.do("POST", path, "", map[string]any{"email": "bob@example.org", "client_secret": "r", "send_attempt": 1,
			"next_link": "https://app.example.org/done"}).want(t, 200, "").str("sid")
		first := e.lastLink(t, "bob@example.org")
		if again := e.do("POST", path, "", map[string]any{"email": "bob@example.org", "client_secret": "r", "send_attempt": 2,
			"next_link": "https://app.example.org/done"}).want(t, 200, "").str("sid"); again != sid {
			t.Fatalf("new send_attempt changed sid")
		}
		second := e.lastLink(t, "bob@example.org")
		if status, body, _ := open(t, first); status != 400 || !strings.Contains(body, "does not work") {
			t.Fatalf("superseded link: %d %s", status, body)
		}
		if status, body, _ := open(t, strings.Replace(second, "client_secret=r", "client_secret=x", 1)); status != 400 {
			t.Fatalf("link with another client_secret: %d %s", status, body)
		}
		if status, _, loc := open(t, second); status != 302 || loc != "https://app.example.org/done" {
			t.Fatalf("link with next_link: %d -> %q", status, loc)
		}
		// Without the new password the reset asks for it.
		e.do("POST", "/_matrix/client/v3/account/password", "", map[string]any{"auth": emailAuth(sid, "r")}).want(t, 400, "M_MISSING_PARAM")
		// logout_devices: false keeps Bob's sessions.
		e.do("POST", "/_matrix/client/v3/account/password", "", map[string]any{"new_password": "pw2", "logout_devices": false,
			"auth": emailAuth(sid, "r")}).want(t, 200, "")
		e.do("GET", "/_matrix/client/v3/account/whoami", tok, nil).want(t, 200, "")
		e.mustLogin("bob", "pw2", "")
		// Without any auth the endpoint offers the email stage.
		r := e.do("POST", "/_matrix/client/v3/account/password", "", map[string]any{"new_password": "x"}).want(t, 401, "")
		if !strings.Contains(string(r.Raw), StageEmailIdentity) {
			t.Fatalf("challenge = %s", r.Raw)
		}
	})
}

func TestEmailSMTPDown(t *testing.T) {
	e := newEmailEnv(t, storagetest.NewSQLite(t))
	e.register("carol", "pw")
	tok := e.mustLogin("carol", "pw", "")
	e.mailer.down = true
	const path = "/_matrix/client/v3/account/3pid/email/requestToken"
	r := e.do("POST", path, "", tokenReq("carol@example.org", "c", 1)).want(t, 502, "M_UNKNOWN")
	if !strings.Contains(r.str("error"), "Could not send the email") {
		t.Fatalf("error = %s", r.Raw)
	}
	// Nothing half-done: once mail works, the same attempt sends.
	e.mailer.down = false
	sid := e.do("POST", path, "", tokenReq("carol@example.org", "c", 1)).want(t, 200, "").str("sid")
	if status, _, _ := open(t, e.lastLink(t, "carol@example.org")); status != 200 {
		t.Fatal("link after the mail server came back does not work")
	}
	e.do("POST", "/_matrix/client/v3/account/3pid/add", tok, map[string]any{"sid": sid, "client_secret": "c",
		"auth": pwAuth("carol", "pw", "")}).want(t, 200, "")
}

func TestEmailAddresses(t *testing.T) {
	storagetest.ForEachDB(t, func(t *testing.T, db *storage.DB) {
		e := newEmailEnv(t, db)
		e.register("alice", "pw")
		e.register("bob", "pw")
		alice, bob := e.mustLogin("alice", "pw", ""), e.mustLogin("bob", "pw", "")
		e.addEmail(t, alice, "alice", "pw", "shared@example.org")

		// Another account cannot take it.
		e.do("POST", "/_matrix/client/v3/account/3pid/email/requestToken", "", tokenReq("Shared@example.org", "b", 1)).
			want(t, 400, "M_THREEPID_IN_USE")
		// 3pid/add asks for the password first.
		e.do("POST", "/_matrix/client/v3/account/3pid/add", bob, map[string]any{"sid": "x", "client_secret": "y"}).want(t, 401, "")

		// Deleting frees the address; deactivating removes the rest.
		if r := e.do("POST", "/_matrix/client/v3/account/3pid/delete", alice, map[string]any{"medium": "email", "address": "Shared@example.org"}).
			want(t, 200, ""); r.str("id_server_unbind_result") != "no-support" {
			t.Fatalf("delete = %s", r.Raw)
		}
		if r := e.do("GET", "/_matrix/client/v3/account/3pid", alice, nil).want(t, 200, ""); string(r.Raw) != `{"threepids":[]}` {
			t.Fatalf("3pids after delete = %s", r.Raw)
		}
		e.do("POST", "/_matrix/client/v3/account/3pid/delete", alice, map[string]any{"address": "a@b.c"}).want(t, 400, "M_MISSING_PARAM")
		e.addEmail(t, bob, "bob", "pw", "shared@example.org")
		e.do("POST", "/_matrix/client/v3/account/deactivate", bob, map[string]any{"auth": pwAuth("bob", "pw", "")}).want(t, 200, "")
		e.do("POST", "/_matrix/client/v3/account/password/email/requestToken", "", tokenReq("shared@example.org", "z", 1)).
			want(t, 400, "M_THREEPID_NOT_FOUND")
		e.do("POST", "/_matrix/client/v3/account/3pid/email/requestToken", "", tokenReq("shared@example.org", "z", 1)).want(t, 200, "")
	})
}

// TestEmailNotConfigured checks that without smtp_host the endpoints
// answer as before: not supported, and no password reset.
func TestEmailNotConfigured(t *testing.T) {
	e := newAcctEnv(t, storagetest.NewSQLite(t), openRegistration, AccountLimits{})
	e.do("POST", "/_matrix/client/v3/account/password/email/requestToken", "", tokenReq("a@b.c", "s", 1)).
		want(t, 400, "M_THREEPID_MEDIUM_NOT_SUPPORTED")
	e.do("POST", "/_matrix/client/v3/account/password", "", map[string]any{"new_password": "x",
		"auth": emailAuth("s", "c")}).want(t, 401, "M_MISSING_TOKEN")
	r := e.do("GET", passwordResetSubmitPath+"?sid=a&client_secret=b&token=c", "", nil)
	if r.Status != 404 || r.str("errcode") != "M_UNRECOGNIZED" {
		t.Fatalf("submit_token without email: %d %s", r.Status, r.Raw)
	}
}

// TestEmailRateLimit checks that validation emails to one address are
// limited, and that a refused request leaves its attempt to retry.
func TestEmailRateLimit(t *testing.T) {
	limit := ratelimit.New(config.RateLimit{PerSecond: 0.0001, BurstCount: 1}, ratelimit.Options{})
	e := newEmailEnv(t, storagetest.NewSQLite(t), AccountLimits{EmailSend: limit})
	const path = "/_matrix/client/v3/account/3pid/email/requestToken"
	e.do("POST", path, "", tokenReq("dave@example.org", "d", 1)).want(t, 200, "")
	e.do("POST", path, "", tokenReq("dave@example.org", "d", 2)).want(t, 429, "M_LIMIT_EXCEEDED")
	e.do("POST", path, "", tokenReq("erin@example.org", "d", 1)).want(t, 200, "")
	if n := len(e.smtp.Messages()); n != 2 {
		t.Fatalf("%d emails sent, want 2", n)
	}
	// The first link still works: the refused attempt replaced nothing.
	if status, _, _ := open(t, e.lastLink(t, "dave@example.org")); status != 200 {
		t.Fatalf("first link after a refused attempt: %d", status)
	}
}

// Package mail sends Gatehouse's emails (password resets, address
// validation) through the SMTP server named in the config's email section,
// as Synapse does: STARTTLS when the server offers it (required with
// require_transport_security), implicit TLS with force_tls, AUTH PLAIN when
// smtp_user is set.
//
// It knows nothing of accounts or Matrix: callers hand it a recipient, a
// subject and a plain-text body. Send blocks until the SMTP server accepted
// or refused the message.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/gatehouse-chat/gatehouse/core/config"
)

// DefaultTimeout bounds one Send, from connecting to QUIT.
const DefaultTimeout = 30 * time.Second

// Sender sends plain-text emails through one SMTP server.
type Sender struct {
	cfg  config.Email
	from *mail.Address
	log  zerolog.Logger
	// TLSConfig is used for STARTTLS and force_tls; nil means the system's
	// roots with ServerName smtp_host. Tests set it to trust their own
	// certificate.
	TLSConfig *tls.Config
	// Timeout bounds one Send when the context has no earlier deadline;
	// 0 means DefaultTimeout.
	Timeout time.Duration
}

// FormatFrom returns notif_from with Synapse's "%(app)s" placeholder
// replaced by app_name.
func FormatFrom(notifFrom, appName string) string {
	return strings.ReplaceAll(notifFrom, "%(app)s", appName)
}

// New returns a Sender for the email section, or an error when notif_from
// is not an address (config.Validate reports that first).
func New(cfg config.Email, log zerolog.Logger) (*Sender, error) {
	from, err := mail.ParseAddress(FormatFrom(cfg.NotifFrom, cfg.AppName))
	if err != nil {
		return nil, fmt.Errorf("email.notif_from: %w", err)
	}
	return &Sender{cfg: cfg, from: from, log: log}, nil
}

// AppName is the config's app_name, for subjects and bodies.
func (s *Sender) AppName() string { return s.cfg.AppName }

// Send delivers one plain-text message to the address to. The error says
// which step failed and what to check in the config; it is also logged.
func (s *Sender) Send(ctx context.Context, to, subject, body string) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := s.send(ctx, to, subject, body)
	if err != nil {
		s.log.Error().Err(err).Str("smtp_host", s.cfg.SMTPHost).Int("smtp_port", s.cfg.SMTPPort).
			Bool("force_tls", s.cfg.ForceTLS).Bool("require_transport_security", s.cfg.RequireTransportSecurity).
			Msg("Sending email failed; check the email section of the config and the SMTP server's logs")
	}
	return err
}

func (s *Sender) send(ctx context.Context, to, subject, body string) error {
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("recipient %q: %w", to, err)
	}
	msg, err := s.message(rcpt, subject, body)
	if err != nil {
		return err
	}
	c, conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Cancelling the context (timeout, client gone) unblocks any SMTP step.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := s.greet(c); err != nil {
		return ctxErr(ctx, err)
	}
	if err := s.transfer(c, rcpt.Address, msg); err != nil {
		return ctxErr(ctx, err)
	}
	return nil
}

// ctxErr reports a timeout as such rather than as the I/O error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", err, ctx.Err())
	}
	return err
}

func (s *Sender) addr() string {
	return net.JoinHostPort(s.cfg.SMTPHost, strconv.Itoa(s.cfg.SMTPPort))
}

func (s *Sender) tlsConfig() *tls.Config {
	if s.TLSConfig != nil {
		c := s.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = s.cfg.SMTPHost
		}
		return c
	}
	return &tls.Config{ServerName: s.cfg.SMTPHost, MinVersion: tls.VersionTLS12}
}

func (s *Sender) dial(ctx context.Context) (*smtp.Client, net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s (check email.smtp_host and email.smtp_port): %w", s.addr(), err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if s.cfg.ForceTLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("TLS handshake with %s (force_tls is set: is this an implicit-TLS port such as 465?): %w", s.addr(), err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.SMTPHost)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("SMTP greeting from %s: %w", s.addr(), err)
	}
	return c, conn, nil
}

// greet upgrades to TLS when possible and logs in.
func (s *Sender) greet(c *smtp.Client) error {
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if !s.cfg.ForceTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fmt.Errorf("STARTTLS with %s (check the server's certificate matches email.smtp_host): %w", s.addr(), err)
			}
		} else if s.cfg.RequireTransportSecurity {
			return fmt.Errorf("%s does not offer STARTTLS and email.require_transport_security is set", s.addr())
		}
	}
	if s.cfg.SMTPUser == "" {
		return nil
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		return fmt.Errorf("%s does not offer AUTH, but email.smtp_user is set", s.addr())
	}
	if err := c.Auth(smtp.PlainAuth("", s.cfg.SMTPUser, s.cfg.SMTPPass, s.cfg.SMTPHost)); err != nil {
		return fmt.Errorf("logging in as %q (check email.smtp_user and email.smtp_pass): %w", s.cfg.SMTPUser, err)
	}
	return nil
}

func (s *Sender) transfer(c *smtp.Client, to string, msg []byte) error {
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("server refused sender %s (check email.notif_from): %w", s.from.Address, err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("server refused recipient %s: %w", to, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("sending message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("server refused message: %w", err)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted; a failed QUIT loses nothing.
		s.log.Debug().Err(err).Msg("SMTP QUIT failed after the message was accepted")
	}
	return nil
}

// message builds the RFC 5322 text: UTF-8 plain text, quoted-printable.
func (s *Sender) message(to *mail.Address, subject, body string) ([]byte, error) {
	if strings.ContainsAny(subject, "\r\n") {
		return nil, errors.New("subject contains a line break")
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", s.from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+randomID()+"@"+domainOf(s.from.Address)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func randomID() string {
	buf := make([]byte, 12)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return "localhost"
}

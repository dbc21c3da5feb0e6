// Package mailtest is a small SMTP server for tests: EHLO, STARTTLS (or
// implicit TLS) with a self-signed certificate, AUTH PLAIN, MAIL FROM, RCPT
// TO and DATA. It records every accepted message so a test can read what a
// user would receive. It is not a general SMTP implementation.
package mailtest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shapes the fake server.
type Options struct {
	// NoSTARTTLS stops the server offering STARTTLS.
	NoSTARTTLS bool
	// ImplicitTLS speaks TLS from the first byte (force_tls).
	ImplicitTLS bool
	// User and Pass, when User is set, are the only accepted AUTH PLAIN
	// credentials; without them AUTH is not offered.
	User, Pass string
}

// Message is one accepted email.
type Message struct {
	From    string
	To      []string
	Data    string
	Subject string
	// Body is the decoded text body.
	Body string
	// Header is the parsed header.
	Header mail.Header
	// TLS and Authed say how the message arrived.
	TLS, Authed bool
}

// Server is a running fake SMTP server.
type Server struct {
	opts Options
	ln   net.Listener
	cert tls.Certificate
	// Roots trusts the server's certificate, for the client's tls.Config.
	Roots *x509.CertPool

	mu   sync.Mutex
	msgs []Message
	wg   sync.WaitGroup
}

// NewServer starts a fake SMTP server on 127.0.0.1 until the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts}
	s.cert, s.Roots = selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Host is "127.0.0.1"; Port the listening port.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// TLSConfig trusts the server's certificate.
func (s *Server) TLSConfig() *tls.Config { return &tls.Config{RootCAs: s.Roots, ServerName: s.Host()} }

// Close stops accepting connections (an SMTP server that went down).
func (s *Server) Close() { s.ln.Close() }

// Messages returns the accepted messages so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(time.Minute))
			s.session(conn)
		}()
	}
}

// session speaks SMTP on one connection.
func (s *Server) session(conn net.Conn) {
	var st struct {
		tls, authed bool
		from        string
		to          []string
	}
	if s.opts.ImplicitTLS {
		conn = tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{s.cert}})
		st.tls = true
	}
	r := bufio.NewReader(conn)
	reply := func(lines ...string) {
		for i, l := range lines {
			sep := " "
			if i < len(lines)-1 {
				sep = "-"
			}
			_, _ = io.WriteString(conn, l[:3]+sep+l[4:]+"\r\n")
		}
	}
	reply("220 mailtest ready")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"250 mailtest"}
			if !st.tls && !s.opts.NoSTARTTLS {
				ext = append(ext, "250 STARTTLS")
			}
			if s.opts.User != "" {
				ext = append(ext, "250 AUTH PLAIN")
			}
			reply(ext...)
		case "STARTTLS":
			if st.tls || s.opts.NoSTARTTLS {
				reply("503 already secure")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if tc.Handshake() != nil {
				return
			}
			conn, r, st.tls = tc, bufio.NewReader(tc), true
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if !strings.EqualFold(mech, "PLAIN") || err != nil || len(parts) != 3 ||
				s.opts.User == "" || parts[1] != s.opts.User || parts[2] != s.opts.Pass {
				reply("535 authentication failed")
				continue
			}
			st.authed = true
			reply("235 authenticated")
		case "MAIL":
			if s.opts.User != "" && !st.authed {
				reply("530 authentication required")
				continue
			}
			st.from, st.to = addrArg(arg), nil
			reply("250 ok")
		case "RCPT":
			st.to = append(st.to, addrArg(arg))
			reply("250 ok")
		case "DATA":
			reply("354 go ahead")
			data, err := readData(r)
			if err != nil {
				return
			}
			s.record(Message{From: st.from, To: st.to, Data: data, TLS: st.tls, Authed: st.authed})
			reply("250 queued")
		case "RSET", "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func addrArg(arg string) string {
	_, a, _ := strings.Cut(arg, ":")
	return strings.Trim(strings.TrimSpace(a), "<>")
}

func readData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == ".\r\n" {
			return b.String(), nil
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}

func (s *Server) record(m Message) {
	if msg, err := mail.ReadMessage(strings.NewReader(m.Data)); err == nil {
		m.Header = msg.Header
		var dec mime.WordDecoder
		if subj, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
			m.Subject = subj
		}
		var body io.Reader = msg.Body
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		if b, err := io.ReadAll(body); err == nil {
			m.Body = strings.ReplaceAll(string(b), "\r\n", "\n")
		}
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())) }

// Package mailtest is a real SMTP server on loopback for tests (go-smtp
// speaking the protocol at the network edge): it records each message that
// arrives (envelope and raw bytes, with headers and text/HTML parts parsed),
// can require AUTH, can speak STARTTLS or implicit TLS with a self-signed
// certificate, and can be told to answer a given code to the next RCPT or
// DATA commands (451 once, then OK; 550).
//
//	srv := mailtest.Start(t, mailtest.Options{})
//	cfg, _ := mail.ParseURL(srv.URL()) // smtp://127.0.0.1:PORT?starttls=off
//	... send ...
//	m := srv.WaitFor(t, "dana@partner.example")
//	m.Header.Get("Subject"), m.Text, m.HTML
package mailtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Security is how a client reaches the server.
type Security int

const (
	// Plain is SMTP without TLS (smtp://…?starttls=off).
	Plain Security = iota
	// StartTLS offers STARTTLS and refuses AUTH before it (smtp://…).
	StartTLS
	// ImplicitTLS speaks TLS from the first byte (smtps://…).
	ImplicitTLS
)

// Options configure a Server.
type Options struct {
	Security Security
	// User and Password, when User is set, are required (AUTH PLAIN)
	// before MAIL.
	User, Password string
}

// Command is the SMTP command an injected answer replaces.
type Command string

const (
	Rcpt Command = "RCPT"
	Data Command = "DATA"
)

// Message is one message the server accepted.
type Message struct {
	From string   // envelope sender (MAIL FROM)
	To   []string // envelope recipients (RCPT TO)
	Raw  []byte   // the DATA as received
	// Header is the message's header (net/mail).
	Header mail.Header
	// Subject is the decoded Subject header (RFC 2047 words decoded).
	Subject string
	// Text and HTML are the decoded text/plain and text/html parts; "" when
	// the message has none.
	Text, HTML string
	// TLS is whether the message came over TLS; User is who authenticated.
	TLS  bool
	User string
}

// Server is a running SMTP server; it stops with the test.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string

	opts    Options
	roots   *x509.CertPool
	mu      sync.Mutex
	msgs    []Message
	arrived chan struct{} // closed and replaced on each message
	fail    map[Command][]int
	errs    []error
}

// Start starts a server on a free loopback port; it is closed by t.Cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts, arrived: make(chan struct{}), fail: map[Command][]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "mailtest.localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = testLogger{t}
	var ln net.Listener
	var err error
	if opts.Security != Plain {
		cert, roots, cerr := selfSigned()
		if cerr != nil {
			t.Fatalf("mailtest: certificate: %v", cerr)
		}
		s.roots = roots
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if opts.Security == ImplicitTLS {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// URL is an SMTP_URL for the server, with its credentials.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	switch s.opts.Security {
	case Plain:
		u.RawQuery = "starttls=off"
	case ImplicitTLS:
		u.Scheme = "smtps"
	}
	if s.opts.User != "" {
		u.User = url.UserPassword(s.opts.User, s.opts.Password)
	}
	return u.String()
}

// RootCAs trusts the server's self-signed certificate (nil for Plain).
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// FailNext makes the server answer code to the next n commands cmd (a 4xx
// or 5xx: 451 is a temporary failure, 550 a refused mailbox).
func (s *Server) FailNext(cmd Command, code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fail[cmd] = append(s.fail[cmd], code)
	}
}

// Messages is what arrived so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait waits until at least n messages arrived and returns them all.
func (s *Server) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		msgs, arrived := append([]Message(nil), s.msgs...), s.arrived
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs, nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return msgs, fmt.Errorf("mailtest: %d of %d messages arrived: %w", len(msgs), n, ctx.Err())
		}
	}
}

// WaitFor waits (10s at most) for the first message to the envelope
// recipient to, failing the test otherwise.
func (s *Server) WaitFor(t testing.TB, to string) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for n := 1; ; n++ {
		msgs, err := s.Wait(ctx, n)
		for _, m := range msgs {
			for _, rc := range m.To {
				if strings.EqualFold(rc, to) {
					return m
				}
			}
		}
		if err != nil {
			t.Fatalf("mailtest: no message to %s: %v; errors: %v", to, err, s.Errors())
		}
	}
}

// Errors are messages the server could not parse (a test may assert none).
func (s *Server) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

func (s *Server) injected(cmd Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.fail[cmd]
	if len(q) == 0 {
		return nil
	}
	code := q[0]
	s.fail[cmd] = q[1:]
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0},
		Message: fmt.Sprintf("mailtest: injected %d", code)}
}

func (s *Server) add(m Message, perr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if perr != nil {
		s.errs = append(s.errs, perr)
	}
	s.msgs = append(s.msgs, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: s, tls: isTLS}, nil
}

type session struct {
	s    *Server
	tls  bool
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != ss.s.opts.User || pass != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.User != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.s.injected(Rcpt); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.s.injected(Data); err != nil {
		return err
	}
	m := Message{From: ss.from, To: append([]string(nil), ss.to...), Raw: raw, TLS: ss.tls, User: ss.user}
	ss.s.add(m, parse(&m))
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// parse fills m's Header, Subject, Text and HTML from m.Raw.
func parse(m *Message) error {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return fmt.Errorf("mailtest: read message: %w", err)
	}
	m.Header = msg.Header
	m.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return fmt.Errorf("mailtest: subject: %w", err)
	}
	return m.part(msg.Header.Get, msg.Body)
}

// part decodes one MIME entity whose header is read by get, descending
// into multipart ones.
func (m *Message) part(get func(string) string, body io.Reader) error {
	ct := get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	media, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("mailtest: content type %q: %w", ct, err)
	}
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mailtest: %s part: %w", media, err)
			}
			if err := m.part(p.Header.Get, p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // skips the line breaks
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("mailtest: %s body: %w", media, err)
	}
	switch media {
	case "text/plain":
		if m.Text == "" {
			m.Text = string(b)
		}
	case "text/html":
		if m.HTML == "" {
			m.HTML = string(b)
		}
	}
	return nil
}

type testLogger struct{ t testing.TB }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf("mailtest: "+format, v...) }
func (l testLogger) Println(v ...any)               { l.t.Log(append([]any{"mailtest:"}, v...)...) }

// selfSigned is a certificate for 127.0.0.1 and localhost, and a pool
// trusting it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots, nil
}

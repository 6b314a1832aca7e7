// Package mail is email as one more delivery platform (deliver.Platform
// "email"): an invitation, its reminders and the notices about it, and a
// forgot-password link, rendered as a plain-text and an HTML part and sent
// over SMTP with github.com/wneessen/go-mail.
//
// The SMTP server is configured from the environment: SMTP_URL says where
// and how (smtps:// implicit TLS, smtp:// with STARTTLS required, plain
// SMTP only to a loopback relay), USHER_MAIL_FROM who the mail is from.
package mail

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Security is how the connection to the SMTP server is protected.
type Security int

const (
	// ImplicitTLS speaks TLS from the first byte (smtps://, port 465).
	ImplicitTLS Security = iota
	// StartTLS upgrades with STARTTLS and refuses to go on without it
	// (smtp://, port 587).
	StartTLS
	// Plain is no TLS at all: only to a relay on loopback (smtp://…?starttls=off).
	Plain
)

func (s Security) String() string {
	switch s {
	case ImplicitTLS:
		return "implicit TLS"
	case StartTLS:
		return "STARTTLS"
	}
	return "no TLS (loopback)"
}

// Config is an SMTP server and who mail is from.
type Config struct {
	Host     string
	Port     int
	Security Security
	// User and Password are the SMTP AUTH credentials ("" for none).
	User, Password string
	// From is USHER_MAIL_FROM. Its display name, when it has none, is
	// "usher for ORGANIZATION".
	From *mail.Address
	// RootCAs, when set, are the only CAs trusted for the server's
	// certificate (tests: mailtest.Server.RootCAs); nil is the system's.
	RootCAs *x509.CertPool
	// Timeout bounds connecting and each SMTP exchange; 0 is 30 seconds.
	Timeout time.Duration
}

// FromEnv reads SMTP_URL and USHER_MAIL_FROM. Without SMTP_URL email is
// off: nil and no error.
func FromEnv(getenv func(string) string) (*Config, error) {
	raw := strings.TrimSpace(getenv("SMTP_URL"))
	if raw == "" {
		return nil, nil
	}
	cfg, err := ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	from := strings.TrimSpace(getenv("USHER_MAIL_FROM"))
	if from == "" {
		return nil, errors.New("USHER_MAIL_FROM is not set: with SMTP_URL set, say who the mail is from, e.g. USHER_MAIL_FROM='usher <usher@acme.example>'")
	}
	if cfg.From, err = ParseFrom(from); err != nil {
		return nil, fmt.Errorf("USHER_MAIL_FROM: %w", err)
	}
	return &cfg, nil
}

// ParseFrom reads a From address ("usher@acme.example" or
// "usher <usher@acme.example>").
func ParseFrom(s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an email address (%v); write e.g. usher@acme.example or 'usher <usher@acme.example>'", s, err)
	}
	if strings.ContainsAny(a.Name, "\r\n") {
		return nil, fmt.Errorf("%q: the display name has a line break", s)
	}
	return a, nil
}

// optionName is what an option's name looks like; anything else after '?'
// is not echoed in an error.
var optionName = regexp.MustCompile(`^[a-z][a-z_-]{0,15}$`)

// ParseURL reads an SMTP_URL:
//
//	smtps://user:pass@host[:465]            implicit TLS
//	smtp://user:pass@host[:587]             STARTTLS, required
//	smtp://host:port?starttls=off           no TLS: loopback hosts only
//
// The user and password are percent-decoded.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the whole URL, password and all.
		return Config{}, errors.New("not a URL; write e.g. smtps://user:password@smtp.example.com:465 (percent-encode special characters in the password)")
	}
	var cfg Config
	switch strings.ToLower(u.Scheme) {
	case "smtps":
		cfg.Security, cfg.Port = ImplicitTLS, 465
	case "smtp":
		cfg.Security, cfg.Port = StartTLS, 587
	case "":
		return Config{}, fmt.Errorf("no scheme in %s; start it with smtps:// (implicit TLS) or smtp:// (STARTTLS)", Redact(raw))
	default:
		return Config{}, fmt.Errorf("unknown scheme %q in %s; use smtps:// (implicit TLS) or smtp:// (STARTTLS)", u.Scheme, Redact(raw))
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return Config{}, fmt.Errorf("no host in %s; write e.g. %s://smtp.example.com", Redact(raw), strings.ToLower(u.Scheme))
	}
	cfg.Host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("bad port %q in %s; a port is 1 to 65535", p, Redact(raw))
		}
		cfg.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return Config{}, fmt.Errorf("empty port in %s; give one or leave out the colon", Redact(raw))
	}
	if u.Path != "" && u.Path != "/" {
		// Not echoed: a password with an unencoded '/' lands here.
		return Config{}, fmt.Errorf("a path after the host in %s; an SMTP_URL has none (percent-encode a '/', '?' or '#' in the password)", Redact(raw))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// Not echoed either: the query may hold part of a password.
		return Config{}, fmt.Errorf("a malformed query after '?' in %s; the only option is starttls=off", Redact(raw))
	}
	for k, vs := range q {
		if k != "starttls" {
			if optionName.MatchString(k) {
				return Config{}, fmt.Errorf("unknown option %q in %s; the only one is starttls=off", k, Redact(raw))
			}
			// Not echoed: what is not an option's name may be part of a
			// password with an unencoded '?'.
			return Config{}, fmt.Errorf("an unknown option after '?' in %s; the only one is starttls=off (percent-encode a '?' in the password)", Redact(raw))
		}
		if len(vs) != 1 || vs[0] != "off" {
			return Config{}, fmt.Errorf("a starttls value other than off in %s: the only value is off (STARTTLS is otherwise required)", Redact(raw))
		}
		if cfg.Security == ImplicitTLS {
			return Config{}, fmt.Errorf("starttls=off with smtps:// in %s: smtps is TLS from the start; use smtp://…?starttls=off for a local relay", Redact(raw))
		}
		if !loopback(cfg.Host) {
			return Config{}, fmt.Errorf("starttls=off for %s, which is not a loopback host: mail (with invitation links) would cross the network in clear; use smtps:// or smtp:// with STARTTLS", cfg.Host)
		}
		cfg.Security = Plain
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Password, _ = u.User.Password()
		if cfg.User == "" {
			return Config{}, fmt.Errorf("a password without a user in %s; write user:password@host", Redact(raw))
		}
	}
	return cfg, nil
}

// loopback is whether host is this machine: localhost or a loopback IP.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Redact is raw's scheme, user and host, for logs and error messages: a
// password with an unencoded '#', '?' or '/' ends up in the fragment, query
// or path, so those are left out too.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host}
	if u.User != nil {
		r.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if u.Opaque != "" {
		return r.Scheme + ":…"
	}
	return r.String()
}

// String is the server, without the password.
func (c Config) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	switch c.Security {
	case ImplicitTLS:
		u.Scheme = "smtps"
	case Plain:
		u.RawQuery = "starttls=off"
	}
	if c.User != "" {
		u.User = url.UserPassword(c.User, "xxxxx")
	}
	return u.String()
}

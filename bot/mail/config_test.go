package mail

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want Config
		err  string // a part of the error; "" for none
	}{
		{raw: "smtps://u:p@mail.example.com", want: Config{Host: "mail.example.com", Port: 465, Security: ImplicitTLS, User: "u", Password: "p"}},
		{raw: "smtps://mail.example.com:2465", want: Config{Host: "mail.example.com", Port: 2465, Security: ImplicitTLS}},
		{raw: "smtp://u%40x:p%3Aw%2F@mail.example.com", want: Config{Host: "mail.example.com", Port: 587, Security: StartTLS, User: "u@x", Password: "p:w/"}},
		{raw: "SMTP://mail.example.com:25", want: Config{Host: "mail.example.com", Port: 25, Security: StartTLS}},
		{raw: "smtp://127.0.0.1:2525?starttls=off", want: Config{Host: "127.0.0.1", Port: 2525, Security: Plain}},
		{raw: "smtp://localhost:25?starttls=off", want: Config{Host: "localhost", Port: 25, Security: Plain}},
		{raw: "smtp://[::1]:25?starttls=off", want: Config{Host: "::1", Port: 25, Security: Plain}},
		{raw: "smtp://mail.example.com/", want: Config{Host: "mail.example.com", Port: 587, Security: StartTLS}},
		{raw: "smtp://mail.example.com:25?starttls=off", err: "not a loopback host"},
		{raw: "smtp://10.0.0.1:25?starttls=off", err: "not a loopback host"},
		{raw: "smtps://127.0.0.1?starttls=off", err: "smtps is TLS from the start"},
		{raw: "smtp://127.0.0.1?starttls=on", err: "the only value is off"},
		{raw: "smtp://127.0.0.1?tls=off", err: `unknown option "tls"`},
		{raw: "http://mail.example.com", err: `unknown scheme "http"`},
		{raw: "mail.example.com:587", err: `unknown scheme "mail.example.com"`},
		{raw: "mail.example.com", err: "no scheme"},
		{raw: "smtp://", err: "no host"},
		{raw: "smtp://u:secret@:587", err: "no host"},
		{raw: "smtp:mail.example.com", err: "no host"},
		{raw: "smtp://mail.example.com:0", err: "bad port"},
		{raw: "smtp://mail.example.com:70000", err: "bad port"},
		{raw: "smtp://mail.example.com:", err: "empty port"},
		{raw: "smtp://mail.example.com/x", err: "a path after the host"},
		{raw: "smtp://:secret@mail.example.com", err: "a password without a user"},
		{raw: "smtp://u:sec%zzret@mail.example.com", err: "not a URL"},
	} {
		got, err := ParseURL(tc.raw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseURL(%q) = %+v, %v; want an error with %q", tc.raw, got, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseURL(%q): the error shows the password: %v", tc.raw, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.raw, got, err, tc.want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	if cfg, err := FromEnv(env()); cfg != nil || err != nil {
		t.Fatalf("no SMTP_URL: %v, %v; want email off", cfg, err)
	}
	if _, err := FromEnv(env("SMTP_URL", "smtps://u:secret@mail.example.com")); err == nil || !strings.Contains(err.Error(), "USHER_MAIL_FROM is not set") {
		t.Fatalf("no From: %v", err)
	}
	if _, err := FromEnv(env("SMTP_URL", "smtps://mail.example.com", "USHER_MAIL_FROM", "not an address")); err == nil || !strings.Contains(err.Error(), "USHER_MAIL_FROM:") {
		t.Fatalf("bad From: %v", err)
	}
	if _, err := FromEnv(env("SMTP_URL", "ftp://u:secret@mail.example.com", "USHER_MAIL_FROM", "a@b.example")); err == nil || !strings.HasPrefix(err.Error(), "SMTP_URL:") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad URL: %v", err)
	}
	cfg, err := FromEnv(env("SMTP_URL", "smtps://u:secret@mail.example.com", "USHER_MAIL_FROM", "Usher <usher@acme.example>"))
	if err != nil || cfg.From.Address != "usher@acme.example" || cfg.From.Name != "Usher" {
		t.Fatalf("FromEnv = %+v, %v", cfg, err)
	}
	if s := cfg.String(); s != "smtps://u:xxxxx@mail.example.com:465" {
		t.Fatalf("String() = %q", s)
	}
}

// FuzzParseURL: SMTP_URL is outside input. Whatever it is, the parser
// neither panics nor lets plain SMTP go to a host that is not this machine,
// nor puts the password in its error.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smtps://u:p@h", "smtp://h:587", "smtp://127.0.0.1:25?starttls=off", "smtp://h?starttls=off",
		"smtp://[::1]:1?starttls=off&starttls=off", "smtp://u:%41@h:", "smtps://h/x?y", "smtp:opaque"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cfg, err := ParseURL(raw)
		if err != nil {
			if cfg != (Config{}) {
				t.Fatalf("an error and a config: %+v", cfg)
			}
			// (A password that is also elsewhere in the URL, or in the
			// message's own words, proves nothing.)
			if pw := passwordOf(raw); len(pw) > 5 && strings.Contains(err.Error(), pw) &&
				!strings.Contains(strings.Replace(raw, ":"+pw+"@", ":@", 1), pw) && !strings.Contains(errorWords, pw) {
				t.Fatalf("the error shows the password %q: %v", pw, err)
			}
			return
		}
		if cfg.Host == "" || cfg.Port < 1 || cfg.Port > 65535 {
			t.Fatalf("accepted %q as %+v", raw, cfg)
		}
		if cfg.Security == Plain && !loopback(cfg.Host) {
			t.Fatalf("plain SMTP to %q", cfg.Host)
		}
		if len(cfg.Password) > 5 && strings.Contains(cfg.String(), cfg.Password) && !strings.Contains(strings.Replace(cfg.String(), ":xxxxx@", ":@", 1), cfg.Password) {
			t.Fatalf("String() shows the password: %s", cfg.String())
		}
	})
}

const errorWords = "smtps://user:password@smtp.example.com:465 (percent-encode special characters in the password) starttls=off"

// passwordOf is the raw password between "user:" and "@", if any.
func passwordOf(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	userinfo, _, ok := strings.Cut(rest, "@")
	if !ok {
		return ""
	}
	_, pw, _ := strings.Cut(userinfo, ":")
	return pw
}

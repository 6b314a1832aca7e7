package mailtest_test

import (
	"crypto/tls"
	"net/smtp"
	"strings"
	"testing"

	"github.com/usher-chat/usher/bot/mail/mailtest"
)

const raw = "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?UTF-8?q?h=C3=A9llo?=\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n" +
	"--XX\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nh=C3=A9llo=\r\n there\r\n" +
	"--XX\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+aGk8L3A+\r\n--XX--\r\n"

// The standard library's client is a second, independent speaker of the
// protocol: what it sends arrives parsed.
func TestPlainRecordsAndParses(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	if !strings.HasSuffix(srv.URL(), "?starttls=off") {
		t.Fatalf("URL = %q", srv.URL())
	}
	if err := smtp.SendMail(srv.Addr, nil, "a@example.com", []string{"b@example.com"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	m := srv.WaitFor(t, "b@example.com")
	if m.From != "a@example.com" || m.Subject != "héllo" || m.Text != "héllo there" || m.HTML != "<p>hi</p>" || m.TLS {
		t.Fatalf("got %+v", m)
	}
	if errs := srv.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
}

func TestFailNext(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	srv.FailNext(mailtest.Rcpt, 451, 1)
	err := smtp.SendMail(srv.Addr, nil, "a@example.com", []string{"b@example.com"}, []byte(raw))
	if err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("first send: %v, want a 451", err)
	}
	srv.FailNext(mailtest.Data, 550, 1)
	err = smtp.SendMail(srv.Addr, nil, "a@example.com", []string{"b@example.com"}, []byte(raw))
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("second send: %v, want a 550", err)
	}
	if err := smtp.SendMail(srv.Addr, nil, "a@example.com", []string{"b@example.com"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

func TestStartTLSWithAuth(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Security: mailtest.StartTLS, User: "u", Password: "p w"})
	if want := "smtp://u:p%20w@" + srv.Addr; srv.URL() != want {
		t.Fatalf("URL = %q, want %q", srv.URL(), want)
	}
	send := func(pass string) error {
		c, err := smtp.Dial(srv.Addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: srv.RootCAs()}); err != nil {
			return err
		}
		if err := c.Auth(smtp.PlainAuth("", "u", pass, "127.0.0.1")); err != nil {
			return err
		}
		if err := c.Mail("a@example.com"); err != nil {
			return err
		}
		if err := c.Rcpt("b@example.com"); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		w.Write([]byte(raw))
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	}
	if err := send("wrong"); err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("wrong password: %v, want a 535", err)
	}
	if err := send("p w"); err != nil {
		t.Fatal(err)
	}
	m := srv.WaitFor(t, "b@example.com")
	if !m.TLS || m.User != "u" {
		t.Fatalf("TLS %v user %q", m.TLS, m.User)
	}
}

func TestImplicitTLS(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Security: mailtest.ImplicitTLS})
	conn, err := tls.Dial("tcp", srv.Addr, &tls.Config{ServerName: "127.0.0.1", RootCAs: srv.RootCAs()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.com"); err != nil {
		t.Fatal(err)
	}
	w, _ := c.Data()
	w.Write([]byte(raw))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m := srv.WaitFor(t, "b@example.com"); !m.TLS || !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatalf("TLS %v, URL %q", m.TLS, srv.URL())
	}
}

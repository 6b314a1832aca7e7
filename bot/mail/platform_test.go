package mail_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/mail"
	"github.com/usher-chat/usher/bot/mail/mailtest"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// invitation is what handlers' invitationMessage builds, with hostile user
// text: a note with markup, a workspace name with an ampersand.
func invitation() handlers.Message {
	return handlers.Message{
		Title: "You're invited to ACME & Co",
		Text:  "alice@acme.example invited you to join ACME & Co as member.",
		Fields: []handlers.Field{{Label: "Workspaces", Value: "R&D, <ops>"}, {Label: "Expires", Value: "Mon Dec 7 12:00 UTC"},
			{Label: "Note", Value: "Welcome!\n<script>alert(1)</script> \"quoted\""}},
		Buttons: []handlers.Button{{Label: "Accept", Command: "accept inv1"}, {Label: "Decline", Command: "decline inv1"}},
		Footer:  "Or open https://usher.example/invite/TOKEN in a browser. The link works once.",
		Link:    &handlers.Link{URL: "https://usher.example/invite/TOKEN?a=1&b=2", Label: "Accept or decline"},
	}
}

func TestRenderGolden(t *testing.T) {
	r, err := mail.Render(invitation())
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "You're invited to ACME & Co" {
		t.Errorf("Subject = %q", r.Subject)
	}
	golden(t, "invitation.txt", r.Text)
	golden(t, "invitation.html", r.HTML)
	if strings.Contains(r.HTML, "<script>") || !strings.Contains(r.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(r.HTML, "R&amp;D, &lt;ops&gt;") {
		t.Errorf("user text not escaped in the HTML part:\n%s", r.HTML)
	}
	if strings.Contains(r.Text, "accept inv1") || strings.Contains(r.HTML, "accept inv1") {
		t.Error("a button's command is in the email: it cannot run from a mailbox")
	}
}

func TestRenderSubjectIsOneLine(t *testing.T) {
	r, err := mail.Render(handlers.Message{Title: "Hi\r\nBcc: victim@example.com\x00 there", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Hi Bcc: victim@example.com there" {
		t.Fatalf("Subject = %q", r.Subject)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (run with -update, then read the diff):\n%s", name, got)
	}
}

func platform(t *testing.T, srv *mailtest.Server, orgName string) *mail.Platform {
	t.Helper()
	cfg, err := mail.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.From, _ = mail.ParseFrom("usher@acme.example")
	cfg.RootCAs = srv.RootCAs()
	cfg.Timeout = 5 * time.Second
	p, err := mail.New(cfg, func(context.Context) (string, error) { return orgName, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func post(t *testing.T, p *mail.Platform, to string, kind handlers.DeliveryKind) (deliver.Posted, error) {
	t.Helper()
	ctx := context.Background()
	r, ok, err := p.Find(ctx, "acme", to, deliver.Hint{})
	if err != nil || !ok {
		t.Fatalf("Find(%s) = %v, %v", to, ok, err)
	}
	return p.Post(ctx, r, deliver.Post{Key: "k123", Kind: kind, Message: invitation()})
}

func TestPostArrivesWithHeadersAndParts(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts mailtest.Options
	}{
		{"plain on loopback", mailtest.Options{}},
		{"STARTTLS with AUTH", mailtest.Options{Security: mailtest.StartTLS, User: "usher", Password: "s3cret:/@"}},
		{"implicit TLS with AUTH", mailtest.Options{Security: mailtest.ImplicitTLS, User: "usher", Password: "pw"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.Start(t, tc.opts)
			posted, err := post(t, platform(t, srv, "ACME\r\nBcc: x@evil.example"), "dana@partner.example", handlers.DeliverInvitation)
			if err != nil {
				t.Fatal(err)
			}
			if posted.Platform != "email" || posted.Where != "emailed to dana@partner.example" {
				t.Fatalf("posted %+v", posted)
			}
			m := srv.WaitFor(t, "dana@partner.example")
			h := m.Header
			for k, want := range map[string]string{
				"From": `"usher for ACME Bcc: x@evil.example" <usher@acme.example>`, "To": "<dana@partner.example>",
				"Message-Id": "<usher.k123@acme.example>", "Auto-Submitted": "auto-generated", "Bcc": "",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if m.Subject != "You're invited to ACME & Co" || !strings.HasPrefix(h.Get("Content-Type"), "multipart/alternative") {
				t.Errorf("Subject %q, Content-Type %q", m.Subject, h.Get("Content-Type"))
			}
			if _, err := h.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			if m.From != "usher@acme.example" || len(m.To) != 1 {
				t.Errorf("envelope %s -> %v", m.From, m.To)
			}
			if !strings.Contains(m.Text, "Accept or decline: https://usher.example/invite/TOKEN?a=1&b=2") ||
				!strings.Contains(m.HTML, `href="https://usher.example/invite/TOKEN?a=1&amp;b=2"`) {
				t.Errorf("the link is not the call to action:\n%s\n%s", m.Text, m.HTML)
			}
			if tc.opts.Security != mailtest.Plain && (!m.TLS || m.User != tc.opts.User) {
				t.Errorf("TLS %v, user %q", m.TLS, m.User)
			}
			if errs := srv.Errors(); len(errs) > 0 {
				t.Error(errs)
			}
		})
	}
}

func TestPostRefusesWhatMustNotGoByEmail(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p := platform(t, srv, "ACME")
	for _, kind := range []handlers.DeliveryKind{handlers.DeliverPassword, handlers.DeliverRequest} {
		if _, err := post(t, p, "dana@partner.example", kind); !errors.Is(err, deliver.ErrUnreachable) {
			t.Errorf("%s: %v, want unreachable", kind, err)
		}
	}
	for _, kind := range []handlers.DeliveryKind{handlers.DeliverNotice, handlers.DeliverResetLink} {
		if _, err := post(t, p, "dana@partner.example", kind); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	if n := len(srv.Messages()); n != 2 {
		t.Fatalf("%d messages arrived, want 2", n)
	}
}

func TestPostAnswers(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	p := platform(t, srv, "ACME")
	srv.FailNext(mailtest.Rcpt, 451, 1)
	_, err := post(t, p, "dana@partner.example", handlers.DeliverInvitation)
	var perm *outbox.Permanent
	if err == nil || errors.Is(err, deliver.ErrUnreachable) || errors.As(err, &perm) {
		t.Fatalf("451: %v, want an error to retry", err)
	}
	srv.FailNext(mailtest.Rcpt, 550, 1)
	if _, err := post(t, p, "dana@partner.example", handlers.DeliverInvitation); !errors.Is(err, deliver.ErrUnreachable) {
		t.Fatalf("550 on RCPT: %v, want unreachable", err)
	}
	srv.FailNext(mailtest.Data, 554, 1)
	if _, err := post(t, p, "dana@partner.example", handlers.DeliverInvitation); !errors.Is(err, deliver.ErrUnreachable) {
		t.Fatalf("554 on DATA: %v, want unreachable", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages arrived, want none", n)
	}
}

func TestPostWrongPassword(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{Security: mailtest.StartTLS, User: "usher", Password: "right"})
	cfg, _ := mail.ParseURL(strings.Replace(srv.URL(), "right", "wrong", 1))
	cfg.From, _ = mail.ParseFrom("usher@acme.example")
	cfg.RootCAs = srv.RootCAs()
	p, _ := mail.New(cfg, nil, nil)
	_, err := post(t, p, "dana@partner.example", handlers.DeliverInvitation)
	if err == nil || errors.Is(err, deliver.ErrUnreachable) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("bad credentials: %v; want a retryable error without the password", err)
	}
}

func TestStartTLSIsRequired(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{}) // offers no STARTTLS
	cfg, _ := mail.ParseURL("smtp://" + srv.Addr)
	cfg.From, _ = mail.ParseFrom("usher@acme.example")
	p, _ := mail.New(cfg, nil, nil)
	if _, err := post(t, p, "dana@partner.example", handlers.DeliverInvitation); err == nil {
		t.Fatal("sent without STARTTLS")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages arrived in clear", n)
	}
}

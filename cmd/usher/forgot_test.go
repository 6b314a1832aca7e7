package main

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/mail/mailtest"
	"github.com/usher-chat/usher/bot/web"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// webClient is a browser without a browser: a cookie jar, no redirects
// followed, and the last page's CSRF token sent with each form.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
	last string
}

func newWebClient(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (w *webClient) do(req *http.Request) (int, http.Header, string) {
	w.t.Helper()
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	w.last = string(b)
	return resp.StatusCode, resp.Header, w.last
}

func (w *webClient) get(path string) (int, http.Header, string) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.base+path, nil)
	return w.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (w *webClient) post(path string, form url.Values) (int, http.Header, string) {
	w.t.Helper()
	if m := csrfField.FindStringSubmatch(w.last); m != nil {
		form.Set("csrf", m[1])
	}
	req, _ := http.NewRequest(http.MethodPost, w.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return w.do(req)
}

func (w *webClient) signIn(email, password string) int {
	w.t.Helper()
	w.get("/login")
	status, _, _ := w.post("/login", url.Values{"email": {email}, "password": {password}})
	return status
}

// TestServeForgotPassword runs the forgot-password flow end to end: `usher
// serve` with Slack faked at its Web API and SMTP_URL pointing at a real
// SMTP server on loopback, on a real redis-server. The link comes by email
// (never in Slack), sets the password once, ends the session from before,
// and the person is told in Slack; an unknown address is emailed nothing.
func TestServeForgotPassword(t *testing.T) {
	srv := redistest.Shared(t)
	orgID := freshOrgID("forgot")
	ann := "ann-" + orgID + "@example.com"
	smtp := mailtest.Start(t, mailtest.Options{})
	slack := newSlackEdgeWith(t, map[string]string{"UADMIN": "admin@example.com", "UANN": ann})
	base, logs := serveUsher(t, map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": orgID, "USHER_ADMINS": "admin@example.com",
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": slack.srv.URL + "/api/",
		"SMTP_URL": smtp.URL(), "USHER_MAIL_FROM": "usher@acme.example",
		"USHER_SECRET": strings.Repeat("forgot-password-secret-", 2), "USHER_SCHEDULER": "off",
	})

	// ann joins on the web with a password (the invitation made through
	// the handlers on the same Redis, as chat would) and signs in.
	st, err := storage.New(srv.Client(t), org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: base, Deployment: newDeployment(config{publicURL: base}, st, slog.New(slog.DiscardHandler), nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	r := svc.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "slack", Team: "T1", UserID: "UADMIN", Email: "admin@example.com"}, Text: "invite " + ann})
	link := ""
	for _, d := range r.Deliveries {
		link = regexp.MustCompile(`/invitations/[A-Za-z0-9_.-]+`).FindString(d.Message.Footer)
	}
	if link == "" {
		t.Fatalf("invite: %s %s", r.Code, r.Text)
	}
	const pw, next = "ann's first long password", "ann's chosen new password"
	old := newWebClient(t, base)
	old.get(link)
	if status, _, body := old.post(link+"/accept", url.Values{"name": {"Ann"}, "password": {pw}, "confirm": {pw}}); status != 200 {
		t.Fatalf("accept: %d %s", status, body)
	}
	if status := old.signIn(ann, pw); status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", status)
	}

	// Forgot password, for ann and for a stranger: one answer.
	answers := map[string]string{}
	for _, email := range []string{ann, "nobody-" + orgID + "@example.com"} {
		b := newWebClient(t, base)
		b.get("/forgot")
		status, _, body := b.post("/forgot", url.Values{"email": {email}})
		if status != 200 || !strings.Contains(body, html.EscapeString(web.ForgotSent)) {
			t.Fatalf("forgot %s: %d %s", email, status, body)
		}
		answers[email] = strings.ReplaceAll(body, email, "")
	}
	if answers[ann] != answers["nobody-"+orgID+"@example.com"] {
		t.Error("the answers differ")
	}

	m := smtp.WaitFor(t, ann)
	if !strings.Contains(m.Subject, "Reset your usher password") || m.Header.Get("To") != "<"+ann+">" {
		t.Errorf("email: subject %q, To %q", m.Subject, m.Header.Get("To"))
	}
	resetURL := regexp.MustCompile(regexp.QuoteMeta(base) + `/reset\?token=[A-Za-z0-9_-]{43}`).FindString(m.Text)
	if resetURL == "" || !strings.Contains(m.Text, "30 minutes") || !strings.Contains(m.Text, "ignore this email") {
		t.Fatalf("no reset link in the text part:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+resetURL+`"`) {
		t.Errorf("the HTML part has no link to %s:\n%s", resetURL, m.HTML)
	}
	path := strings.TrimPrefix(resetURL, base)
	token := strings.TrimPrefix(path, "/reset?token=")

	// The link opens the form; a weak password is refused; a good one is set.
	b := newWebClient(t, base)
	status, h, body := b.get(path)
	if status != 200 || h.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(body, `name="token" value="`+token+`"`) {
		t.Fatalf("reset form: %d %v\n%s", status, h, body)
	}
	if status, _, _ := b.post("/reset", url.Values{"token": {token}, "password": {"password1234"}, "confirm": {"password1234"}}); status != http.StatusUnprocessableEntity {
		t.Fatalf("weak password: %d", status)
	}
	if status, _, body := b.post("/reset", url.Values{"token": {token}, "password": {next}, "confirm": {next}}); status != 200 || !strings.Contains(body, "Your new password is set") {
		t.Fatalf("reset: %d %s", status, body)
	}
	// The session from before is over; only the new password signs in.
	if status, h, _ := old.get("/account"); status != http.StatusSeeOther || h.Get("Location") != "/login?ended=1" {
		t.Errorf("the old session: %d %s", status, h.Get("Location"))
	}
	if status := newWebClient(t, base).signIn(ann, pw); status != http.StatusUnauthorized {
		t.Errorf("the old password: %d", status)
	}
	if status := newWebClient(t, base).signIn(ann, next); status != http.StatusSeeOther {
		t.Errorf("the new password: %d", status)
	}
	// Used once.
	if status, _, _ := newWebClient(t, base).get(path); status != http.StatusNotFound {
		t.Errorf("the used link: %d", status)
	}
	// Told in Slack, privately.
	waitForSlack(t, logs, "ann told in Slack", func() bool {
		for _, p := range slack.postsTo("DUANN") {
			if strings.Contains(p.Get("text")+p.Get("blocks"), "reset from the web") {
				return true
			}
		}
		return false
	})

	// Let anything late arrive: one email in all, the link never in Slack
	// nor in the log.
	time.Sleep(1500 * time.Millisecond)
	if ms := smtp.Messages(); len(ms) != 1 {
		t.Errorf("%d emails, want 1 (none to the stranger)", len(ms))
	}
	for _, p := range slack.postsTo("DUANN") {
		if strings.Contains(p.Get("text")+p.Get("blocks"), "/reset?token=") {
			t.Error("the reset link was posted in Slack")
		}
	}
	for _, secret := range []string{token, pw, next} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret (%.4s...)", secret)
		}
	}
	if errs := smtp.Errors(); len(errs) > 0 {
		t.Error(errs)
	}
}

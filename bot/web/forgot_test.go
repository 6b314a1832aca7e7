package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/web"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Forgot password on the web (issue 14, item 2), with the handlers, the
// storage and a real Redis behind the pages: the deliveries the pages hand
// on are what the router would email (the link) and post in chat (the notice).

var resetPath = regexp.MustCompile(`/reset\?token=[A-Za-z0-9_-]{43}`)

// resetLinks are the reset links handed on for email, once every request
// answered so far has been handled.
func (fs *fleetSites) resetLinks(t *testing.T, email string) []string {
	t.Helper()
	fs.web.handler.Wait()
	var links []string
	for _, d := range fs.web.deliveredTo(email) {
		if d.Kind != handlers.DeliverResetLink {
			continue
		}
		if d.Message.Link == nil {
			t.Fatalf("no link in %+v", d.Message)
		}
		m := resetPath.FindString(d.Message.Link.URL)
		if m == "" || d.Message.Link.URL != fs.web.srv.URL+m {
			t.Fatalf("not a link to the pages: %q", d.Message.Link.URL)
		}
		links = append(links, m)
	}
	return links
}

func (b *browser) forgot(t *testing.T, email string) *page {
	t.Helper()
	b.get("/forgot").has(t, http.StatusOK, "Forgot your password?")
	return b.post("/forgot", url.Values{"email": {email}})
}

func TestForgotPasswordOnTheWeb(t *testing.T) {
	fs := newFleetSites(t)
	ann := "ann-" + fs.a.ID + "@example.com"
	const pw, next = "ann's long password", "ann's brand new password"
	_, link := inviteIn(t, fs.a, bossA, ann)
	old := fs.web.browser()
	old.get(link)
	old.post(link+"/accept", url.Values{"name": {"Ann"}, "password": {pw}, "confirm": {pw}}).has(t, http.StatusOK, "Welcome to Acme")
	idB, _ := inviteIn(t, fs.b, bossB, ann)
	fs.b.Service.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-ann", Email: ann}, Text: "accept " + idB})
	fs.fleet.Taken(fs.b.ID)
	old.signIn(ann, pw, "/account")

	b := fs.web.browser()
	login := b.get("/login")
	login.has(t, http.StatusOK, "Forgot password?")
	if !strings.Contains(login.body, `href="/forgot"`) {
		t.Fatal("the sign-in page has no link to /forgot")
	}
	b.forgot(t, ann).has(t, http.StatusOK, "Check your email", web.ForgotSent)
	links := fs.resetLinks(t, ann)
	if len(links) != 1 {
		t.Fatalf("links emailed: %v", links)
	}
	form := b.get(links[0])
	form.has(t, http.StatusOK, "Choose a new password", "For "+ann)
	if form.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("Referrer-Policy = %q", form.header.Get("Referrer-Policy"))
	}
	token := strings.TrimPrefix(links[0], "/reset?token=")
	if !strings.Contains(form.body, `name="token" value="`+token+`"`) || !strings.Contains(form.body, `action="/reset"`) {
		t.Fatalf("the token is not in the form:\n%s", form.body)
	}
	// The policy applies; the link keeps working after a refusal.
	b.post("/reset", url.Values{"token": {token}, "password": {"short"}, "confirm": {"short"}}).
		has(t, http.StatusUnprocessableEntity, "too short")
	b.post("/reset", url.Values{"token": {token}, "password": {next}, "confirm": {next + "!"}}).
		has(t, http.StatusUnprocessableEntity, "don't match")
	// Without the form's CSRF token, nothing.
	b.post("/reset", url.Values{"token": {token}, "password": {next}, "confirm": {next}, "csrf": {"forged"}}).
		has(t, http.StatusForbidden, "This form has expired")
	b.get(links[0])
	done := b.post("/reset", url.Values{"token": {token}, "password": {next}, "confirm": {next}})
	done.has(t, http.StatusOK, "Sign in", "Your new password is set")
	if !strings.Contains(done.body, `value="`+ann+`"`) {
		t.Fatal("the sign-in form after the reset lacks the email")
	}
	// Told in chat: A's through the pages' Deliver, B's through B's chat.
	var told []handlers.Delivery
	for _, d := range fs.web.deliveredTo(ann) {
		if d.Kind == handlers.DeliverNotice {
			told = append(told, d)
		}
	}
	if len(told) != 1 || !strings.Contains(told[0].Message.Text, "reset from the web") || !strings.Contains(told[0].Message.Text, "If this wasn't you, tell an admin") {
		t.Fatalf("notices in A: %+v", told)
	}
	if ds := fs.fleet.Taken(fs.b.ID); len(ds) != 1 || ds[0].Kind != handlers.DeliverNotice {
		t.Fatalf("notices in B: %+v", ds)
	}
	if !fs.web.audited("user.password_reset", ann) {
		t.Fatal("the reset is not audited in A")
	}
	// The session from before is over; the new password signs in, the old one not.
	if p := old.get("/account"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login?ended=1" {
		t.Fatalf("the old session: %d %s", p.status, p.header.Get("Location"))
	}
	old.tryPassword(ann, pw).has(t, http.StatusUnauthorized, "don't match")
	b.signIn(ann, next, "/account")
	// The link worked once.
	fs.web.browser().get(links[0]).has(t, http.StatusNotFound, "This password reset link is no longer valid", "Forgot password?")
	b.get("/login")
	b.post("/reset", url.Values{"token": {token}, "password": {"yet another long one"}, "confirm": {"yet another long one"}}).
		has(t, http.StatusNotFound, "no longer valid")
}

// Every request gets the same answer, whoever the address is; only an
// active member is emailed.
func TestForgotPasswordAnswersAlike(t *testing.T) {
	fs := newFleetSites(t)
	ann := "ann-" + fs.a.ID + "@example.com"
	gone := "gone-" + fs.a.ID + "@example.com"
	for _, who := range []string{ann, gone} {
		id, _ := inviteIn(t, fs.a, bossA, who)
		fs.a.Service.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-" + who, Email: who}, Text: "accept " + id})
	}
	fs.a.Service.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-a", Email: bossA}, Text: "deactivate " + gone + " --confirm"})
	stranger := "nobody-" + fs.a.ID + "@example.com"
	var answers []string
	for _, email := range []string{ann, gone, stranger, strings.ToUpper(ann)} {
		p := fs.web.browser().forgot(t, email)
		p.has(t, http.StatusOK, web.ForgotSent)
		if p.header.Get("Retry-After") != "" {
			t.Fatalf("%s: Retry-After", email)
		}
		answers = append(answers, text(p.body))
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("answers differ:\n%s\n%s", answers[0], a)
		}
	}
	if n := len(fs.resetLinks(t, ann)); n != 2 {
		t.Fatalf("%d links for ann, want 2", n)
	}
	for _, email := range []string{gone, stranger} {
		if ds := fs.web.deliveredTo(email); len(ds) != 0 {
			t.Fatalf("emailed %s: %+v", email, ds)
		}
	}
	// Only the newest of ann's two links works.
	links := fs.resetLinks(t, ann)
	fs.web.browser().get(links[0]).has(t, http.StatusNotFound, "no longer valid")
	fs.web.browser().get(links[1]).has(t, http.StatusOK, "Choose a new password")

	// A malformed address is told so (that says nothing of anyone);
	// neither form works without its CSRF token.
	b := fs.web.browser()
	b.forgot(t, "not an address").has(t, http.StatusUnprocessableEntity, "name@example.com")
	b.post("/forgot", url.Values{"email": {ann}, "csrf": {"forged"}}).has(t, http.StatusForbidden, "This form has expired")
	for _, forged := range []string{"", "garbage", strings.Repeat("A", 43), "%00"} {
		fs.web.browser().get("/reset?token="+forged).has(t, http.StatusNotFound, "This password reset link is no longer valid")
	}
}

// Requests are limited as sign-ins are, per address and email first: past
// the free ones nothing more is emailed, and the answer stays the same.
func TestForgotPasswordRateLimit(t *testing.T) {
	fs := newFleetSites(t)
	ann := "ann-" + fs.a.ID + "@example.com"
	id, _ := inviteIn(t, fs.a, bossA, ann)
	fs.a.Service.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-ann", Email: ann}, Text: "accept " + id})
	b := fs.web.browser()
	for i := range 12 {
		p := b.forgot(t, ann)
		p.has(t, http.StatusOK, web.ForgotSent)
		if p.header.Get("Retry-After") != "" {
			t.Fatalf("request %d: Retry-After", i)
		}
	}
	// The 5 free ones, and the sixth, which starts the 15-second delay.
	if n := len(fs.resetLinks(t, ann)); n != 6 {
		t.Fatalf("%d links emailed for 12 requests from one address, want 6", n)
	}
	fs.web.clock.Advance(15 * time.Second)
	b.forgot(t, ann).has(t, http.StatusOK, web.ForgotSent)
	b.forgot(t, ann).has(t, http.StatusOK, web.ForgotSent)
	if n := len(fs.resetLinks(t, ann)); n != 7 {
		t.Fatalf("after the delay: %d links, want 7 (one more, and the delay doubles)", n)
	}
	// Sign-in attempts have counters of their own: ann still signs in... once
	// she has a password, which the newest link sets.
	links := fs.resetLinks(t, ann)
	b.get(links[len(links)-1])
	b.post("/reset", url.Values{"token": {strings.TrimPrefix(links[len(links)-1], "/reset?token=")}, "password": {goodPassword}, "confirm": {goodPassword}}).
		has(t, http.StatusOK, "Your new password is set")
	b.signIn(ann, goodPassword, "/account")
}

// Without email (no SMTP_URL) nothing promises a link that would never
// arrive: /login points to an admin, /forgot says so and sends nothing.
func TestForgotPasswordWithoutEmail(t *testing.T) {
	s := newSite(t, func(c *web.Config) { c.NoEmail = true })
	b := s.browser()
	login := b.get("/login")
	login.has(t, http.StatusOK, "Ask an admin")
	if strings.Contains(login.body, `href="/forgot"`) {
		t.Error("the sign-in page offers /forgot although usher sends no email")
	}
	b.get("/forgot").has(t, http.StatusNotFound, "sends no email")
	b.get("/login")
	b.post("/forgot", url.Values{"email": {admin}}).has(t, http.StatusNotFound, "sends no email")
	if len(s.delivered) != 0 {
		t.Errorf("delivered %v", s.delivered)
	}
}

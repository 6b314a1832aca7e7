//go:build browser

// The real-browser test of the web pages: headless Chromium (Debian's
// chromium package) driven by chromedp against the real `usher serve` and a
// real redis-server. It is behind the build tag "browser" because it needs a
// browser; scripts/test.d/50-chromium.sh installs Chromium and runs it, so
// that `make test` (and CI) always does:
//
//	go test -tags browser -run TestBrowser -artifacts -outputdir DIR ./cmd/usher/
//
// Without Chromium the test fails (it never skips). Screenshots of every page
// are written to t.ArtifactDir() (DIR/... with -artifacts).

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/usher-chat/usher/bot/mail/mailtest"
	"github.com/usher-chat/usher/bot/web"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// chromiumPath finds the browser: $USHER_CHROMIUM, else chromium on PATH,
// else Debian's /usr/bin/chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("USHER_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Fatal("chromium not found: install it (sudo apt-get install chromium, or run scripts/test.d/50-chromium.sh as root) or set USHER_CHROMIUM")
	return ""
}

// tab is one browser tab with the steps the test takes in it.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
	n    int
}

func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *tab) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// page waits for a page whose h1 says heading and returns its visible text.
func (b *tab) page(heading string) string {
	b.t.Helper()
	b.do("wait for "+heading, chromedp.WaitVisible(chromedp.CSS("h1")))
	h1 := b.eval(`document.querySelector('h1').innerText`)
	body := b.eval(`document.body.innerText`)
	if !strings.Contains(h1, heading) {
		b.t.Fatalf("at %s the heading is %q, want %q\n%s", b.eval(`location.pathname`), h1, heading, body)
	}
	return body
}

// at checks the current path (and query).
func (b *tab) at(want string) {
	b.t.Helper()
	if got := b.eval(`location.pathname + location.search`); got != want {
		b.t.Fatalf("at %s, want %s", got, want)
	}
}

// shot saves a full-page PNG screenshot named after the page, after checking
// what a screenshot cannot show: every input the reader can see has a label.
func (b *tab) shot(name string) {
	b.t.Helper()
	if bare := b.eval(`Array.from(document.querySelectorAll("input")).filter(i => i.type !== "hidden" && i.offsetParent !== null && i.labels.length === 0).map(i => i.name).join(",")`); bare != "" {
		b.t.Errorf("%s: visible inputs without a label: %s", name, bare)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.n++
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

func (b *tab) open(path string) { b.t.Helper(); b.do("open "+path, chromedp.Navigate(b.base+path)) }

// submit types into inputs by id, clicks the form's submit button and waits
// for the next page.
func (b *tab) submit(form string, fields ...string) {
	b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		sel := chromedp.CSS(form + " #" + fields[i])
		steps = append(steps, chromedp.WaitVisible(sel), chromedp.Clear(sel), chromedp.SendKeys(sel, fields[i+1]))
	}
	b.do("fill "+form, steps...)
	b.click(form + ` button[type="submit"]`)
}

// click clicks and waits until another document has loaded: the current one
// is marked first, so that its own h1 cannot pass for the next page's.
func (b *tab) click(sel string) {
	b.t.Helper()
	b.eval(`document.documentElement.dataset.left = "1", ""`)
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ready, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && document.documentElement.dataset.left === undefined`))
		cancel()
		if err == nil && ready {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("click %s: no new page (%v)", sel, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// phone and desktop are the two viewports the pages are checked at.
func (b *tab) phone() {
	b.t.Helper()
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
}

func (b *tab) desktop() {
	b.t.Helper()
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
}

// TestBrowser walks the web flows in Chromium: open an invitation link made by
// the invite command, accept with a password, sign in, see the account page;
// then an admin resets the password, the user signs in with the temporary
// one, is forced to change it, and signs in with the new one; then, from
// another browser, Forgot password?: the link read from the email (a real
// SMTP server), a new password set, the first browser's session ended, a
// sign-in with the new one, and the notice in Slack.
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	srv := redistest.Start(t)
	const orgID = "browser"
	// Email goes to a real SMTP server on loopback, chat to Slack faked at
	// its Web API: the forgot-password link comes by one, the notice by the other.
	smtp := mailtest.Start(t, mailtest.Options{})
	slack := newSlackEdgeWith(t, map[string]string{"UBOSS": "boss@example.com", "UBOB": "bob@example.com"})
	base, logs := serveUsher(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": orgID, "USHER_ADMINS": "boss@example.com",
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": slack.srv.URL + "/api/",
		"SMTP_URL": smtp.URL(), "USHER_MAIL_FROM": "usher@acme.example", "USHER_SCHEDULER": "off"})

	// The admin works through the handlers, as chat would, on the same Redis.
	rdb := srv.Client(t)
	st, err := storage.New(rdb, orgID)
	if err != nil {
		t.Fatal(err)
	}
	// Wired as serve wires it (its Deployment: one password per person), so
	// that a reset here is the person's, as a reset in serve's chat is.
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: base, Deployment: newDeployment(config{publicURL: base}, st, slog.New(slog.DiscardHandler), nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	admin := func(text string) handlers.Reply {
		t.Helper()
		r := svc.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "slack", Team: "T1", UserID: "U1", Email: "boss@example.com"}, Text: text})
		if r.Code != "" {
			t.Fatalf("%s: %s %s", text, r.Code, r.Text)
		}
		return r
	}
	admin("settings name Acme")
	admin("workspace create fraud-models")
	var link string
	for _, d := range admin("invite bob@example.com --role member --workspace fraud-models --note 'Welcome to the fraud team!'").Deliveries {
		if d.Kind == handlers.DeliverInvitation {
			link = regexp.MustCompile(`https?://\S+/invitations/[A-Za-z0-9_.-]+`).FindString(d.Message.Footer)
		}
	}
	if !strings.HasPrefix(link, base+"/invitations/") {
		t.Fatalf("no link to %s in the invitation", base)
	}

	dir := t.ArtifactDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromium, err)
	}
	// Everything the pages write to the console (a blocked stylesheet, a
	// CSP violation, a failed request) fails the test.
	var mu sync.Mutex
	var console []string
	watch := func(ctx context.Context) {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleWarning && !m.IsException() {
				continue
			}
			// A page answered 401, 404 or 422 on purpose (the test checks
			// those); a failed stylesheet or icon still counts.
			if m.Source == "network" && !strings.Contains(m.URL, "/static/") {
				continue
			}
			mu.Lock()
			console = append(console, m.String()+" ("+m.URL+")")
			mu.Unlock()
		}
	}
	go watch(ctx)
	b := &tab{t: t, ctx: ctx, base: base, dir: dir}
	b.phone()

	// 1. The invitation link, on a phone.
	b.open(strings.TrimPrefix(link, base))
	body := b.page("You're invited to Acme")
	for _, want := range []string{"boss@example.com invited you to join Acme as member", "fraud-models", "Welcome to the fraud team!", "bob@example.com", "Expires"} {
		if !strings.Contains(body, want) {
			t.Errorf("invitation page lacks %q:\n%s", want, body)
		}
	}
	// The stylesheet loaded despite the strict CSP.
	if bg := b.eval(`getComputedStyle(document.querySelector('button.primary')).backgroundColor`); bg != "rgb(11, 92, 173)" {
		t.Errorf("the primary button is %s: the stylesheet did not apply", bg)
	}
	if w := b.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("the invitation page is %spx wide on a 390px phone: it scrolls sideways", w)
	}
	b.shot("invitation-phone")
	b.desktop()
	b.shot("invitation-desktop")
	b.phone()

	// 2. A weak password is refused, with the error on its field.
	b.submit("main form", "name", "Bob Builder", "password", "password1234", "confirm", "password1234")
	body = b.page("You're invited to Acme")
	if !strings.Contains(body, "too common") || b.eval(`document.activeElement.id`) != "password" {
		t.Fatalf("weak password: focus on %q\n%s", b.eval(`document.activeElement.id`), body)
	}
	b.shot("invitation-weak-password")

	// 3. Accept with a good password: straight to signing in.
	const password = "lantern orbit wheat spoon"
	b.submit("main form", "name", "Bob Builder", "password", password, "confirm", password)
	body = b.page("Sign in to Acme")
	if !strings.Contains(body, "Welcome to Acme! You joined as member") {
		t.Fatalf("after accepting:\n%s", body)
	}
	if v := b.eval(`document.querySelector('#email').value`); v != "bob@example.com" {
		t.Errorf("the sign-in form's email is %q", v)
	}
	if f := b.eval(`document.activeElement.id`); f != "password" {
		t.Errorf("focus is on %q, want the password", f)
	}
	b.shot("welcome-sign-in")

	// 4. Sign in, see the account page.
	b.submit("main form", "password", password)
	body = b.page("Your account")
	b.at("/account")
	for _, want := range []string{"Bob Builder", "bob@example.com", "member", "fraud-models (editor)", "You have no open invitations"} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %q:\n%s", want, body)
		}
	}
	b.shot("account-phone")
	b.desktop()
	b.shot("account-desktop")
	b.phone()

	// 5. An admin resets the password in chat; the temporary password comes
	// to bob privately. His web session ends at once.
	var temp string
	for _, d := range admin("reset-password bob@example.com --confirm").Deliveries {
		if d.Kind == handlers.DeliverPassword {
			temp = regexp.MustCompile(`(?m)^\S{5}-\S{5}-\S{5}-\S{5}$`).FindString(d.Message.Text)
		}
	}
	if temp == "" {
		t.Fatal("no temporary password delivered")
	}
	b.open("/account")
	body = b.page("Sign in")
	b.at("/login?ended=1")
	if !strings.Contains(body, "Your session ended") {
		t.Errorf("after the reset:\n%s", body)
	}
	b.shot("session-ended")

	// 6. Sign in with the temporary password: forced to change it, and
	// nothing else is reachable meanwhile.
	b.submit("main form", "email", "bob@example.com", "password", temp)
	body = b.page("Choose a new password")
	b.at("/account/password")
	if !strings.Contains(body, "You signed in with a temporary password") {
		t.Errorf("forced change page:\n%s", body)
	}
	b.shot("forced-change")
	b.open("/account")
	b.page("Choose a new password")
	b.at("/account/password")

	b.submit("main form", "password", "short", "confirm", "short")
	body = b.page("Choose a new password")
	if !strings.Contains(body, "too short") {
		t.Fatalf("short new password:\n%s", body)
	}
	b.shot("forced-change-too-short")

	const next = "copper kettle mountain rain"
	b.submit("main form", "password", next, "confirm", next)
	body = b.page("Your account")
	b.at("/account?done=password")
	if !strings.Contains(body, "Your password is changed") {
		t.Errorf("after the change:\n%s", body)
	}
	b.shot("password-changed")

	// 7. Sign out; the temporary password is dead, the new one works.
	b.click(`header button[type="submit"]`)
	body = b.page("Sign in")
	b.at("/login?bye=1")
	b.submit("main form", "email", "bob@example.com", "password", temp)
	body = b.page("Sign in")
	if !strings.Contains(body, "That email and password don't match") {
		t.Errorf("the temporary password after the change:\n%s", body)
	}
	b.shot("sign-in-refused")
	b.submit("main form", "email", "bob@example.com", "password", next)
	b.page("Your account")
	b.at("/account")
	b.shot("signed-in-again")

	// 8. The used invitation link now says only that it is no longer valid.
	b.open(strings.TrimPrefix(link, base))
	body = b.page("This invitation link is no longer valid")
	if strings.Contains(body, "bob@example.com") {
		t.Error("the dead link's page names the invitee")
	}
	b.shot("invalid-link")

	// 9. Forgot password, in another browser (its own cookies), while bob's
	// session from step 7 is open in this one.
	fctx, cancelF := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelF()
	if err := chromedp.Do(fctx); err != nil {
		t.Fatalf("second browser context: %v", err)
	}
	go watch(fctx)
	f := &tab{t: t, ctx: fctx, base: base, dir: dir, n: 50}
	f.phone()
	f.open("/login")
	f.page("Sign in")
	f.click(`a[href="/forgot"]`)
	f.page("Forgot your password?")
	f.at("/forgot")
	f.shot("forgot")
	f.submit("main form", "email", "bob@example.com")
	body = f.page("Check your email")
	if !strings.Contains(body, web.ForgotSent) {
		t.Errorf("after asking for a link:\n%s", body)
	}
	f.shot("forgot-sent")
	mail := smtp.WaitFor(t, "bob@example.com")
	resetURL := regexp.MustCompile(regexp.QuoteMeta(base) + `/reset\?token=[A-Za-z0-9_-]{43}`).FindString(mail.Text)
	if resetURL == "" || !strings.Contains(mail.Subject, "Reset your usher password") {
		t.Fatalf("the email (%q) has no reset link:\n%s", mail.Subject, mail.Text)
	}
	resetPath := strings.TrimPrefix(resetURL, base)
	f.open(resetPath)
	body = f.page("Choose a new password")
	if !strings.Contains(body, "For bob@example.com") || f.eval(`document.activeElement.id`) != "password" {
		t.Errorf("reset form (focus on %q):\n%s", f.eval(`document.activeElement.id`), body)
	}
	f.shot("reset-form")
	f.submit("main form", "password", "short", "confirm", "short")
	body = f.page("Choose a new password")
	f.at("/reset") // the token travels in the form, not the address
	if !strings.Contains(body, "too short") {
		t.Fatalf("short password on the reset form:\n%s", body)
	}
	f.shot("reset-too-short")
	const chosen = "harbor violet thunder mill"
	f.submit("main form", "password", chosen, "confirm", chosen)
	body = f.page("Sign in")
	if !strings.Contains(body, "Your new password is set") {
		t.Fatalf("after the reset:\n%s", body)
	}
	f.shot("reset-done")
	// bob's session in the first browser is over.
	b.open("/account")
	b.page("Sign in")
	b.at("/login?ended=1")
	// The new password signs in (the email is filled in); the link is used up.
	f.submit("main form", "password", chosen)
	f.page("Your account")
	f.at("/account")
	f.open(resetPath)
	body = f.page("This password reset link is no longer valid")
	if strings.Contains(body, "bob@example.com") {
		t.Error("the used reset link's page names its person")
	}
	f.shot("reset-link-used")
	// bob is told in Slack, privately.
	waitForSlack(t, logs, "bob told of the reset in Slack", func() bool {
		for _, p := range slack.postsTo("DUBOB") {
			if strings.Contains(p.Get("text")+p.Get("blocks"), "reset from the web") {
				return true
			}
		}
		return false
	})

	mu.Lock()
	defer mu.Unlock()
	if len(console) > 0 {
		t.Errorf("the browser console reported:\n%s", strings.Join(console, "\n"))
	}
	for _, secret := range []string{password, next, temp, strings.TrimPrefix(link, base+"/invitations/"), chosen, strings.TrimPrefix(resetPath, "/reset?token=")} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the server log holds a secret (%.4s...)", secret)
		}
	}
	t.Logf("screenshots in %s", dir)
}

package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/web"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
	"github.com/usher-chat/usher/storage"
)

const goodPassword = "lantern orbit wheat spoon"

func TestInvitationPageShowsTheInvitation(t *testing.T) {
	s := newSite(t)
	_, link := s.invite("bob@example.com", "--role", "member", "--workspace", "fraud-models", "--note", "'Welcome aboard'")
	p := s.browser().get(link)
	p.has(t, http.StatusOK, "You're invited to Acme", "boss@example.com invited you to join Acme as member",
		"fraud-models (editor)", "Mon Jan 12, 2026 at 09:00 UTC", "in 7 days", "Welcome aboard", "bob@example.com",
		"Accept and join Acme", "Decline this invitation")
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
	} {
		if got := p.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}

func TestOpeningTheLinkDoesNotUseItUp(t *testing.T) {
	s := newSite(t)
	id, link := s.invite("bob@example.com")
	b := s.browser()
	for range 3 {
		b.get(link).has(t, http.StatusOK, "You're invited")
	}
	if inv := s.invitation(id); inv.Status != org.InvitationPending {
		t.Fatalf("opening the link moved the invitation to %s", inv.Status)
	}
}

func TestAcceptCreatesTheUserLikeTheChatAccept(t *testing.T) {
	s := newSite(t)
	id, link := s.invite("bob@example.com", "--role", "viewer", "--workspace", "fraud-models")
	b := s.browser()
	b.get(link)
	p := b.post(link+"/accept", url.Values{"name": {"  Bob   Builder "}, "password": {goodPassword}, "confirm": {goodPassword}})
	p.has(t, http.StatusOK, "Welcome to Acme! You joined as viewer with fraud-models:reader.", "Sign in to Acme", "Sign in with the password you just chose")
	if !strings.Contains(p.body, `value="bob@example.com"`) {
		t.Error("the sign-in form after accepting does not carry the email")
	}
	u := s.user("bob@example.com")
	if u == nil || u.Name != "Bob Builder" || u.Role != org.RoleViewer || !u.Active() || u.Workspaces.Encode() != "fraud-models:reader" {
		t.Fatalf("user after accept: %+v", u)
	}
	if !secret.CheckPassword(u.PasswordHash, goodPassword) || u.MustChangePassword {
		t.Fatal("the chosen password is not the user's")
	}
	if inv := s.invitation(id); inv.Status != org.InvitationAccepted {
		t.Fatalf("invitation %s", inv.Status)
	}
	for _, action := range []string{"invitation.accept", "user.join"} {
		if !s.audited(action, "bob@example.com") {
			t.Errorf("no %s audit entry", action)
		}
	}
	if ds := s.deliveredTo(admin); len(ds) != 1 || !strings.Contains(ds[0].Message.Text, "bob@example.com accepted your invitation") {
		t.Fatalf("inviter told: %+v", ds)
	}
	// The link is spent: the same neutral page as any dead link.
	b.get(link).has(t, http.StatusNotFound, "This invitation link is no longer valid")
}

func TestDeadLinksLookAlike(t *testing.T) {
	s := newSite(t)
	pages := map[string]*page{}
	b := s.browser()

	_, used := s.invite("used@example.com")
	b.get(used)
	b.post(used+"/accept", url.Values{"name": {"U"}, "password": {goodPassword}, "confirm": {goodPassword}}).has(t, http.StatusOK)
	_, revoked := s.invite("revoked@example.com")
	s.ok(admin, "revoke revoked@example.com --confirm")
	_, rotated := s.invite("rotated@example.com")
	s.ok(admin, "link rotated@example.com")
	_, expired := s.invite("expired@example.com")
	s.clock.Advance(8 * 24 * time.Hour)
	unknown, _ := secret.NewToken(rand.Reader)

	cases := map[string]string{
		"unknown": "/invitations/" + string(unknown), "garbage": "/invitations/not-a-token", "used": used,
		"revoked": revoked, "rotated": rotated, "expired": expired,
	}
	for name, link := range cases {
		pages[name] = b.get(link)
		pages[name].has(t, http.StatusNotFound, "This invitation link is no longer valid", "Ask the person who invited you for a new one")
		for _, email := range []string{"used@", "revoked@", "rotated@", "expired@"} {
			if strings.Contains(pages[name].body, email) {
				t.Errorf("%s link: the page names %s", name, email)
			}
		}
		// Acting on a dead link gets the same page.
		b.get("/login")
		b.post(link+"/accept", url.Values{"name": {"X"}, "password": {goodPassword}, "confirm": {goodPassword}}).has(t, http.StatusNotFound, "no longer valid")
		b.get("/login")
		b.post(link+"/decline", nil).has(t, http.StatusNotFound, "no longer valid")
		b.get(link+"/decline").has(t, http.StatusNotFound, "no longer valid")
	}
	for name, p := range pages {
		if p.body != pages["unknown"].body {
			t.Errorf("the %s link's page differs from an unknown link's", name)
		}
	}
	if strings.Contains(s.logs.String(), strings.TrimPrefix(revoked, "/invitations/")) {
		t.Error("a link's token reached the log")
	}
}

func TestAcceptRefusesBadInput(t *testing.T) {
	s := newSite(t)
	id, link := s.invite("robert@example.com")
	b := s.browser()
	cases := []struct {
		name, display, password, confirm string
		field, want                      string
	}{
		{"weak: too short", "Rob", "short pass", "short pass", "password", "too short: it has 10 characters and needs at least 12"},
		{"weak: common", "Rob", "Password2024!", "Password2024!", "password", "too common"},
		{"weak: pattern", "Rob", "abababababab", "abababababab", "password", "too easy to guess"},
		{"weak: the email", "Rob", "robert@example.com!", "robert@example.com!", "password", "must not contain your email"},
		{"mismatch", "Rob", goodPassword, goodPassword + "x", "confirm", "The two passwords don't match"},
		{"no password", "Rob", "", "", "password", "Choose a password"},
		{"no name", "   ", goodPassword, goodPassword, "name", "Tell us your name"},
		{"name too long", strings.Repeat("n", 101), goodPassword, goodPassword, "name", "too long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.get(link)
			p := b.post(link+"/accept", url.Values{"name": {c.display}, "password": {c.password}, "confirm": {c.confirm}})
			p.has(t, http.StatusUnprocessableEntity, c.want, "Accept and join Acme")
			// The error is tied to its input, which gets the focus.
			input := regexp.MustCompile(`<input id="` + c.field + `"[^>]*>`).FindString(p.body)
			for _, attr := range []string{`aria-invalid="true"`, c.field + `-error`, "autofocus"} {
				if !strings.Contains(input, attr) {
					t.Errorf("input %s lacks %s: %s", c.field, attr, input)
				}
			}
			if !strings.Contains(p.body, `id="`+c.field+`-error"`) {
				t.Errorf("no error element for %s", c.field)
			}
			if strings.Contains(p.body, c.password) && c.password != "" {
				t.Error("the page shows the password back")
			}
			if c.display != "   " && !strings.Contains(p.body, `value="`+c.display+`"`) {
				t.Error("the name typed is lost")
			}
		})
	}
	if s.user("robert@example.com") != nil || s.invitation(id).Status != org.InvitationPending {
		t.Fatal("a refused accept changed something")
	}
	b.get(link).has(t, http.StatusOK, "You're invited")
}

// TestFormsNeedTheirCSRFToken posts every form without its token, with a
// wrong one, with another browser's, and without the cookie: all refused
// with 403, nothing changed, a log line without secrets.
func TestFormsNeedTheirCSRFToken(t *testing.T) {
	s := newSite(t)
	carol := s.browser()
	s.join(carol, "carol@example.com", "Carol", goodPassword)
	carol.signIn("carol@example.com", goodPassword, "/account")
	id, link := s.invite("dan@example.com")
	mallory := s.browser()
	mallory.get(link)
	stolen := csrfOf(mallory.last.body) // a valid token, for Mallory's browser only

	forms := []struct {
		name string
		b    *browser
		get  string
		post string
		form url.Values
	}{
		{"accept", s.browser(), link, link + "/accept", url.Values{"name": {"D"}, "password": {goodPassword}, "confirm": {goodPassword}}},
		{"decline", s.browser(), link + "/decline", link + "/decline", nil},
		{"sign in", s.browser(), "/login", "/login", url.Values{"email": {"carol@example.com"}, "password": {goodPassword}}},
		{"change password", carol, "/account/password", "/account/password", url.Values{"current": {goodPassword}, "password": {"a brand new secret"}, "confirm": {"a brand new secret"}}},
		{"sign out", carol, "/account", "/logout", nil},
	}
	for _, f := range forms {
		for _, bad := range []struct{ name, token string }{{"missing", ""}, {"wrong", "AAAA"}, {"another browser's", stolen}} {
			t.Run(f.name+"/"+bad.name, func(t *testing.T) {
				f.b.get(f.get)
				form := url.Values{}
				for k, v := range f.form {
					form[k] = v
				}
				form.Set("csrf", bad.token)
				f.b.post(f.post, form).has(t, http.StatusForbidden, "This form has expired", "nothing was changed")
			})
		}
	}
	t.Run("no cookie", func(t *testing.T) {
		nocookie := s.browser()
		nocookie.get(link)
		token := csrfOf(nocookie.last.body)
		nocookie.c.Jar, _ = newJar()
		nocookie.post(link+"/accept", url.Values{"csrf": {token}, "name": {"D"}, "password": {goodPassword}, "confirm": {goodPassword}}).
			has(t, http.StatusForbidden, "usher needs cookies")
	})
	t.Run("a token from before signing in", func(t *testing.T) {
		b := s.browser()
		b.get("/login")
		before := csrfOf(b.last.body)
		b.post("/login", url.Values{"email": {"carol@example.com"}, "password": {goodPassword}})
		b.post("/logout", url.Values{"csrf": {before}}).has(t, http.StatusForbidden)
	})

	if s.invitation(id).Status != org.InvitationPending || s.user("dan@example.com") != nil {
		t.Fatal("a forged form changed the invitation")
	}
	if !secret.CheckPassword(s.user("carol@example.com").PasswordHash, goodPassword) {
		t.Fatal("a forged form changed the password")
	}
	carol.get("/account").has(t, http.StatusOK, "Your account")
	logs := s.logs.String()
	if !strings.Contains(logs, "web: form refused") {
		t.Error("refused forms are not logged")
	}
	for _, secretText := range []string{stolen, goodPassword, strings.TrimPrefix(link, "/invitations/")} {
		if strings.Contains(logs, secretText) {
			t.Errorf("the log holds a secret: %q", secretText)
		}
	}
}

func TestCrossOriginFormsAreRefused(t *testing.T) {
	s := newSite(t)
	_, link := s.invite("dan@example.com")
	b := s.browser()
	b.get(link)
	form := url.Values{"csrf": {csrfOf(b.last.body)}, "name": {"D"}, "password": {goodPassword}, "confirm": {goodPassword}}
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+link+"/accept", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	b.do(req).has(t, http.StatusForbidden, "sent from another site")
	if s.user("dan@example.com") != nil {
		t.Fatal("a cross-site form created the user")
	}
}

func TestDeclineAsksThenDeclines(t *testing.T) {
	s := newSite(t)
	id, link := s.invite("erin@example.com")
	b := s.browser()
	p := b.get(link + "/decline")
	p.has(t, http.StatusOK, "Decline the invitation?", "You won't join Acme. boss@example.com will be told", "Go back")
	if s.invitation(id).Status != org.InvitationPending {
		t.Fatal("asking declined")
	}
	b.post(link+"/decline", nil).has(t, http.StatusOK, "You declined the invitation to Acme. boss@example.com will be told.")
	if inv := s.invitation(id); inv.Status != org.InvitationDeclined {
		t.Fatalf("status %s", inv.Status)
	}
	if !s.audited("invitation.decline", "erin@example.com") {
		t.Error("no audit entry")
	}
	if ds := s.deliveredTo(admin); len(ds) != 1 || !strings.Contains(ds[0].Message.Text, "erin@example.com declined your invitation") {
		t.Fatalf("inviter told: %+v", ds)
	}
	b.get(link).has(t, http.StatusNotFound, "no longer valid")
}

func TestSignInAndTheAccountPage(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword, "--workspace", "fraud-models")
	b.signIn("bob@example.com", goodPassword, "/account")
	c := b.cookie("usher_session")
	if c == nil {
		t.Fatal("no session cookie")
	}
	set := b.last.header.Values("Set-Cookie")
	var line string
	for _, l := range set {
		if strings.HasPrefix(l, "usher_session=") {
			line = l
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"} {
		if !strings.Contains(line, attr) {
			t.Errorf("session cookie lacks %s: %s", attr, line)
		}
	}
	if strings.Contains(line, "Secure") {
		t.Errorf("a loopback session cookie is Secure (browsers would drop it on http): %s", line)
	}
	p := b.follow()
	p.has(t, http.StatusOK, "Your account", "Bob", "bob@example.com", "member", "fraud-models (editor)", "You have no open invitations", "Sign out", "Change your password")
	b.get("/").has(t, http.StatusSeeOther)

	// Storage keeps only the id's hash, under the keys the core reserves.
	h := sha256.Sum256([]byte(c.Value))
	idHash := hex.EncodeToString(h[:])
	ctx := context.Background()
	if ok, _ := s.rdb.SIsMember(ctx, s.key("sessions:bob@example.com"), idHash).Result(); !ok {
		t.Fatal("the session is not indexed under its user")
	}
	if ttl := s.rdb.PTTL(ctx, s.key("session:"+idHash)).Val(); ttl <= 11*time.Hour || ttl > 12*time.Hour {
		t.Fatalf("session TTL %v", ttl)
	}
	keys, _ := s.rdb.Keys(ctx, s.key("*")).Result()
	for _, k := range keys {
		if strings.Contains(k, c.Value) {
			t.Fatalf("the cookie's id is stored in clear in %s", k)
		}
		if v, _ := s.rdb.HGetAll(ctx, k).Result(); strings.Contains(strings.Join(mapValues(v), " "), c.Value) {
			t.Fatalf("the cookie's id is stored in clear in %s", k)
		}
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestSignedOutPagesGoToSignIn(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	for _, path := range []string{"/account", "/account/password", "/account/invitations/abc/decline"} {
		p := b.get(path)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
			t.Errorf("%s: %d to %q", path, p.status, p.header.Get("Location"))
		}
	}
	// A cookie naming no session is cleared.
	u, _ := url.Parse(s.srv.URL)
	forged, _ := secret.NewToken(rand.Reader)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "usher_session", Value: string(forged), Path: "/"}})
	p := b.get("/account")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login?ended=1" {
		t.Fatalf("a forged session: %d to %q", p.status, p.header.Get("Location"))
	}
	b.follow().has(t, http.StatusOK, "Your session ended")
}

func TestSignInFailuresLookAlike(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword)
	s.join(b, "gone@example.com", "Gone", goodPassword)
	s.ok(admin, "deactivate gone@example.com --confirm")
	s.ok(admin, "invite chat@example.com")
	// chat@ accepted in chat: no password yet.
	var id string
	for _, it := range s.ok(admin, "invitations").Items {
		for _, f := range it.Fields {
			if f.Label == "ID" && strings.HasPrefix(it.Text, "chat@") {
				id = f.Value
			}
		}
	}
	s.ok("chat@example.com", "accept "+id)

	var first string
	for _, c := range []struct{ name, email, password string }{
		{"wrong password", "bob@example.com", "not the password at all"},
		{"unknown email", "nobody@example.com", goodPassword},
		{"deactivated", "gone@example.com", goodPassword},
		{"no password yet", "chat@example.com", goodPassword},
		{"not an email", "bob", goodPassword},
	} {
		b.get("/login")
		p := b.post("/login", url.Values{"email": {c.email}, "password": {c.password}})
		p.has(t, http.StatusUnauthorized, "That email and password don't match.")
		msg := regexp.MustCompile(`(?s)<div class="alert".*?</div>`).FindString(p.body)
		if first == "" {
			first = msg
		} else if msg != first {
			t.Errorf("%s: the message differs:\n%s\n%s", c.name, msg, first)
		}
		if b.cookie("usher_session") != nil {
			t.Fatalf("%s: signed in", c.name)
		}
	}
	b.get("/login")
	b.post("/login", url.Values{"email": {""}, "password": {"x"}}).has(t, http.StatusUnprocessableEntity, "Enter your email address")
	b.get("/login")
	b.post("/login", url.Values{"email": {"bob@example.com"}, "password": {""}}).has(t, http.StatusUnprocessableEntity, "Enter your password")
}

func TestSignInIsRateLimited(t *testing.T) {
	s := newSite(t, func(c *web.Config) { c.EmailLimit, c.AddrLimit = 3, 6 })
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword)
	for i := range 3 {
		b.get("/login")
		b.post("/login", url.Values{"email": {"bob@example.com"}, "password": {"wrong password " + string(rune('a'+i))}}).has(t, http.StatusUnauthorized)
	}
	b.get("/login")
	p := b.post("/login", url.Values{"email": {"bob@example.com"}, "password": {goodPassword}})
	p.has(t, http.StatusTooManyRequests, "Too many sign-in attempts. Try again in 15 minutes.")
	if ra := p.header.Get("Retry-After"); ra == "" || ra > "900" {
		t.Errorf("Retry-After %q", ra)
	}
	if b.cookie("usher_session") != nil {
		t.Fatal("signed in past the limit")
	}
	// Per client address: other emails from the same address run into it.
	for i := range 2 {
		b.get("/login")
		b.post("/login", url.Values{"email": {"x" + string(rune('a'+i)) + "@example.com"}, "password": {"whatever it is"}}).has(t, http.StatusUnauthorized)
	}
	b.get("/login")
	b.post("/login", url.Values{"email": {"fresh@example.com"}, "password": {"whatever it is"}}).has(t, http.StatusTooManyRequests, "Too many")

	// The windows end; a success clears this address's count for the email,
	// not the email's ceiling (which someone guessing from elsewhere uses up).
	ctx := context.Background()
	for _, k := range []string{"signin:email:bob@example.com", "signin:ip:127.0.0.1", "signin:pair:bob@example.com|127.0.0.1"} {
		if s.rdb.PTTL(ctx, s.key(k)).Val() <= 0 {
			t.Fatalf("%s has no expiry", k)
		}
		if k != "signin:pair:bob@example.com|127.0.0.1" {
			s.rdb.Del(ctx, s.key(k))
		}
	}
	b.signIn("bob@example.com", goodPassword, "/account")
	if n := s.rdb.Exists(ctx, s.key("signin:pair:bob@example.com|127.0.0.1")).Val(); n != 0 {
		t.Error("a successful sign-in left its address's count for the email")
	}
	if n := s.rdb.Exists(ctx, s.key("signin:email:bob@example.com")).Val(); n != 1 {
		t.Error("a successful sign-in cleared the email's ceiling")
	}
}

// TestResetForcesAPasswordChange is product flow 6 on the web.
func TestResetForcesAPasswordChange(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword)
	b.signIn("bob@example.com", goodPassword, "/account")
	other := s.browser()
	other.signIn("bob@example.com", goodPassword, "/account")

	temp := s.resetPassword("bob@example.com")
	// The reset ended every web session.
	for _, br := range []*browser{b, other} {
		if p := br.get("/account"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login") {
			t.Fatalf("a session survived the reset: %d %q", p.status, p.header.Get("Location"))
		}
	}
	if n, _ := s.rdb.SCard(context.Background(), s.key("sessions:bob@example.com")).Result(); n != 0 {
		t.Fatalf("%d sessions still indexed", n)
	}
	// The old password is gone; the temporary one works once, for a short session.
	b.get("/login")
	b.post("/login", url.Values{"email": {"bob@example.com"}, "password": {goodPassword}}).has(t, http.StatusUnauthorized)
	b.signIn("bob@example.com", temp, "/account/password")
	if !strings.Contains(strings.Join(b.last.header.Values("Set-Cookie"), "\n"), "Max-Age=900") {
		t.Error("a temporary sign-in's session is not short")
	}
	other.get("/login")
	other.post("/login", url.Values{"email": {"bob@example.com"}, "password": {temp}}).has(t, http.StatusUnauthorized)
	if !s.audited("user.password_temporary_used", "bob@example.com") {
		t.Error("using the temporary password is not audited")
	}

	// Nothing but the change-password page until it is done.
	for _, path := range []string{"/account", "/", "/account/invitations/abc/decline"} {
		p := b.get(path)
		for p.status == http.StatusSeeOther && p.header.Get("Location") != "/account/password" {
			p = b.follow()
		}
		if p.header.Get("Location") != "/account/password" {
			t.Fatalf("%s: %d %q", path, p.status, p.header.Get("Location"))
		}
	}
	p := b.get("/account/password")
	p.has(t, http.StatusOK, "Choose a new password", "You signed in with a temporary password")
	if strings.Contains(p.body, `id="current"`) {
		t.Error("the forced change asks for the current password")
	}
	b.post("/account/password", url.Values{"password": {"short"}, "confirm": {"short"}}).has(t, http.StatusUnprocessableEntity, "too short")
	b.get("/account/password")
	b.post("/account/password", url.Values{"password": {"a brand new secret"}, "confirm": {"a brand new secret"}})
	if b.last.status != http.StatusSeeOther || b.last.header.Get("Location") != "/account?done=password" {
		t.Fatalf("change: %d %q\n%s", b.last.status, b.last.header.Get("Location"), text(b.last.body))
	}
	b.follow().has(t, http.StatusOK, "Your password is changed", "Your account")

	u := s.user("bob@example.com")
	if u.MustChangePassword || !secret.CheckPassword(u.PasswordHash, "a brand new secret") {
		t.Fatalf("after the change: %+v", u)
	}
	if !s.audited("user.password_change", "bob@example.com") {
		t.Error("no audit entry for the change")
	}
	if ds := s.deliveredTo("bob@example.com"); len(ds) != 1 || !strings.Contains(ds[0].Message.Text, "password for Acme was just changed") {
		t.Fatalf("the user is not told in chat: %+v", ds)
	}
	other.get("/login")
	other.post("/login", url.Values{"email": {"bob@example.com"}, "password": {temp}}).has(t, http.StatusUnauthorized)
	other.signIn("bob@example.com", "a brand new secret", "/account")
}

func TestTemporaryPasswordExpires(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword)
	temp := s.resetPassword("bob@example.com")
	s.clock.Advance(handlers.TemporaryPasswordLifetime + time.Minute)
	b.get("/login")
	b.post("/login", url.Values{"email": {"bob@example.com"}, "password": {temp}}).has(t, http.StatusUnauthorized, "Your temporary password has expired", "Ask an admin")
}

func TestDeactivationEndsSessionsAtOnce(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword)
	b.signIn("bob@example.com", goodPassword, "/account")
	ctx := context.Background()
	sum := sha256.Sum256([]byte(b.cookie("usher_session").Value))
	idHash := hex.EncodeToString(sum[:])
	saved, _ := s.rdb.HGetAll(ctx, s.key("session:"+idHash)).Result()

	s.ok(admin, "deactivate bob@example.com --confirm")
	if n := s.rdb.Exists(ctx, s.key("session:"+idHash), s.key("sessions:bob@example.com")).Val(); n != 0 {
		t.Fatal("deactivation left the session in Redis")
	}
	// Even a session that escaped the deletion (a race) no longer works.
	s.rdb.HSet(ctx, s.key("session:"+idHash), saved)
	p := b.get("/account")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login?ended=1" {
		t.Fatalf("a deactivated user's session: %d %q", p.status, p.header.Get("Location"))
	}
	if s.rdb.Exists(ctx, s.key("session:"+idHash)).Val() != 0 {
		t.Error("the stale session was not deleted")
	}
}

// TestSessionsAreNotCreatedForAChangedUser: a sign-in that raced a
// deactivation (or a reset, or any change to the user) opens no session.
func TestSessionsAreNotCreatedForAChangedUser(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword)
	who, err := s.svc.SignIn(context.Background(), "bob@example.com", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	s.ok(admin, "deactivate bob@example.com --confirm")
	s.ok(admin, "activate bob@example.com --confirm")
	err = s.sessions.Create(context.Background(), strings.Repeat("ab", 32), storage.Session{Email: who.Email, Stamp: who.Stamp, Version: who.Version}, time.Hour)
	var stale *org.PreconditionError
	if !errors.As(err, &stale) {
		t.Fatalf("a session for a user read before a change: %v", err)
	}
}

func TestChangePassword(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword)
	b.signIn("bob@example.com", goodPassword, "/account")
	other := s.browser()
	other.signIn("bob@example.com", goodPassword, "/account")

	const next = "a brand new secret"
	cases := []struct {
		name                     string
		current, password, again string
		field, want              string
	}{
		{"no current password", "", next, next, "current", "Enter your current password"},
		{"wrong current password", "not my password", next, next, "current", "Your current password is not right"},
		{"weak", goodPassword, "qwertyuiop123", "qwertyuiop123", "password", "too common"},
		{"mismatch", goodPassword, next, next + "!", "confirm", "don't match"},
		{"the same as now", goodPassword, goodPassword, goodPassword, "", "That is your current password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.get("/account/password")
			p := b.post("/account/password", url.Values{"current": {c.current}, "password": {c.password}, "confirm": {c.again}})
			p.has(t, http.StatusUnprocessableEntity, c.want)
			if c.field != "" && !strings.Contains(regexp.MustCompile(`<input id="`+c.field+`"[^>]*>`).FindString(p.body), `aria-invalid="true"`) {
				t.Errorf("the error is not on %s", c.field)
			}
		})
	}
	b.get("/account/password").has(t, http.StatusOK, "Change your password", "Current password")
	b.post("/account/password", url.Values{"current": {goodPassword}, "password": {next}, "confirm": {next}})
	b.follow().has(t, http.StatusOK, "Your password is changed. You were signed out everywhere else.")
	// This browser stays signed in; the other one is signed out.
	b.get("/account").has(t, http.StatusOK, "Your account")
	if p := other.get("/account"); p.status != http.StatusSeeOther {
		t.Fatalf("another browser's session survived the change: %d", p.status)
	}
	if ds := s.deliveredTo("bob@example.com"); len(ds) != 1 {
		t.Fatalf("told in chat %d times", len(ds))
	}
}

func TestSignOut(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	s.join(b, "bob@example.com", "Bob", goodPassword)
	b.signIn("bob@example.com", goodPassword, "/account")
	id := b.cookie("usher_session").Value
	b.follow()
	p := b.post("/logout", nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login?bye=1" {
		t.Fatalf("sign out: %d %q", p.status, p.header.Get("Location"))
	}
	if b.cookie("usher_session") != nil {
		t.Error("the cookie survived signing out")
	}
	b.follow().has(t, http.StatusOK, "You signed out")
	sum := sha256.Sum256([]byte(id))
	if s.rdb.Exists(context.Background(), s.key("session:"+hex.EncodeToString(sum[:]))).Val() != 0 {
		t.Fatal("the session survived signing out")
	}
	// Signing out without a session just goes to the sign-in page.
	if p := s.browser().post("/logout", url.Values{"csrf": {"x"}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign out without a session: %d", p.status)
	}
}

// TestTheBellShowsOpenInvitations: an invitation addressed to a signed-in
// user is on their account page, with Accept and Decline that run the chat
// commands as them.
func TestTheBellShowsOpenInvitations(t *testing.T) {
	s := newSite(t)
	s.ok(admin, "workspace create ml")
	id, _ := s.invite("dave@example.com", "--workspace", "ml")
	s.invite("erin@example.com")
	// Dave joins another way meanwhile (an operator makes him an admin).
	if _, err := s.svc.BootstrapAdmin(context.Background(), "dave@example.com"); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.signIn("dave@example.com", s.resetPassword("dave@example.com"), "/account/password")
	b.get("/account/password")
	b.post("/account/password", url.Values{"password": {goodPassword}, "confirm": {goodPassword}})
	p := b.follow()
	p.has(t, http.StatusOK, "Invitations for you", "boss@example.com invited you to Acme as member", "with ml (editor)", "Accept", "Decline")
	if strings.Contains(p.body, "erin@example.com") {
		t.Fatal("the bell shows someone else's invitation")
	}
	b.get("/account/invitations/"+id+"/decline").has(t, http.StatusOK, "Decline the invitation?")
	b.get("/account")
	b.post("/account/invitations/"+id+"/accept", nil)
	if b.last.status != http.StatusSeeOther {
		t.Fatalf("accept from the bell: %d %s", b.last.status, text(b.last.body))
	}
	b.follow().has(t, http.StatusOK, "You accepted the invitation", "You have no open invitations", "ml (editor)")
	if s.invitation(id).Status != org.InvitationAccepted || s.user("dave@example.com").Role != org.RoleAdmin {
		t.Fatal("the bell's accept did not take, or cost dave his admin role")
	}
	// Clicking again: the chat command's own answer.
	b.post("/account/invitations/"+id+"/accept", nil).has(t, http.StatusConflict, "already accepted")
	b.post("/account/invitations/"+id+"%20--confirm/decline", nil).has(t, http.StatusNotFound)
}

func TestSecureCookiesOutsideLoopback(t *testing.T) {
	s := newSite(t)
	req := httptestRequest("GET", "https://usher.example.com/login")
	rec := serve(s, req)
	if rec.status != http.StatusOK {
		t.Fatalf("status %d", rec.status)
	}
	c := strings.Join(rec.header.Values("Set-Cookie"), "\n")
	for _, want := range []string{"__Host-usher_csrf=", "Secure", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(c, want) {
			t.Errorf("cookie lacks %s: %s", want, c)
		}
	}
	// With an https public URL, even loopback requests get Secure cookies
	// (a TLS proxy on the same host).
	s2 := newSite(t, func(c *web.Config) { c.PublicURL = "https://usher.example.com" })
	p := s2.browser().get("/login")
	if c := p.header.Get("Set-Cookie"); !strings.HasPrefix(c, "__Host-usher_csrf=") || !strings.Contains(c, "Secure") {
		t.Errorf("https public URL, loopback request: %s", c)
	}
}

func TestStaticAssets(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	login := b.get("/login").body
	css := regexp.MustCompile(`href="(/static/usher\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(login)
	if css == nil {
		t.Fatal("no stylesheet link")
	}
	p := b.get(css[1])
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") || !strings.Contains(p.header.Get("Cache-Control"), "immutable") {
		t.Fatalf("css: %d %v", p.status, p.header)
	}
	if p := b.get("/static/icon.svg"); p.status != http.StatusOK || p.header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("icon: %d %s", p.status, p.header.Get("Content-Type"))
	}
	if p := b.get("/static/nothing.js"); p.status != http.StatusNotFound {
		t.Fatalf("unknown asset: %d", p.status)
	}
}

// TestPagesAreAccessibleAndScriptFree checks every page's markup: a
// language, a viewport, one h1, a label for every visible input, the right
// autocomplete hints, and no script or inline style anywhere.
func TestPagesAreAccessibleAndScriptFree(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	_, link := s.invite("dave@example.com")
	var all []*page
	all = append(all, b.get(link), b.get(link+"/decline"), b.get("/login"), b.get("/invitations/x"))
	b.get(link)
	all = append(all, b.post(link+"/accept", url.Values{"name": {"Dave"}, "password": {"short"}, "confirm": {"short"}}))
	all = append(all, b.post(link+"/accept", url.Values{"name": {"Dave"}, "password": {goodPassword}, "confirm": {goodPassword}}))
	b.signIn("dave@example.com", goodPassword, "/account")
	all = append(all, b.follow(), b.get("/account/password"))
	all = append(all, b.post("/account/password", url.Values{"current": {"nope"}, "password": {"x"}, "confirm": {"x"}}))

	inputs := regexp.MustCompile(`<input [^>]*>`)
	for _, p := range all {
		body := p.body
		for _, must := range []string{`<html lang="en">`, `name="viewport" content="width=device-width, initial-scale=1"`, `<main id="main"`, `class="skip" href="#main"`} {
			if !strings.Contains(body, must) {
				t.Errorf("%s: lacks %s", p.url, must)
			}
		}
		if n := strings.Count(body, "<h1"); n != 1 {
			t.Errorf("%s: %d h1", p.url, n)
		}
		for _, bad := range []string{"<script", "style=", "onclick", "javascript:"} {
			if strings.Contains(strings.ToLower(body), bad) {
				t.Errorf("%s: contains %s", p.url, bad)
			}
		}
		if n := strings.Count(body, " autofocus"); n > 1 {
			t.Errorf("%s: %d autofocus", p.url, n)
		}
		for _, in := range inputs.FindAllString(body, -1) {
			if strings.Contains(in, `type="hidden"`) || strings.Contains(in, " hidden>") || strings.Contains(in, " hidden ") {
				continue
			}
			m := regexp.MustCompile(`id="([^"]+)"`).FindStringSubmatch(in)
			if m == nil {
				t.Errorf("%s: input without id: %s", p.url, in)
				continue
			}
			if !strings.Contains(body, `<label for="`+m[1]+`">`) {
				t.Errorf("%s: no label for %s", p.url, m[1])
			}
			if !strings.Contains(in, "autocomplete=") {
				t.Errorf("%s: %s has no autocomplete hint", p.url, m[1])
			}
			if d := regexp.MustCompile(`aria-describedby="([^"]+)"`).FindStringSubmatch(in); d != nil {
				for _, ref := range strings.Fields(d[1]) {
					if !strings.Contains(body, `id="`+ref+`"`) {
						t.Errorf("%s: %s is described by missing %s", p.url, m[1], ref)
					}
				}
			}
		}
		if strings.Contains(body, `type="password"`) && !regexp.MustCompile(`autocomplete="(new|current)-password"`).MatchString(body) {
			t.Errorf("%s: password inputs without new-/current-password", p.url)
		}
	}
}

func TestStorageOutageAnswers503(t *testing.T) {
	srv := redistestStart(t)
	opt := &redis.Options{Addr: srv.Addr()}
	storage.ChatTimeouts(opt) // fail fast, as `usher serve` does
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	s := newSiteOn(t, rdb)
	_, link := s.invite("bob@example.com")
	b := s.browser()
	token := csrfOf(b.get("/login").body)
	srv.Stop()
	for _, p := range []*page{b.post("/login", url.Values{"csrf": {token}, "email": {"bob@example.com"}, "password": {goodPassword}}), b.get(link)} {
		p.has(t, http.StatusServiceUnavailable, "can't reach its database", "try again")
	}
}

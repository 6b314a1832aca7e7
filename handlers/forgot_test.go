package handlers_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

// Forgot password (issue 14, item 2), on a real Redis, across organizations.

var resetLinkRE = regexp.MustCompile(`https://usher\.test/reset\?token=([A-Za-z0-9_-]{43})\b`)

// resetLinkOf is the link in the one email a forgot-password reply carries.
func resetLinkOf(t *testing.T, r handlers.Reply, to string) string {
	t.Helper()
	if len(r.Deliveries) != 1 {
		t.Fatalf("want one email, got %+v", r.Deliveries)
	}
	d := r.Deliveries[0]
	if d.To != to || d.Kind != handlers.DeliverResetLink || d.Message.Title == "" {
		t.Fatalf("delivery = %+v", d)
	}
	if d.Message.Link == nil {
		t.Fatalf("no link in %+v", d.Message)
	}
	m := resetLinkRE.FindStringSubmatch(d.Message.Link.URL)
	if m == nil || m[0] != d.Message.Link.URL {
		t.Fatalf("not a reset link: %q", d.Message.Link.URL)
	}
	return m[1]
}

func auditIn(t *testing.T, o *handlerstest.Org, action string) []org.AuditEntry {
	t.Helper()
	snap, err := o.Store.Load(context.Background(), org.Query{AuditLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []org.AuditEntry
	for _, a := range snap.Audit {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

func TestForgotPassword(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t)
	ann := "ann-" + e.a.ID + "@example.com"
	const pw, next = "ann's long password", "ann's brand new password"
	_, tokA := inviteIn(t, e.a, bossA, ann)
	if _, err := e.a.Service.AcceptWithToken(ctx, tokA, "Ann", pw); err != nil {
		t.Fatal(err)
	}
	idB, _ := inviteIn(t, e.b, bossB, ann)
	okIn(t, e.b, ann, "accept "+idB)
	e.fleet.Taken(e.b.ID)
	who, err := e.a.Service.SignIn(ctx, ann, pw)
	if err != nil {
		t.Fatal(err)
	}

	// The address as typed (any case, spaces) finds the person.
	r, err := e.a.Service.ForgotPassword(ctx, "  "+strings.ToUpper(ann)+" ")
	if err != nil {
		t.Fatal(err)
	}
	first := resetLinkOf(t, r, ann)
	if !strings.Contains(r.Deliveries[0].Message.Text, "30 minutes") || !strings.Contains(r.Deliveries[0].Message.Footer, "ignore this email") || r.Text != "" {
		t.Fatalf("email: %+v", r)
	}
	if got, err := e.a.Service.ResetLinkEmail(ctx, first); got != ann || err != nil {
		t.Fatalf("opening the link: %q %v", got, err)
	}
	// A new request replaces the link.
	r, err = e.c.Service.ForgotPassword(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	link := resetLinkOf(t, r, ann)
	if _, err := e.a.Service.ResetLinkEmail(ctx, first); !errors.Is(err, handlers.ErrInvalidResetLink) {
		t.Fatalf("the replaced link: %v", err)
	}
	// Each request is audited in the first organization where ann is
	// active: A for A's pages; for C's, A or B, whichever id sorts first.
	a := append(auditIn(t, e.a, "user.password_reset_link"), auditIn(t, e.b, "user.password_reset_link")...)
	if len(a) != 2 || a[0].Actor != ann || a[0].Via != "web" || len(auditIn(t, e.a, "user.password_reset_link")) == 0 {
		t.Fatalf("requests audited: %+v", a)
	}

	// The password policy applies, and a refused password leaves the link working.
	for _, bad := range [][2]string{{"short", "short"}, {"password1234", "password1234"}, {next, next + "x"}, {ann + "!!", ann + "!!"}} {
		if _, err := e.a.Service.ResetPassword(ctx, link, bad[0], bad[1]); org.ErrorCode(err) != org.CodeInvalid {
			t.Fatalf("password %q/%q: %v", bad[0], bad[1], err)
		}
	}
	r, err = e.a.Service.ResetPassword(ctx, link, next, next)
	if err != nil || r.Tone != handlers.ToneSuccess {
		t.Fatalf("reset: %+v %v", r, err)
	}
	// Told in chat in A (this Service's reply) and B (B's own chat).
	if len(r.Deliveries) != 1 || r.Deliveries[0].To != ann || r.Deliveries[0].Kind != handlers.DeliverNotice ||
		!strings.Contains(r.Deliveries[0].Message.Text, "reset from the web") || !strings.Contains(r.Deliveries[0].Message.Text, "tell an admin of Acme") {
		t.Fatalf("notice in A: %+v", r.Deliveries)
	}
	if ds := e.fleet.Taken(e.b.ID); len(ds) != 1 || ds[0].Kind != handlers.DeliverNotice || !strings.Contains(ds[0].Message.Text, "tell an admin of Beta") {
		t.Fatalf("notice in B: %+v", ds)
	}
	for _, o := range []*handlerstest.Org{e.a, e.b} {
		if a := auditIn(t, o, "user.password_reset"); len(a) != 1 || a[0].Actor != ann || a[0].Via != "web" || a[0].Target != ann {
			t.Fatalf("reset audited in %s: %+v", o.ID, a)
		}
	}
	if a := auditIn(t, e.c, "user.password_reset"); len(a) != 0 {
		t.Fatalf("audited in C, where ann is no member: %+v", a)
	}
	// Every session ended; the old password is gone, the new one works everywhere.
	if _, err := e.a.Service.WebAccount(ctx, ann, who.Stamp); !errors.Is(err, handlers.ErrSignedOut) {
		t.Fatalf("the old session: %v", err)
	}
	if _, err := e.a.Service.SignIn(ctx, ann, pw); !errors.Is(err, handlers.ErrSignIn) {
		t.Fatalf("the old password: %v", err)
	}
	for _, o := range []*handlerstest.Org{e.a, e.c} {
		if w, err := o.Service.SignIn(ctx, ann, next); err != nil || w.MustChangePassword {
			t.Fatalf("the new password through %s: %+v %v", o.ID, w, err)
		}
	}
	// Used once.
	if _, err := e.a.Service.ResetPassword(ctx, link, "yet another long one", "yet another long one"); !errors.Is(err, handlers.ErrInvalidResetLink) {
		t.Fatalf("the link again: %v", err)
	}
	if _, err := e.a.Service.ResetLinkEmail(ctx, link); !errors.Is(err, handlers.ErrInvalidResetLink) {
		t.Fatalf("opening a used link: %v", err)
	}
}

// Unknown, deactivated and malformed addresses get nothing, and no link is
// stored for them; forged links open nothing.
func TestForgotPasswordSendsNothingToStrangers(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t)
	gone := "gone-" + e.a.ID + "@example.com"
	okIn(t, e.a, bossA, "invite "+gone) // invited, not a member yet
	stranger := "nobody-" + e.a.ID + "@example.com"
	for _, typed := range []string{stranger, gone, "not an email", "", strings.Repeat("a", 5000) + "@example.com"} {
		r, err := e.a.Service.ForgotPassword(ctx, typed)
		if err != nil || len(r.Deliveries) != 0 || r.Text != "" {
			t.Fatalf("forgot %q: %+v %v", typed, r, err)
		}
		if n, _ := e.fleet.RDB.Exists(ctx, "usher:{_people}:reset_of:"+strings.ToLower(typed)).Result(); n != 0 {
			t.Fatalf("a link stored for %q", typed)
		}
	}
	// Deactivated everywhere: nothing either.
	bob := "bob-" + e.a.ID + "@example.com"
	idB, _ := inviteIn(t, e.a, bossA, bob)
	okIn(t, e.a, bob, "accept "+idB)
	okIn(t, e.a, bossA, "deactivate "+bob+" --confirm")
	if r, err := e.a.Service.ForgotPassword(ctx, bob); err != nil || len(r.Deliveries) != 0 {
		t.Fatalf("forgot, deactivated: %+v %v", r, err)
	}
	for _, forged := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("A", 44), "../../etc", strings.Repeat("é", 43)} {
		if _, err := e.a.Service.ResetLinkEmail(ctx, forged); !errors.Is(err, handlers.ErrInvalidResetLink) {
			t.Fatalf("forged %q: %v", forged, err)
		}
		if _, err := e.a.Service.ResetPassword(ctx, forged, "a long good password", "a long good password"); !errors.Is(err, handlers.ErrInvalidResetLink) {
			t.Fatalf("forged %q: %v", forged, err)
		}
	}
}

// A link whose person was deactivated everywhere since it was sent sets nothing.
func TestResetLinkOfSomeoneDeactivatedSince(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t)
	cy := "cy-" + e.a.ID + "@example.com"
	id, _ := inviteIn(t, e.a, bossA, cy)
	okIn(t, e.a, cy, "accept "+id)
	r, err := e.a.Service.ForgotPassword(ctx, cy)
	if err != nil {
		t.Fatal(err)
	}
	link := resetLinkOf(t, r, cy)
	okIn(t, e.a, bossA, "deactivate "+cy+" --confirm")
	if _, err := e.a.Service.ResetPassword(ctx, link, "a long good password", "a long good password"); !errors.Is(err, handlers.ErrInvalidResetLink) {
		t.Fatalf("reset when deactivated: %v", err)
	}
	if _, err := e.a.Service.SignIn(ctx, cy, "a long good password"); !errors.Is(err, handlers.ErrSignIn) {
		t.Fatalf("sign in: %v", err)
	}
}

// A member who joined in chat and never had a password may choose one.
func TestForgotPasswordGivesAChatMemberTheirFirstPassword(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t)
	dee := "dee-" + e.a.ID + "@example.com"
	id, _ := inviteIn(t, e.a, bossA, dee)
	okIn(t, e.a, dee, "accept "+id)
	if l, _ := e.fleet.Logins.Get(ctx, dee); l != nil {
		t.Fatalf("a chat member has a credential: %+v", l)
	}
	r, err := e.a.Service.ForgotPassword(ctx, dee)
	if err != nil {
		t.Fatal(err)
	}
	link := resetLinkOf(t, r, dee)
	if _, err := e.a.Service.ResetPassword(ctx, link, "dee's first password", "dee's first password"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.Service.SignIn(ctx, dee, "dee's first password"); err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

// Two submits of one link at once: exactly one sets its password.
func TestResetLinkIsUsedOnceUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	e := newFleetEnv(t)
	eli := "eli-" + e.a.ID + "@example.com"
	id, _ := inviteIn(t, e.a, bossA, eli)
	okIn(t, e.a, eli, "accept "+id)
	r, err := e.a.Service.ForgotPassword(ctx, eli)
	if err != nil {
		t.Fatal(err)
	}
	link := resetLinkOf(t, r, eli)
	pws := []string{"the first racing password", "the second racing password"}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range pws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.a.Service.ResetPassword(ctx, link, pws[i], pws[i])
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatal("both submits set a password")
			}
			won = i
		case !errors.Is(err, handlers.ErrInvalidResetLink):
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no submit won")
	}
	if _, err := e.a.Service.SignIn(ctx, eli, pws[won]); err != nil {
		t.Fatalf("the winner's password: %v", err)
	}
	if _, err := e.a.Service.SignIn(ctx, eli, pws[1-won]); !errors.Is(err, handlers.ErrSignIn) {
		t.Fatalf("the loser's password: %v", err)
	}
	if a := auditIn(t, e.a, "user.password_reset"); len(a) != 1 {
		t.Fatalf("audit: %+v", a)
	}
}

// A Service alone keeps no per-person password: it says so, whatever the address.
func TestForgotPasswordWithoutDeployment(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.ForgotPassword(context.Background(), boss); !errors.Is(err, handlers.ErrResetUnavailable) {
		t.Fatalf("forgot: %v", err)
	}
}

// FuzzForgotPassword: whatever is typed as the address or comes as a link's
// token, nothing fails, only the member is ever emailed, and only a link
// that was issued opens anything.
func FuzzForgotPassword(f *testing.F) {
	for _, s := range []string{"", "fuzz@example.com", "FUZZ@EXAMPLE.COM ", "a@b", "x\x00@example.com", strings.Repeat("A", 43), "tag.secret", "%41", "fuzz@example.com\n"} {
		f.Add(s, s)
	}
	ctx := context.Background()
	fl := handlerstest.NewFleet(f, redistest.Shared(f).Client(f))
	o := fl.NewOrg(f, "Acme", bossA, handlers.Config{PublicURL: "https://usher.test"})
	const member = "fuzz@example.com"
	r := o.Service.Handle(ctx, handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-boss", Email: bossA}, Text: "invite " + member})
	if r.Code != "" || len(r.Deliveries) == 0 {
		f.Fatalf("invite: %s %s", r.Code, r.Text)
	}
	if r := o.Service.Handle(ctx, handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-fuzz", Email: member}, Text: "accept " + r.Deliveries[0].InvitationID}); r.Code != "" {
		f.Fatalf("accept: %s %s", r.Code, r.Text)
	}
	f.Fuzz(func(t *testing.T, typed, token string) {
		r, err := o.Service.ForgotPassword(ctx, typed)
		if err != nil {
			t.Fatalf("forgot %q: %v", typed, err)
		}
		norm, nerr := org.NormalizeEmail(typed)
		switch {
		case len(r.Deliveries) == 0:
			if nerr == nil && norm == member {
				t.Fatalf("the member (typed %q) was not emailed", typed)
			}
		case len(r.Deliveries) == 1 && r.Deliveries[0].To == member && r.Deliveries[0].Kind == handlers.DeliverResetLink:
			if nerr != nil || norm != member {
				t.Fatalf("%q emailed the member", typed)
			}
		default:
			t.Fatalf("forgot %q delivered %+v", typed, r.Deliveries)
		}
		if email, err := o.Service.ResetLinkEmail(ctx, token); !errors.Is(err, handlers.ErrInvalidResetLink) {
			t.Fatalf("token %q opens %q, %v", token, email, err)
		}
	})
}

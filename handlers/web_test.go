package handlers_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

const webPassword = "lantern orbit wheat spoon"

// webJoin invites email and accepts with the link and webPassword.
func (e *env) webJoin(email string) {
	e.t.Helper()
	_, token := e.invite(boss, email)
	if _, err := e.svc.AcceptWithToken(context.Background(), token, "Someone", webPassword); err != nil {
		e.t.Fatalf("accept %s: %v", email, err)
	}
}

// reset resets email's password and returns the temporary one.
func (e *env) reset(email string) string {
	e.t.Helper()
	r := e.ok(boss, "reset-password "+email+" --confirm")
	for _, d := range r.Deliveries {
		if d.Kind == handlers.DeliverPassword {
			if m := regexp.MustCompile(`(?m)^\S{5}-\S{5}-\S{5}-\S{5}$`).FindString(d.Message.Text); m != "" {
				return m
			}
		}
	}
	e.t.Fatalf("no temporary password in %+v", r.Deliveries)
	return ""
}

func (e *env) audited(action, target string) int {
	e.t.Helper()
	snap, err := e.store.Load(context.Background(), org.Query{AuditLimit: 200})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, a := range snap.Audit {
		if a.Action == action && a.Target == target {
			n++
		}
	}
	return n
}

func TestSignInFailsAlikeForEveryReason(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.webJoin("bob@example.com")
	e.webJoin("gone@example.com")
	e.ok(boss, "deactivate gone@example.com --confirm")
	e.join("chat@example.com", org.RoleMember) // accepted in chat: no password

	who, err := e.svc.SignIn(ctx, "bob@example.com", webPassword)
	if err != nil || who.Email != "bob@example.com" || who.MustChangePassword || who.Stamp == "" || who.Version != e.user("bob@example.com").Version {
		t.Fatalf("sign in: %+v %v", who, err)
	}
	for _, c := range []struct{ name, email, password string }{
		{"wrong password", "bob@example.com", "lantern orbit wheat spoons"},
		{"unknown email", "nobody@example.com", webPassword},
		{"deactivated", "gone@example.com", webPassword},
		{"no password", "chat@example.com", webPassword},
		{"empty password", "bob@example.com", ""},
		{"not an email", "bob", webPassword},
		{"huge password", "bob@example.com", strings.Repeat("x", 5000)},
	} {
		if _, err := e.svc.SignIn(ctx, c.email, c.password); err != handlers.ErrSignIn {
			t.Errorf("%s: %v, want ErrSignIn", c.name, err)
		}
	}
}

func TestTemporaryPasswordWorksForOneSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.webJoin("bob@example.com")
	temp := e.reset("bob@example.com")
	if _, err := e.svc.SignIn(ctx, "bob@example.com", webPassword); err != handlers.ErrSignIn {
		t.Fatalf("the old password after a reset: %v", err)
	}
	who, err := e.svc.SignIn(ctx, "bob@example.com", temp)
	if err != nil || !who.MustChangePassword {
		t.Fatalf("temporary sign-in: %+v %v", who, err)
	}
	if u := e.user("bob@example.com"); u.PasswordHash != "" || !u.MustChangePassword || u.Version != who.Version {
		t.Fatalf("after the temporary sign-in: %+v", u)
	}
	if _, err := e.svc.SignIn(ctx, "bob@example.com", temp); err != handlers.ErrSignIn {
		t.Fatalf("second sign-in with the temporary password: %v", err)
	}
	if n := e.audited("user.password_temporary_used", "bob@example.com"); n != 1 {
		t.Fatalf("%d audit entries", n)
	}
	if _, err := e.svc.WebAccount(ctx, "bob@example.com", who.Stamp); err != nil {
		t.Fatalf("the temporary session: %v", err)
	}
}

// TestTemporaryPasswordRace: many browsers sign in with the same temporary
// password at once; exactly one gets in.
func TestTemporaryPasswordRace(t *testing.T) {
	e := newEnv(t)
	e.webJoin("bob@example.com")
	temp := e.reset("bob@example.com")
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = e.svc.SignIn(context.Background(), "bob@example.com", temp) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case err != handlers.ErrSignIn && org.ErrorCode(err) != org.CodeConflict:
			t.Errorf("unexpected: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d sign-ins with one temporary password", ok)
	}
}

func TestTemporaryPasswordExpires(t *testing.T) {
	e := newEnv(t)
	e.webJoin("bob@example.com")
	temp := e.reset("bob@example.com")
	e.clock.Advance(handlers.TemporaryPasswordLifetime)
	if _, err := e.svc.SignIn(context.Background(), "bob@example.com", temp); err != handlers.ErrTemporaryPasswordExpired {
		t.Fatalf("expired temporary password: %v", err)
	}
	// Only the right password learns that it expired.
	if _, err := e.svc.SignIn(context.Background(), "bob@example.com", "a guess at the password"); err != handlers.ErrSignIn {
		t.Fatalf("wrong password after expiry: %v", err)
	}
}

func TestWebAccountEndsWithResetAndDeactivation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.webJoin("bob@example.com")
	e.ok(boss, "workspace create ml")
	who, _ := e.svc.SignIn(ctx, "bob@example.com", webPassword)
	a, err := e.svc.WebAccount(ctx, "bob@example.com", who.Stamp)
	if err != nil || a.User.Email != "bob@example.com" || a.User.PasswordHash != "" || a.Org.Name == "" || a.Open != nil {
		t.Fatalf("account: %+v %v", a, err)
	}
	// Changes that don't touch the password keep the session.
	e.ok(boss, "role bob@example.com viewer --confirm")
	if _, err := e.svc.WebAccount(ctx, "bob@example.com", who.Stamp); err != nil {
		t.Fatalf("after a role change: %v", err)
	}
	e.ok(boss, "deactivate bob@example.com --confirm")
	if _, err := e.svc.WebAccount(ctx, "bob@example.com", who.Stamp); err != handlers.ErrSignedOut {
		t.Fatalf("deactivated: %v", err)
	}
	e.ok(boss, "activate bob@example.com --confirm")
	e.reset("bob@example.com")
	if _, err := e.svc.WebAccount(ctx, "bob@example.com", who.Stamp); err != handlers.ErrSignedOut {
		t.Fatalf("after a reset: %v", err)
	}
	if _, err := e.svc.WebAccount(ctx, "nobody@example.com", who.Stamp); err != handlers.ErrSignedOut {
		t.Fatalf("no such user: %v", err)
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.webJoin("bob@example.com")
	who, _ := e.svc.SignIn(ctx, "bob@example.com", webPassword)
	sessions := "usher:{" + e.org + "}:sessions:bob@example.com"
	session := "usher:{" + e.org + "}:session:" + strings.Repeat("ab", 32)
	e.rdb.SAdd(ctx, sessions, strings.Repeat("ab", 32))
	e.rdb.HSet(ctx, session, "email", "bob@example.com")

	const next = "a brand new secret"
	for _, c := range []struct {
		name, current, password, confirm string
		want                             error
		code                             org.Code
	}{
		{"wrong current", "nope", next, next, handlers.ErrCurrentPassword, org.CodeInvalid},
		{"weak", webPassword, "password1234", "password1234", nil, org.CodeInvalid},
		{"mismatch", webPassword, next, next + "x", nil, org.CodeInvalid},
		{"unchanged", webPassword, webPassword, webPassword, nil, org.CodeInvalid},
	} {
		_, _, err := e.svc.ChangePassword(ctx, "bob@example.com", who.Stamp, c.current, c.password, c.confirm)
		if c.want != nil && err != c.want || org.ErrorCode(err) != c.code {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, _, err := e.svc.ChangePassword(ctx, "bob@example.com", "stale stamp", webPassword, next, next); err != handlers.ErrSignedOut {
		t.Fatalf("stale session: %v", err)
	}
	now, reply, err := e.svc.ChangePassword(ctx, "bob@example.com", who.Stamp, webPassword, next, next)
	if err != nil {
		t.Fatal(err)
	}
	u := e.user("bob@example.com")
	if !secret.CheckPassword(u.PasswordHash, next) || u.MustChangePassword || now.Version != u.Version || now.Stamp == who.Stamp {
		t.Fatalf("after the change: %+v %+v", u, now)
	}
	if e.rdb.Exists(ctx, sessions, session).Val() != 0 {
		t.Fatal("the change did not end the user's web sessions")
	}
	if len(reply.Deliveries) != 1 || reply.Deliveries[0].To != "bob@example.com" || reply.Deliveries[0].Kind != handlers.DeliverNotice {
		t.Fatalf("the user is not told in chat: %+v", reply.Deliveries)
	}
	if e.audited("user.password_change", "bob@example.com") != 1 {
		t.Fatal("no audit entry")
	}
	if _, err := e.svc.WebAccount(ctx, "bob@example.com", who.Stamp); err != handlers.ErrSignedOut {
		t.Fatal("the old session survives the change")
	}
	if _, err := e.svc.WebAccount(ctx, "bob@example.com", now.Stamp); err != nil {
		t.Fatal(err)
	}
}

func TestForcedChangeNeedsNoCurrentPassword(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.webJoin("bob@example.com")
	who, _ := e.svc.SignIn(ctx, "bob@example.com", e.reset("bob@example.com"))
	if _, _, err := e.svc.ChangePassword(ctx, "bob@example.com", who.Stamp, "", "a brand new secret", "a brand new secret"); err != nil {
		t.Fatal(err)
	}
	if u := e.user("bob@example.com"); u.MustChangePassword || !u.PasswordExpires.IsZero() {
		t.Fatalf("after the forced change: %+v", u)
	}
	if e.audited("user.password_change", "bob@example.com") != 1 {
		t.Fatal("no audit entry")
	}
}

func TestDeclineWithTokenIsTheChatDecline(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, token := e.invite(boss, "bob@example.com")
	r, err := e.svc.DeclineWithToken(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if inv := e.invitation(id); inv.Status != org.InvitationDeclined {
		t.Fatalf("status %s", inv.Status)
	}
	if len(r.Deliveries) != 1 || r.Deliveries[0].To != boss || !strings.Contains(r.Deliveries[0].Message.Text, "declined") {
		t.Fatalf("inviter not told: %+v", r.Deliveries)
	}
	snap, _ := e.store.Load(ctx, org.Query{AuditLimit: 1})
	if a := snap.Audit[0]; a.Action != "invitation.decline" || a.Actor != "bob@example.com" || a.Via != "web" {
		t.Fatalf("audit %+v", a)
	}
	if e.tokenWorks(token) {
		t.Fatal("the link works after declining")
	}
	for _, tok := range []string{token, "garbage"} {
		if _, err := e.svc.DeclineWithToken(ctx, tok); err != handlers.ErrInvalidLink {
			t.Errorf("decline %q: %v", tok, err)
		}
	}
}

func TestAcceptWithTokenChecksNameAndPassword(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, token := e.invite(boss, "bob@example.com")
	for _, c := range []struct{ name, password string }{
		{"Bob", "short"}, {"Bob", "qwertyuiop123"}, {strings.Repeat("b", 101), webPassword}, {"Bob\x00", webPassword},
	} {
		if _, err := e.svc.AcceptWithToken(ctx, token, c.name, c.password); org.ErrorCode(err) != org.CodeInvalid {
			t.Errorf("%q/%q: %v", c.name, c.password, err)
		}
	}
	if e.invitation(id).Status != org.InvitationPending {
		t.Fatal("a refused accept changed the invitation")
	}
}

func TestAcceptWithTokenAfterExpiry(t *testing.T) {
	e := newEnv(t)
	_, token := e.invite(boss, "bob@example.com")
	// Between opening the page and accepting, the invitation expires.
	_, _, err := e.svc.InvitationByToken(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(8 * 24 * time.Hour)
	_, err = e.svc.AcceptWithToken(context.Background(), token, "Bob", webPassword)
	if org.ErrorCode(err) != org.CodeNotFound {
		t.Fatalf("accept after expiry: %v", err)
	}
	var ue *org.Error
	if !errors.As(err, &ue) || !strings.Contains(ue.Message, "no longer valid") {
		t.Fatalf("message: %v", err)
	}
	if e.user("bob@example.com") != nil {
		t.Fatal("joined after expiry")
	}
}

func TestNormalizeDisplayName(t *testing.T) {
	for in, want := range map[string]string{"  Ada   Lovelace ": "Ada Lovelace", "Zoë": "Zoë", "李雷": "李雷"} {
		if got, err := handlers.NormalizeDisplayName(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "   ", "a\x07b", "\xff", strings.Repeat("x", handlers.MaxDisplayName+1)} {
		if _, err := handlers.NormalizeDisplayName(bad); org.ErrorCode(err) != org.CodeInvalid {
			t.Errorf("%q accepted", bad)
		}
	}
}

package handlers_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Issue 12, item 5: an invitation outlives the account being made another
// way (`usher admin add`), so its link or its chat Accept button reaches an
// account that already exists. Accepting must never reactivate that account,
// replace its password or change its role.

const stalePassword = "quartz meadow violin ember"

// staleInvitation invites dave as a viewer with a workspace, then makes him
// an account another way while the invitation stays pending.
func (e *env) staleInvitation() (id, token string) {
	e.t.Helper()
	e.ok(boss, "workspace create fraud-models")
	id, token = e.invite(boss, "dave@example.com", "--role", "viewer", "--workspace", "fraud-models")
	if _, err := e.svc.BootstrapAdmin(context.Background(), "dave@example.com"); err != nil {
		e.t.Fatal(err)
	}
	if inv := e.invitation(id); inv.Status != org.InvitationPending {
		e.t.Fatalf("invitation %s after admin add", inv.Status)
	}
	return id, token
}

func TestStaleInvitationLinkDoesNotReactivate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, token := e.staleInvitation()
	e.ok(boss, "deactivate dave@example.com --confirm")
	before := e.user("dave@example.com")

	_, err := e.svc.AcceptWithToken(ctx, token, "Dave", stalePassword)
	if org.ErrorCode(err) != org.CodeDeactivated {
		t.Fatalf("accepting with the old link for a deactivated account: %v, want %s", err, org.CodeDeactivated)
	}
	after := e.user("dave@example.com")
	if after.Active() || after.Role != before.Role || after.PasswordHash != before.PasswordHash || after.Version != before.Version {
		t.Fatalf("the account changed: before %+v\nafter %+v", before, after)
	}
	if inv := e.invitation(id); inv.Status != org.InvitationPending {
		t.Errorf("refused, yet the invitation is %s", inv.Status)
	}
	if n := e.audited("user.join", "dave@example.com"); n != 0 {
		t.Errorf("%d user.join entries for a refused accept", n)
	}
}

func TestStaleInvitationChatAcceptDoesNotReactivate(t *testing.T) {
	e := newEnv(t)
	id, _ := e.staleInvitation()
	e.ok(boss, "deactivate dave@example.com --confirm")
	r := e.run("dave@example.com", "accept "+id)
	if r.Code != org.CodeDeactivated {
		t.Fatalf("chat accept by a deactivated account: %s %q", r.Code, r.Text)
	}
	if u := e.user("dave@example.com"); u.Active() {
		t.Fatalf("reactivated: %+v", u)
	}
}

// An active account keeps its password and its role; it gains the
// invitation's workspaces (audited with the accept), nothing else.
func TestStaleInvitationLinkKeepsAnActiveAccount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, token := e.staleInvitation()
	temporary := e.reset("dave@example.com") // dave has a password now
	before := e.user("dave@example.com")

	reply, err := e.svc.AcceptWithToken(ctx, token, "Dave", stalePassword)
	if err != nil {
		t.Fatal(err)
	}
	after := e.user("dave@example.com")
	if after.PasswordHash != before.PasswordHash || !after.MustChangePassword {
		t.Error("accepting with the link replaced the account's password")
	}
	if secret.CheckPassword(after.PasswordHash, stalePassword) || !secret.CheckPassword(after.PasswordHash, temporary) {
		t.Error("the password chosen on the accept form works")
	}
	if after.Role != org.RoleAdmin || !after.Active() {
		t.Errorf("role %s status %s, want the account's own: active admin", after.Role, after.Status)
	}
	if g, ok := after.Workspaces.Get("fraud-models"); !ok || g.Role == "" {
		t.Errorf("the invitation's workspace was not added: %s", after.Workspaces)
	}
	if inv := e.invitation(id); inv.Status != org.InvitationAccepted {
		t.Errorf("invitation %s", inv.Status)
	}
	if n := e.audited("user.join", "dave@example.com"); n != 1 {
		t.Errorf("%d user.join entries, want the accept's one", n)
	}
	if !strings.Contains(reply.Text, "already") {
		t.Errorf("the reply does not say the account already existed: %q", reply.Text)
	}
}

// In chat the same rule: an active account accepting a stale invitation for
// another role keeps its own.
func TestStaleInvitationChatAcceptKeepsTheRole(t *testing.T) {
	e := newEnv(t)
	e.join("vic@example.com", org.RoleViewer)
	e.ok(boss, "workspace create fraud-models")
	id, _ := e.invite(boss, "carl@example.com", "--role", "admin", "--workspace", "fraud-models")
	if _, err := e.svc.BootstrapAdmin(context.Background(), "carl@example.com"); err != nil {
		t.Fatal(err)
	}
	e.ok(boss, "role carl@example.com viewer --confirm")
	r := e.ok("carl@example.com", "accept "+id)
	u := e.user("carl@example.com")
	if u.Role != org.RoleViewer {
		t.Fatalf("accepting an admin invitation made a viewer %s: %q", u.Role, r.Text)
	}
	if g, ok := u.Workspaces.Get("fraud-models"); !ok || g.Role != org.WorkspaceReader {
		t.Errorf("workspace not added as a viewer's: %s", u.Workspaces)
	}
}

// A deactivation racing the accept cannot be undone by it: whichever commits
// first, dave ends deactivated with the password he had.
func TestStaleInvitationRacingADeactivation(t *testing.T) {
	for range 5 {
		e := newEnv(t)
		_, token := e.staleInvitation()
		before := e.user("dave@example.com")
		var wg sync.WaitGroup
		var deact handlers.Reply
		wg.Go(func() { _, _ = e.svc.AcceptWithToken(context.Background(), token, "Dave", stalePassword) })
		wg.Go(func() { deact = e.run(boss, "deactivate dave@example.com --confirm") })
		wg.Wait()
		if deact.Code != "" {
			t.Fatalf("deactivate: %s %s", deact.Code, deact.Text)
		}
		if u := e.user("dave@example.com"); u.Active() || u.PasswordHash != before.PasswordHash {
			t.Fatalf("after the race: %+v", u)
		}
	}
}

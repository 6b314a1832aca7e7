package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// accessEnv is an organization with workspaces ml and ops (boss manages
// both), and a member of each kind: t (member, ml:reader, ops:editor, the
// one commands are about), mgr (manager of ml), ed (editor of ml), mem
// (member, no workspaces), view (viewer, ml:reader), other (another manager
// of ml).
func accessEnv(t *testing.T) *env {
	e := newEnv(t)
	e.ok(boss, "workspace create ml")
	e.ok(boss, "workspace create ops")
	e.join("t@example.com", org.RoleMember, "--workspace", "ml:reader", "--workspace", "ops:editor")
	e.join("mgr@example.com", org.RoleMember, "--workspace", "ml:manager")
	e.join("ed@example.com", org.RoleMember, "--workspace", "ml:editor")
	e.join("mem@example.com", org.RoleMember)
	e.join("view@example.com", org.RoleViewer, "--workspace", "ml:reader")
	e.join("other@example.com", org.RoleMember, "--workspace", "ml:manager")
	return e
}

// TestAccessAuthorizationMatrix runs org.TestAccessAuthorizationMatrix's
// rules end to end: every actor against every command, each on a fresh
// organization, checking the answer and that a refusal changed nothing.
func TestAccessAuthorizationMatrix(t *testing.T) {
	const A, G, E, M, V = 1, 2, 4, 8, 16 // admin, manager of ml, editor of ml, member, viewer
	actors := []struct {
		bit   int
		email string
	}{{A, boss}, {G, "mgr@example.com"}, {E, "ed@example.com"}, {M, "mem@example.com"}, {V, "view@example.com"}}
	for _, row := range []struct {
		command string
		allowed int
	}{
		{"access t@example.com", A | G | E | M | V},
		{"access grant t@example.com ml:editor", A | G},
		{"access grant t@example.com ml:manager", A | G},
		{"access grant t@example.com ops:reader", A},
		{"access grant mem@example.com ml", A | G},
		{"access revoke t@example.com ml", A | G},
		{"access revoke t@example.com ops", A},
		{"access revoke t@example.com ml ops", A},
		{"access revoke other@example.com ml", A},
		{"access grant other@example.com ml:editor", A},
		{"workspace rename ml models", A},
		{"workspace delete ops --force --confirm", A},
	} {
		for _, a := range actors {
			t.Run(row.command+"/"+a.email, func(t *testing.T) {
				e := accessEnv(t)
				before := e.user("t@example.com").Workspaces.Encode() + "|" + e.user("other@example.com").Workspaces.Encode()
				r := e.run(a.email, row.command)
				if row.allowed&a.bit != 0 {
					if r.Code != "" {
						t.Fatalf("refused with %s: %s", r.Code, r.Text)
					}
					return
				}
				if r.Code != org.CodeForbidden {
					t.Fatalf("got %q %s, want forbidden", r.Code, r.Text)
				}
				if after := e.user("t@example.com").Workspaces.Encode() + "|" + e.user("other@example.com").Workspaces.Encode(); after != before {
					t.Fatalf("a refusal changed access: %s -> %s", before, after)
				}
			})
		}
	}
}

func auditOf(e *env, action string) []org.AuditEntry {
	e.t.Helper()
	snap, err := e.store.Load(context.Background(), org.Query{AuditLimit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []org.AuditEntry
	for _, a := range snap.Audit {
		if a.Action == action {
			out = append(out, a)
		}
	}
	return out
}

func noticeTo(t *testing.T, r handlers.Reply, to string) string {
	t.Helper()
	for _, d := range r.Deliveries {
		if d.To == to && d.Kind == handlers.DeliverNotice {
			return d.Message.Text
		}
	}
	t.Fatalf("no notice to %s in %+v", to, r.Deliveries)
	return ""
}

func TestAccessGrantAndRevoke(t *testing.T) {
	e := accessEnv(t)

	r := e.ok(boss, "access mem@example.com")
	if !strings.Contains(r.Text, "has no workspaces yet") {
		t.Fatalf("access of a member without workspaces: %q", r.Text)
	}

	// The default role is invite's: editor for a member.
	r = e.ok("mgr@example.com", "access grant mem@example.com ml")
	if got := e.user("mem@example.com").Workspaces.Encode(); got != "ml:editor" {
		t.Fatalf("after grant: %s", got)
	}
	if n := noticeTo(t, r, "mem@example.com"); !strings.Contains(n, "mgr@example.com changed your workspace access") || !strings.Contains(n, "granted ml:editor") {
		t.Fatalf("notice: %q", n)
	}
	a := auditOf(e, "user.access")
	if len(a) != 1 || a[0].Actor != "mgr@example.com" || a[0].Target != "mem@example.com" || a[0].Before != "" || a[0].After != "ml:editor" {
		t.Fatalf("audit: %+v", a)
	}

	// Granted again with the same role: nothing changes, nobody is told.
	r = e.run(boss, "access grant mem@example.com ml:editor")
	if r.Code != org.CodeConflict || len(r.Deliveries) != 0 || len(auditOf(e, "user.access")) != 1 {
		t.Fatalf("same grant: %s %q %+v", r.Code, r.Text, r.Deliveries)
	}

	r = e.ok(boss, "access grant mem@example.com ml:reader ops:manager")
	if got := e.user("mem@example.com").Workspaces.Encode(); got != "ml:reader,ops:manager" {
		t.Fatalf("after second grant: %s", got)
	}
	r = e.ok(boss, "access mem@example.com")
	if len(r.Items) != 2 || r.Items[0].Text != "ml — reader" || r.Items[1].Text != "ops — manager" {
		t.Fatalf("access list: %+v", r.Items)
	}

	r = e.ok("mgr@example.com", "access revoke mem@example.com ml")
	if got := e.user("mem@example.com").Workspaces.Encode(); got != "ops:manager" {
		t.Fatalf("after revoke: %s", got)
	}
	if n := noticeTo(t, r, "mem@example.com"); !strings.Contains(n, "revoked ml") {
		t.Fatalf("notice: %q", n)
	}
	r = e.run(boss, "access revoke mem@example.com ml")
	if r.Code != org.CodeConflict || !strings.Contains(r.Text, "has no access to ml") {
		t.Fatalf("revoking what is not there: %s %q", r.Code, r.Text)
	}

	// Viewers only read, and a workspace must exist.
	if r := e.run(boss, "access grant view@example.com ops:editor"); r.Code != org.CodeInvalid {
		t.Fatalf("viewer as editor: %s %q", r.Code, r.Text)
	}
	if r := e.run(boss, "access grant mem@example.com nope"); r.Code != org.CodeNotFound {
		t.Fatalf("no such workspace: %s %q", r.Code, r.Text)
	}
	if r := e.run(boss, "access grant nobody@example.com ml"); r.Code != org.CodeNotFound {
		t.Fatalf("no such member: %s %q", r.Code, r.Text)
	}
}

// TestConcurrentGrantsStayConsistent: admins grant one member different
// workspaces all at once; every grant lands (each loser re-reads and decides
// again on the winner's result), with one audit entry each.
func TestConcurrentGrantsStayConsistent(t *testing.T) {
	e := newEnv(t)
	const n = 6
	for i := range n {
		e.ok(boss, fmt.Sprintf("workspace create w%d", i))
	}
	e.join("mem@example.com", org.RoleMember)
	admins := make([]string, n)
	for i := range n {
		admins[i] = fmt.Sprintf("admin%d@example.com", i)
		e.join(admins[i], org.RoleAdmin)
	}
	replies := make([]handlers.Reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i] = e.run(admins[i], fmt.Sprintf("access grant mem@example.com w%d:reader", i))
		})
	}
	close(start)
	wg.Wait()
	granted := 0
	for i, r := range replies {
		switch {
		case r.Code == "":
			granted++
		case r.Code == org.CodeConflict && strings.Contains(r.Text, "try again"):
			// Lost every retry: allowed, as long as nothing of it was written.
		default:
			t.Errorf("grant %d: %s %q", i, r.Code, r.Text)
		}
	}
	t.Logf("%d of %d racing grants landed", granted, n)
	u := e.user("mem@example.com")
	if len(u.Workspaces) != granted || len(auditOf(e, "user.access")) != granted || granted == 0 {
		t.Fatalf("%d grants succeeded; the member has %s (version %d), %d audit entries", granted, u.Workspaces, u.Version, len(auditOf(e, "user.access")))
	}
	if u.Version != int64(1+granted) {
		t.Fatalf("version %d after %d grants", u.Version, granted)
	}
}

func TestWorkspaceRename(t *testing.T) {
	e := accessEnv(t)
	id, _ := e.invite(boss, "new@example.com", "--workspace", "ml:editor")

	r := e.ok(boss, "workspace rename ml models")
	for _, email := range []string{"t@example.com", "mgr@example.com", "view@example.com"} {
		if ws := e.user(email).Workspaces; ws.Encode() == "" || strings.Contains(ws.Encode(), "ml:") {
			t.Fatalf("%s after rename: %s", email, ws)
		}
	}
	if got := e.user("mgr@example.com").Workspaces.Encode(); got != "models:manager" {
		t.Fatalf("manager after rename: %s", got)
	}
	if got := e.invitation(id).Workspaces.Encode(); got != "models:editor" {
		t.Fatalf("pending invitation after rename: %s", got)
	}
	if n := noticeTo(t, r, "mgr@example.com"); !strings.Contains(n, "renamed workspace ml to models") || !strings.Contains(n, "still its manager") {
		t.Fatalf("notice: %q", n)
	}
	if a := auditOf(e, "workspace.rename"); len(a) != 1 || a[0].Before != "ml" || a[0].After != "models" {
		t.Fatalf("audit: %+v", a)
	}
	names := e.ok(boss, "workspaces").Items
	if len(names) != 2 || !strings.HasPrefix(names[0].Text, "models") || !strings.HasPrefix(names[1].Text, "ops") {
		t.Fatalf("workspaces: %+v", names)
	}
	if r := e.run(boss, "workspace rename models ops"); r.Code != org.CodeConflict {
		t.Fatalf("rename onto another: %s %q", r.Code, r.Text)
	}
	if r := e.run(boss, "workspace rename ml x"); r.Code != org.CodeNotFound {
		t.Fatalf("rename the old name: %s %q", r.Code, r.Text)
	}
	// Accepting the rewritten invitation grants the new name.
	e.ok("new@example.com", "accept "+id)
	if got := e.user("new@example.com").Workspaces.Encode(); got != "models:editor" {
		t.Fatalf("joined with %s", got)
	}
}

func TestWorkspaceDelete(t *testing.T) {
	e := accessEnv(t)
	e.ok(boss, "workspace create empty")

	// No members but boss, its creator and manager: a confirmation, then gone.
	r := e.ok(boss, "workspace delete empty")
	if len(r.Buttons) != 2 || !strings.HasSuffix(r.Buttons[0].Command, "--from 1 --confirm") {
		t.Fatalf("prompt: %q %+v", r.Text, r.Buttons)
	}
	e.ok(boss, r.Buttons[0].Command)
	if a := auditOf(e, "workspace.delete"); len(a) != 1 || a[0].Target != "empty" {
		t.Fatalf("audit: %+v", a)
	}

	// Members: refused without --force, even confirmed.
	r = e.run(boss, "workspace delete ops --confirm")
	if r.Code != org.CodeConflict || !strings.Contains(r.Text, "still has 1 member") {
		t.Fatalf("delete with members: %s %q", r.Code, r.Text)
	}
	id, _ := e.invite(boss, "new@example.com", "--workspace", "ops:reader", "--workspace", "ml")
	r = e.ok(boss, "workspace delete ops --force")
	if !strings.Contains(r.Text, "1 member and 1 open invitation") {
		t.Fatalf("prompt: %q", r.Text)
	}
	click := r.Buttons[0].Command
	if !strings.Contains(click, "--force") {
		t.Fatalf("the button drops --force: %q", click)
	}
	// Someone gets access meanwhile: the click asks again.
	e.ok(boss, "access grant mem@example.com ops")
	r = e.run(boss, click)
	if r.Code != org.CodeConflict || !strings.Contains(r.Text, "is now 4, not 3") || !r.Replace {
		t.Fatalf("stale click: %q", r.Text)
	}
	r = e.ok(boss, r.Buttons[0].Command)
	for _, email := range []string{"t@example.com", "mem@example.com", boss} {
		if _, has := e.user(email).Workspaces.Get("ops"); has {
			t.Fatalf("%s still has ops", email)
		}
	}
	if got := e.user("t@example.com").Workspaces.Encode(); got != "ml:reader" {
		t.Fatalf("t after delete: %s", got)
	}
	if got := e.invitation(id).Workspaces.Encode(); got != "ml:editor" {
		t.Fatalf("invitation after delete: %s", got)
	}
	if n := noticeTo(t, r, "t@example.com"); !strings.Contains(n, "deleted workspace ops") {
		t.Fatalf("notice: %q", n)
	}
	// One entry for each workspace, one per member who lost it (boss lost
	// empty, then boss, t and mem lost ops), and mem's grant.
	if d, a := auditOf(e, "workspace.delete"), auditOf(e, "user.access"); len(d) != 2 || len(a) != 1+3+1 {
		t.Fatalf("audit: %d deletes, %d access entries", len(d), len(a))
	}
	if r := e.run(boss, "access grant t@example.com ops"); r.Code != org.CodeNotFound {
		t.Fatalf("grant to a deleted workspace: %s %q", r.Code, r.Text)
	}
}

// TestJoinedWithoutWorkspacesIsToldHowToAsk: the welcome of someone who
// joins with no workspaces says who can give them some, and how.
func TestJoinedWithoutWorkspacesIsToldHowToAsk(t *testing.T) {
	e := newEnv(t)
	id, _ := e.invite(boss, "bare@example.com")
	r := e.ok("bare@example.com", "accept "+id)
	if !strings.Contains(r.Footer, "no workspaces yet") || !strings.Contains(r.Footer, "access grant bare@example.com WORKSPACE") {
		t.Fatalf("welcome footer: %q", r.Footer)
	}
	e.ok(boss, "workspace create ml")
	id, _ = e.invite(boss, "some@example.com", "--workspace", "ml")
	if r := e.ok("some@example.com", "accept "+id); strings.Contains(r.Footer, "no workspaces") {
		t.Fatalf("welcome footer with a workspace: %q", r.Footer)
	}
}

// TestRenameRacingGrantLeavesNoGrantToAName: a grant of ml and a rename of
// ml race. Whichever lands first, the other is decided again on its result
// (the grant moves the revision the rename pins, the rename the one the
// grant pins), so nobody ends up with access to a workspace that no longer
// exists.
func TestRenameRacingGrantLeavesNoGrantToAName(t *testing.T) {
	for i := range 10 {
		e := accessEnv(t)
		var wg sync.WaitGroup
		var grant, rename handlers.Reply
		start := make(chan struct{})
		wg.Go(func() { <-start; grant = e.run(boss, "access grant mem@example.com ml") })
		wg.Go(func() { <-start; rename = e.run(boss, "workspace rename ml models") })
		close(start)
		wg.Wait()
		if rename.Code != "" {
			t.Fatalf("round %d: rename refused: %s %q", i, rename.Code, rename.Text)
		}
		ws := e.user("mem@example.com").Workspaces.Encode()
		switch {
		case grant.Code == "" && ws == "models:editor": // granted, then renamed
		case grant.Code == org.CodeNotFound && ws == "": // renamed, then no ml to grant
		default:
			t.Fatalf("round %d: grant %s %q; the member has %q", i, grant.Code, grant.Text, ws)
		}
	}
}

// hookStore runs before once, just before the first commit that renames a
// workspace: a change landing between a command's read and its commit.
type hookStore struct {
	handlers.Store
	before func()
	once   *sync.Once
}

func (h hookStore) Commit(ctx context.Context, ch org.Change) error {
	if ch.RenameWorkspace != nil {
		h.once.Do(h.before)
	}
	return h.Store.Commit(ctx, ch)
}

// TestGrantBetweenRenameReadAndCommit: the same race, made to happen: a
// grant of ml lands after the rename read the members and before it
// commits. The rename is refused (the grant moved the revision), decides
// again and renames the new grant too.
func TestGrantBetweenRenameReadAndCommit(t *testing.T) {
	e := accessEnv(t)
	svc, err := handlers.New(handlers.Config{Store: hookStore{Store: e.store, once: &sync.Once{}, before: func() {
		e.ok(boss, "access grant mem@example.com ml")
	}}})
	if err != nil {
		t.Fatal(err)
	}
	r := svc.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-boss", Email: boss}, Text: "workspace rename ml models"})
	if r.Code != "" {
		t.Fatalf("rename: %s %q", r.Code, r.Text)
	}
	if got := e.user("mem@example.com").Workspaces.Encode(); got != "models:editor" {
		t.Fatalf("the member granted during the rename has %q", got)
	}
}

// TestAccessOfDeactivatedMember: an admin may still change a deactivated
// member's access (kept for reactivation), who is not messaged meanwhile.
func TestAccessOfDeactivatedMember(t *testing.T) {
	e := accessEnv(t)
	e.ok(boss, "deactivate mem@example.com --confirm")
	r := e.ok(boss, "access grant mem@example.com ops:reader")
	if len(r.Deliveries) != 0 {
		t.Fatalf("told a deactivated member: %+v", r.Deliveries)
	}
	if r := e.ok(boss, "access mem@example.com"); !strings.Contains(r.Text, "deactivated") || len(r.Items) != 1 {
		t.Fatalf("access: %q %+v", r.Text, r.Items)
	}
}

package handlers_test

import (
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// button returns the command of the reply's button labelled label.
func button(t *testing.T, r handlers.Reply, label string) string {
	t.Helper()
	for _, b := range r.Buttons {
		if b.Label == label {
			return b.Command
		}
	}
	t.Fatalf("no %q button in %q: %+v", label, r.Text, r.Buttons)
	return ""
}

// The "last active admin" decision counts the organization's active admins,
// not only the target and the actor (issue 12, 7a).
func TestSelfDemotionWithAnotherAdminAsksFirst(t *testing.T) {
	e := newEnv(t)
	e.join("second@example.com", org.RoleAdmin)
	if r := e.ok(boss, "members --role admin"); len(r.Items) != 2 {
		t.Fatalf("members --role admin: %d, want 2", len(r.Items))
	}

	r := e.run(boss, "role "+boss+" member")
	if r.Code != "" || !strings.Contains(r.Text, "you will lose admin rights") {
		t.Fatalf("role self member with another admin: code %q: %s; want the confirmation with its warning", r.Code, r.Text)
	}
	e.ok(boss, button(t, r, "Change role"))
	if u := e.user(boss); u.Role != org.RoleMember {
		t.Fatalf("after confirming: %s, want member", u.Role)
	}

	// second is now the last active admin: refused, with or without --confirm.
	for _, cmd := range []string{"role second@example.com member", "role second@example.com member --confirm"} {
		if r := e.run("second@example.com", cmd); r.Code != org.CodeLastAdmin {
			t.Fatalf("%s as the last admin: code %q: %s", cmd, r.Code, r.Text)
		}
	}
}

// A deactivated admin does not count as another active admin.
func TestLastActiveAdminIgnoresDeactivatedAdmins(t *testing.T) {
	e := newEnv(t)
	e.join("second@example.com", org.RoleAdmin)
	e.ok(boss, "deactivate second@example.com --confirm")
	for _, cmd := range []string{"role " + boss + " member", "role " + boss + " member --confirm"} {
		if r := e.run(boss, cmd); r.Code != org.CodeLastAdmin {
			t.Fatalf("%s: code %q: %s", cmd, r.Code, r.Text)
		}
	}
}

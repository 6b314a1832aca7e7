package handlers_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// A confirmation button carries the state it was decided on; when that moved,
// clicking it asks again instead of running a different change than the
// prompt described (issue 12, 7b).
func TestStaleConfirmationAsksAgain(t *testing.T) {
	const bob = "bob@example.com"
	t.Run("role", func(t *testing.T) {
		e := newEnv(t)
		e.join(bob, org.RoleMember)
		prompt := e.ok(boss, "role "+bob+" viewer")
		e.ok(boss, "role "+bob+" admin --confirm")

		r := e.run(boss, button(t, prompt, "Change role"))
		if u := e.user(bob); u.Role != org.RoleAdmin {
			t.Fatalf("the stale click made bob %s; want admin unchanged (reply: %s)", u.Role, r.Text)
		}
		if !strings.Contains(r.Text, bob+" is now admin, not member") || !strings.Contains(r.Text, "from admin to viewer") || !r.Replace {
			t.Fatalf("stale click answered %q (replace %v); want a fresh prompt in its place", r.Text, r.Replace)
		}
		e.ok(boss, button(t, r, "Change role"))
		if u := e.user(bob); u.Role != org.RoleViewer {
			t.Fatalf("after the fresh prompt: %s, want viewer", u.Role)
		}
	})
	t.Run("deactivate", func(t *testing.T) {
		e := newEnv(t)
		e.join(bob, org.RoleMember)
		prompt := e.ok(boss, "deactivate "+bob)
		e.ok(boss, "role "+bob+" admin --confirm")

		r := e.run(boss, button(t, prompt, "Deactivate"))
		if u := e.user(bob); !u.Active() {
			t.Fatalf("the stale click deactivated bob, now an admin (reply: %s)", r.Text)
		}
		if !strings.Contains(r.Text, bob+" is now admin, not member") {
			t.Fatalf("stale click answered %q; want a fresh prompt", r.Text)
		}
		e.ok(boss, button(t, r, "Deactivate"))
		if u := e.user(bob); u.Active() {
			t.Fatal("the fresh prompt's button did not deactivate bob")
		}
	})
	t.Run("activate", func(t *testing.T) {
		e := newEnv(t)
		e.join(bob, org.RoleMember)
		e.ok(boss, "deactivate "+bob+" --confirm")
		prompt := e.ok(boss, "activate "+bob)
		e.ok(boss, "role "+bob+" admin --confirm")

		r := e.run(boss, button(t, prompt, "Reactivate"))
		if u := e.user(bob); u.Active() {
			t.Fatalf("the stale click reactivated bob as %s (reply: %s)", u.Role, r.Text)
		}
		if !strings.Contains(r.Text, bob+" is now admin, not member") {
			t.Fatalf("stale click answered %q; want a fresh prompt", r.Text)
		}
	})
	t.Run("reset-password", func(t *testing.T) {
		e := newEnv(t)
		e.join(bob, org.RoleMember)
		prompt := e.ok(boss, "reset-password "+bob)
		e.ok(boss, "role "+bob+" admin --confirm")

		r := e.run(boss, button(t, prompt, "Reset password"))
		if len(r.Deliveries) > 0 || e.user(bob).MustChangePassword {
			t.Fatalf("the stale click reset the password (reply: %s)", r.Text)
		}
		if !strings.Contains(r.Text, bob+" is now admin, not member") {
			t.Fatalf("stale click answered %q; want a fresh prompt", r.Text)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		e := newEnv(t)
		e.invite(boss, bob)
		prompt := e.ok(boss, "revoke "+bob)
		e.ok(boss, "revoke "+bob+" --confirm")
		fresh, _ := e.invite(boss, bob, "--role viewer")

		r := e.run(boss, button(t, prompt, "Revoke"))
		if inv := e.invitation(fresh); inv.Status != org.InvitationPending {
			t.Fatalf("the stale click revoked the new invitation (reply: %s)", r.Text)
		}
		if r.Code != org.CodeConflict {
			t.Fatalf("stale click: code %q: %s", r.Code, r.Text)
		}
	})
	t.Run("revoke updated", func(t *testing.T) {
		e := newEnv(t)
		id, _ := e.invite(boss, bob)
		prompt := e.ok(boss, "revoke "+bob)
		list := e.ok(boss, "invitations")
		e.ok(boss, "invite "+bob+" --role viewer --update")

		for _, stale := range []string{button(t, prompt, "Revoke"), list.Items[0].Buttons[2].Command} {
			r := e.run(boss, stale)
			if inv := e.invitation(id); inv.Status != org.InvitationPending {
				t.Fatalf("the stale click %q revoked the updated invitation (reply: %s)", stale, r.Text)
			}
			if !strings.Contains(r.Text, "now viewer, not member") {
				t.Fatalf("stale click %q answered %q; want a fresh prompt", stale, r.Text)
			}
			e.ok(boss, "cancel")
		}
		r := e.run(boss, "revoke "+bob)
		e.ok(boss, button(t, r, "Revoke"))
		if inv := e.invitation(id); inv.Status != org.InvitationRevoked {
			t.Fatalf("after the fresh prompt: %s", inv.Status)
		}
	})
	t.Run("typed confirm", func(t *testing.T) {
		// --confirm typed by hand names no state: decided on fresh state.
		e := newEnv(t)
		e.join(bob, org.RoleMember)
		e.ok(boss, "role "+bob+" admin --confirm")
		e.ok(boss, "role "+bob+" viewer --confirm")
		if u := e.user(bob); u.Role != org.RoleViewer {
			t.Fatalf("typed --confirm: %s", u.Role)
		}
	})
	t.Run("help hides --from", func(t *testing.T) {
		e := newEnv(t)
		r := e.ok(boss, "help role")
		for _, f := range r.Fields {
			if strings.Contains(f.Label, "--from") {
				t.Fatalf("help role lists %s", f.Label)
			}
		}
		if r := e.run(boss, "role "+bob+" viewer --frm x"); strings.Contains(r.Text, "--from") {
			t.Fatalf("a typo is pointed at the hidden flag: %s", r.Text)
		}
	})
}

// A setting change decided on a value (--from, as a button would carry it)
// does not overwrite a value changed in between; the commit pins the
// settings as read.
func TestSettingChangeDecidedOnItsValue(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "settings invites-per-day 10 --from 50")
	r := e.run(boss, "settings invites-per-day 20 --from 50")
	if r.Code != org.CodeConflict || !strings.Contains(r.Text, "invites-per-day is now 10, not 50") {
		t.Fatalf("stale --from: code %q: %s", r.Code, r.Text)
	}
	if r := e.ok(boss, "settings invites-per-day"); r.Fields[0].Value != "10" {
		t.Fatalf("invites-per-day: %s", r.Fields[0].Value)
	}
	e.ok(boss, "settings invites-per-day 20") // typed without --from: decided on fresh state
	if r := e.ok(boss, "audit"); !strings.Contains(r.Items[0].Text, "10 -> 20") {
		t.Fatalf("audit: %s", r.Items[0].Text)
	}
}

// Two confirmations decided on the same state, clicked at the same moment:
// one change happens; the other finds the state moved (the commit pins the
// version its check read) and asks again rather than overwrite it.
func TestConcurrentConfirmationsDecidedOnOneState(t *testing.T) {
	e := newEnv(t)
	for round := range 10 {
		bob := fmt.Sprintf("bob%d@example.com", round)
		e.join(bob, org.RoleMember)
		clicks := []string{"role " + bob + " viewer --from member --confirm", "role " + bob + " admin --from member --confirm"}
		replies := make([]handlers.Reply, len(clicks))
		var wg sync.WaitGroup
		for i, cmd := range clicks {
			wg.Add(1)
			go func() { defer wg.Done(); replies[i] = e.run(boss, cmd) }()
		}
		wg.Wait()
		changed, asked := 0, 0
		for _, r := range replies {
			switch {
			case r.Code == "" && strings.Contains(r.Text, "(was member)"):
				changed++
			case r.Code == org.CodeConflict && strings.Contains(r.Text, "not member"):
				asked++
			default:
				t.Fatalf("round %d: unexpected answer %q (%s)", round, r.Text, r.Code)
			}
		}
		if changed != 1 || asked != 1 {
			t.Fatalf("round %d: %d changed, %d asked again; want 1 and 1", round, changed, asked)
		}
	}
}

// settings took no flags before --from; a typo still says so.
func TestSettingsHiddenFlagOnly(t *testing.T) {
	e := newEnv(t)
	if r := e.run(boss, "settings name Acme --frm x"); !strings.Contains(r.Text, "takes no flags") {
		t.Fatalf("settings --frm: %s", r.Text)
	}
}

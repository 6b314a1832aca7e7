package handlers_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// denied are the codes that mean "you may not", as opposed to "you may, but
// this particular thing failed".
var denied = map[org.Code]bool{org.CodeForbidden: true, org.CodeNotMember: true, org.CodeDeactivated: true}

// TestAuthorizationMatrix runs every command as every kind of actor against
// real Redis and checks who gets past authorization. Targets exist, so an
// allowed command does its work; expectations follow PRODUCT.md's table.
func TestAuthorizationMatrix(t *testing.T) {
	type actor struct {
		name   string
		role   org.Role // "" for an outsider
		active bool
	}
	actors := []actor{
		{"admin", org.RoleAdmin, true}, {"member", org.RoleMember, true}, {"viewer", org.RoleViewer, true},
		{"admin/deactivated", org.RoleAdmin, false}, {"member/deactivated", org.RoleMember, false}, {"viewer/deactivated", org.RoleViewer, false},
		{"outsider", "", false},
	}
	const A, M, V, O = 1, 2, 4, 8 // who may (active actors; deactivated ones may only read help)
	type row struct {
		command  string
		settings []string // "KEY VALUE" set before the command
		allowed  int
		// neutral are the actors answered as if the invitation did not
		// exist (org.NoInvitationFor): it is not theirs to manage.
		neutral int
		// private are the actors whose answer must name neither the
		// inviter nor the id of boss's invitation.
		private int
		// code is what an allowed actor may get besides success/conflict
		// (e.g. not_found for an admin naming nothing).
		code org.Code
	}
	rows := []row{
		{command: "help", allowed: A | M | V | O},
		{command: "help invite", allowed: A | M | V | O},
		{command: "invite new@example.com", allowed: A},
		{command: "invite new@example.com --role viewer", settings: []string{"anyone-can-invite on"}, allowed: A | M | V},
		{command: "invite new@example.com --role member", settings: []string{"anyone-can-invite on"}, allowed: A | M},
		{command: "invite new@example.com --role admin", settings: []string{"anyone-can-invite on"}, allowed: A},
		{command: "invite new@example.com --role viewer", settings: []string{"anyone-can-invite approval"}, allowed: A | M | V},
		{command: "invite new@example.com --role viewer --workspace ml:reader", settings: []string{"anyone-can-invite on"}, allowed: A | M | V},
		{command: "invite new@example.com --role viewer --workspace other", settings: []string{"anyone-can-invite on"}, allowed: A},
		{command: "invite new@example.com --force", allowed: A},
		{command: "invitations", allowed: A | M | V},
		{command: "invitations --mine", allowed: A | M | V},
		{command: "invitations --all", allowed: A},
		{command: "invitations", allowed: A | M | V | O, settings: []string{"invite-for-actor"}},
		{command: "link {boss-inv}", allowed: A},
		// A bulk's people not in chat (Show their links): admins get links;
		// the bulk's sender sees who they are, without links.
		{command: "invitations --unreachable {boss-bulk}", allowed: A, private: M | V | O},
		{command: "invitations --unreachable {own-bulk}", settings: []string{"anyone-can-invite on"}, allowed: A | M | V},
		{command: "link {own-inv}", settings: []string{"anyone-can-invite on"}, allowed: A},
		{command: "resend {boss-inv}", allowed: A, neutral: M | V},
		{command: "resend pending@example.com", allowed: A, neutral: M | V},
		{command: "resend nobody@example.com", allowed: A, neutral: M | V, code: org.CodeNotFound},
		{command: "resend zzzzzzzz", allowed: A, neutral: M | V, code: org.CodeNotFound},
		{command: "resend {own-inv}", settings: []string{"anyone-can-invite on"}, allowed: A | M | V},
		{command: "revoke {boss-inv} --confirm", allowed: A, neutral: M | V},
		{command: "revoke {boss-inv} --from member --confirm", allowed: A, neutral: M | V},
		{command: "revoke pending@example.com", allowed: A, neutral: M | V},
		{command: "revoke nobody@example.com --confirm", allowed: A, neutral: M | V, code: org.CodeNotFound},
		{command: "revoke {own-inv} --confirm", settings: []string{"anyone-can-invite on"}, allowed: A | M | V},
		{command: "invite pending@example.com --role viewer", settings: []string{"anyone-can-invite on"}, allowed: A | M | V, private: M | V},
		{command: "invite pending@example.com --role viewer --update", settings: []string{"anyone-can-invite on"}, allowed: A | M | V, private: M | V},
		// The invitation is for someone else: only an admin learns whose.
		{command: "accept {boss-inv}", allowed: 0, neutral: M | V | O},
		{command: "decline {boss-inv}", allowed: 0, neutral: M | V | O},
		// Members can't be invited: they hold someone else's id (neutral).
		{command: "accept {actor-inv}", settings: []string{"invite-for-actor"}, allowed: O, neutral: M | V},
		{command: "decline {actor-inv} ", settings: []string{"invite-for-actor"}, allowed: O, neutral: M | V},
		{command: "members", allowed: A | M | V},
		{command: "members --role admin --status active", allowed: A | M | V},
		{command: "role target@example.com viewer --confirm", allowed: A},
		{command: "role target@example.com viewer", allowed: A},
		{command: "deactivate target@example.com --confirm", allowed: A},
		{command: "activate sleeper@example.com --confirm", allowed: A},
		{command: "reset-password target@example.com --confirm", allowed: A},
		{command: "workspaces", allowed: A | M | V},
		{command: "workspace create fresh", allowed: A},
		{command: "workspace create fresh", settings: []string{"anyone-can-create-workspaces on"}, allowed: A | M | V},
		{command: "settings", allowed: A | M | V},
		{command: "settings invite-expiry", allowed: A | M | V},
		{command: "settings invites-per-day 10", allowed: A},
		{command: "requests", allowed: A | M | V}, // non-admins: their own
		// Only the requester withdraws; an admin denies instead (forbidden,
		// with the pointer); other members get the neutral answer.
		{command: "withdraw {request}", settings: []string{"anyone-can-invite approval"}, allowed: 0, neutral: M | V},
		{command: "withdraw {own-request}", settings: []string{"anyone-can-invite approval"}, allowed: M | V},
		{command: "approve {request}", settings: []string{"anyone-can-invite approval"}, allowed: A},
		{command: "deny {request}", settings: []string{"anyone-can-invite approval"}, allowed: A},
		{command: "audit", allowed: A},
		{command: "audit --user target@example.com --since 1d", allowed: A},
		{command: "audit --page 2 --search target", allowed: A, code: org.CodeNotFound},
		{command: "audit --export", allowed: A},
		{command: "members --export", allowed: A},
		{command: "members --page 1 --search target", allowed: A | M | V},
		{command: "invitations --page 1 --search pending", allowed: A | M | V},
		{command: "requests --page 1 --search x", allowed: A | M | V}, // non-admins: their own
	}
	for _, r := range rows {
		for _, a := range actors {
			name := fmt.Sprintf("%s/%v/%s", r.command, r.settings, a.name)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				e.ok(boss, "workspace create ml")
				e.ok(boss, "workspace create other")
				e.join("target@example.com", org.RoleMember)
				e.join("sleeper@example.com", org.RoleMember)
				e.ok(boss, "deactivate sleeper@example.com --confirm")
				me := "actor@example.com"
				if a.role != "" {
					e.join(me, a.role, "--workspace", "ml:manager")
				}
				inviteForActor := false
				for _, s := range r.settings {
					if s == "invite-for-actor" {
						inviteForActor = true
						continue
					}
					e.ok(boss, "settings "+s)
				}
				vars := map[string]string{}
				vars["boss-inv"], _ = e.invite(boss, "pending@example.com")
				vars["actor-inv"] = vars["boss-inv"] // members can't be invited: they click someone else's
				if inviteForActor && a.role == "" {
					vars["actor-inv"], _ = e.invite(boss, me)
				}
				if a.role != "" && a.role != org.RoleAdmin {
					if rr := e.run(me, "invite own@example.com --role viewer"); rr.Code == "" && len(rr.Deliveries) > 0 {
						vars["own-inv"] = rr.Deliveries[0].InvitationID
					}
				} else if a.role == org.RoleAdmin {
					vars["own-inv"], _ = e.invite(me, "own@example.com")
				}
				if r.settings != nil && r.settings[0] == "anyone-can-invite approval" {
					e.join("asker@example.com", org.RoleMember)
					rr := e.ok("asker@example.com", "invite requested@example.com")
					vars["request"] = rr.Deliveries[0].InvitationID
					vars["own-request"] = vars["request"] // admins make invitations, not requests
					if a.role != "" && a.role != org.RoleAdmin {
						if rr := e.run(me, "invite own-request@example.com --role viewer"); rr.Code == "" && len(rr.Deliveries) > 0 {
							vars["own-request"] = rr.Deliveries[0].InvitationID
						}
					}
				}
				if strings.Contains(r.command, "-bulk}") {
					vars["boss-bulk"], _ = e.settleBulk(e.ok(boss, "invite "+strings.Join(addresses("bulk", 21), " ")), 18)
					vars["own-bulk"] = vars["boss-bulk"] // an outsider has none
					if a.role != "" && strings.Contains(r.command, "{own-bulk}") {
						vars["own-bulk"], _ = e.settleBulk(e.ok(me, "invite "+strings.Join(addresses("mine", 21), " ")+" --role viewer"), 18)
					}
				}
				if a.role != "" && !a.active {
					e.ok(boss, "deactivate "+me+" --confirm")
				}
				cmd := r.command
				for k, v := range vars {
					cmd = strings.ReplaceAll(cmd, "{"+k+"}", v)
				}

				got := e.run(me, cmd)

				bit := map[string]int{"admin": A, "member": M, "viewer": V, "outsider": O}[a.name]
				if r.private&bit != 0 || r.neutral&bit != 0 {
					// The id may come back only when the actor typed it.
					leaksID := !strings.Contains(cmd, vars["boss-inv"]) && strings.Contains(got.Text, vars["boss-inv"])
					if strings.Contains(got.Text, boss) || leaksID || len(got.Buttons) > 0 {
						t.Fatalf("%s as %s tells about boss's invitation: %q %+v", cmd, a.name, got.Text, got.Buttons)
					}
				}
				if r.neutral&bit != 0 {
					if got.Code != org.CodeNotFound || !strings.HasPrefix(got.Text, "You have no pending invitation") {
						t.Fatalf("%s as %s: code %q: %s; want the neutral answer", cmd, a.name, got.Code, got.Text)
					}
					return
				}
				want := r.allowed&bit != 0
				if !a.active && a.role != "" {
					want = r.command == "help" || r.command == "help invite"
				}
				if gotAllowed := !denied[got.Code]; gotAllowed != want {
					t.Fatalf("%s as %s: allowed=%v, want %v (code %q: %s)", cmd, a.name, gotAllowed, want, got.Code, got.Text)
				}
				if want && got.Code != "" && got.Code != org.CodeConflict && got.Code != r.code {
					t.Fatalf("%s as %s: allowed but failed with %s: %s", cmd, a.name, got.Code, got.Text)
				}
			})
		}
	}
}

// TestNonAdminLearnsNothingOfOthersInvitations: a member managing an
// invitation that is not theirs gets one answer, the same whether it exists,
// is someone else's, or does not exist, and never the inviter or the id
// (issue 12, 8b).
func TestNonAdminLearnsNothingOfOthersInvitations(t *testing.T) {
	const me = "member@example.com"
	e := newEnv(t)
	e.ok(boss, "settings anyone-can-invite on")
	e.join(me, org.RoleMember)
	id, _ := e.invite(boss, "theirs@example.com")
	gone, _ := e.invite(boss, "gone@example.com")
	e.ok(boss, "revoke gone@example.com --confirm")

	for _, verb := range []string{"resend %s", "revoke %s", "revoke %s --confirm"} {
		answer := func(ref string) handlers.Reply {
			r := e.run(me, fmt.Sprintf(verb, ref))
			r.Text = strings.ReplaceAll(r.Text, ref, "REF")
			return r
		}
		// Each reference is answered like one of its kind that names nothing.
		for none, refs := range map[string][]string{
			"nobody@example.com": {"theirs@example.com", "gone@example.com", "THEIRS@example.com"},
			"zzzzzzzz":           {id, gone, strings.ToUpper(id)},
		} {
			want := answer(none)
			if want.Code != org.CodeNotFound {
				t.Fatalf("%s: code %q: %s", fmt.Sprintf(verb, none), want.Code, want.Text)
			}
			for _, ref := range refs {
				got := answer(ref)
				if strings.EqualFold(ref, id) || ref == "THEIRS@example.com" {
					got.Text = strings.ReplaceAll(got.Text, strings.ToLower(ref), "REF")
				}
				if got.Code != want.Code || got.Text != want.Text {
					t.Errorf("%s: %q (%s), want the answer for nothing: %q (%s)", fmt.Sprintf(verb, ref), got.Text, got.Code, want.Text, want.Code)
				}
				if strings.Contains(got.Text, boss) || strings.Contains(got.Text, id) || len(got.Buttons) > 0 {
					t.Errorf("%s tells %q %+v", fmt.Sprintf(verb, ref), got.Text, got.Buttons)
				}
			}
		}
	}

	// Inviting someone another person already invited: the member learns
	// that nothing was sent, not who invited them, when, nor the id.
	for _, cmd := range []string{"invite theirs@example.com", "invite theirs@example.com --role viewer --update"} {
		r := e.run(me, cmd)
		if len(r.Deliveries) > 0 || r.Code != org.CodeConflict {
			t.Fatalf("%s: code %q, %d deliveries: %s", cmd, r.Code, len(r.Deliveries), r.Text)
		}
		if strings.Contains(r.Text, boss) || strings.Contains(r.Text, id) || strings.Contains(r.Text, "ago") || strings.Contains(r.Text, "member") {
			t.Errorf("%s tells %q", cmd, r.Text)
		}
		for _, b := range r.Buttons {
			t.Errorf("%s offers %s (%s)", cmd, b.Label, b.Command)
		}
	}
	if inv := e.invitation(id); inv.Role != org.RoleMember {
		t.Errorf("the member's --update changed the admin's invitation to %s", inv.Role)
	}
	// The inviter still hears everything.
	if r := e.run(boss, "invite theirs@example.com"); !strings.Contains(r.Text, "sent by "+boss) {
		t.Errorf("the admin's answer lost its detail: %s", r.Text)
	}
}

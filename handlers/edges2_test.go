package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// hasButton reports whether m (or one of its items) has a button running cmd.
func hasButton(m handlers.Message, cmd string) bool {
	for _, b := range m.Buttons {
		if b.Command == cmd {
			return true
		}
	}
	for _, it := range m.Items {
		for _, b := range it.Buttons {
			if b.Command == cmd {
				return true
			}
		}
	}
	return false
}

// An invitee who types a command before accepting sees their invitation
// with Accept and Decline, not only "You are not a member" (issue 14, 5.5).
func TestNotMemberSeesOpenInvitation(t *testing.T) {
	e := newEnv(t)
	id, _ := e.invite(boss, "bob@example.com", "--role", "viewer")
	r := e.run("bob@example.com", "members")
	if r.Code != org.CodeNotMember {
		t.Fatalf("code %q, want %q: %s", r.Code, org.CodeNotMember, r.Text)
	}
	if !strings.Contains(r.Text, "not a member") || !hasButton(r.Message, "accept "+id) || !hasButton(r.Message, "decline "+id) {
		t.Fatalf("want the refusal with the invitation's Accept/Decline, got %+v", r.Message)
	}
	// Nobody invited: the plain refusal, nothing else.
	r = e.run("carol@example.com", "members")
	if r.Code != org.CodeNotMember || len(r.Items) > 0 || r.HasButtons() {
		t.Fatalf("carol: %+v", r)
	}
}

// Updating a pending invitation keeps its workspaces unless new ones are
// named, says what changes before the click, tells the invitee, and audits
// the change before -> after (issue 14, 5.1).
func TestUpdateInvitationKeepsWorkspacesAndTellsInvitee(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "workspace create fraud-models")
	e.ok(boss, "workspace create risk")
	bob := "bob@example.com"
	id, token := e.invite(boss, bob, "--workspace", "fraud-models", "--workspace", "risk")

	r := e.run(boss, "invite "+bob+" --role viewer")
	want := "role member → viewer; workspaces fraud-models:editor, risk:editor → fraud-models:reader, risk:reader"
	if !strings.Contains(r.Text, want) {
		t.Fatalf("prompt %q does not say %q", r.Text, want)
	}
	var update *handlers.Button
	for i, b := range r.Buttons {
		if b.Label == "Update invitation" {
			update = &r.Buttons[i]
		}
	}
	if update == nil || update.Confirm == nil || !strings.Contains(update.Confirm.Text, want) {
		t.Fatalf("Update button %+v", update)
	}
	r = e.ok(boss, update.Command)
	inv := e.invitation(id)
	if inv.Role != org.RoleViewer || inv.Workspaces.Encode() != "fraud-models:reader,risk:reader" {
		t.Fatalf("updated to %s %s, want viewer with both workspaces kept", inv.Role, inv.Workspaces.Encode())
	}
	var told *handlers.Delivery
	for i, d := range r.Deliveries {
		if d.To == bob && d.Kind == handlers.DeliverInvitation {
			told = &r.Deliveries[i]
		}
	}
	if told == nil || !strings.HasPrefix(told.Message.Text, "Updated:") || !hasButton(told.Message, "accept "+id) {
		t.Fatalf("bob was not sent the updated invitation: %+v", r.Deliveries)
	}
	if told.Message.Fields[0].Value != want {
		t.Fatalf("the updated invitation says %q changed", told.Message.Fields[0].Value)
	}
	a := auditOf(e, "invitation.update")
	if len(a) != 1 || a[0].Before != "pending member ws=fraud-models:editor,risk:editor" || a[0].After != "pending viewer ws=fraud-models:reader,risk:reader" {
		t.Fatalf("audit %+v", a)
	}

	// Named workspaces replace them.
	e.ok(boss, "invite "+bob+" --role viewer --workspace risk --update")
	if inv := e.invitation(id); inv.Workspaces.Encode() != "risk:reader" {
		t.Fatalf("workspaces %s, want risk:reader", inv.Workspaces.Encode())
	}
	// The link bob had still works, and the first message's Accept takes the
	// terms bob was sent last.
	if got, _, err := e.svc.InvitationByToken(context.Background(), token); err != nil || got.Role != org.RoleViewer {
		t.Fatalf("bob's link after the update: %v, %+v", err, got)
	}
	r = e.ok(bob, "accept "+id)
	if u := e.user(bob); u.Role != org.RoleViewer || u.Workspaces.Encode() != "risk:reader" {
		t.Fatalf("bob joined as %s %s", u.Role, u.Workspaces.Encode())
	}
}

package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
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

// TestRequestLifecycle: an invitation request is seen and can be withdrawn by
// its requester, offered to an admin inviting the address with Approve and
// Deny, listed in the admins' digest, and expires like an invitation, the
// requester told (issue 14, 5.3).
func TestRequestLifecycle(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	e.ok(boss, "settings max-reminders 0")
	e.join("mia@example.com", org.RoleMember)
	e.ok(boss, "settings anyone-can-invite approval")
	e.sweep() // plans the digest: next Monday 09:00
	e.at(time.Hour)
	request := func(email string) string {
		r := e.ok("mia@example.com", "invite "+email+" --role viewer")
		return r.Deliveries[0].InvitationID
	}
	r1, r2 := request("req1@example.com"), request("req2@example.com")

	mine := e.ok("mia@example.com", "requests")
	if len(mine.Items) != 2 || !hasButton(mine.Message, "withdraw "+r1) || !hasButton(mine.Message, "withdraw "+r2) {
		t.Fatalf("mia's requests: %+v", mine.Message)
	}
	e.ok("mia@example.com", "withdraw "+r2)
	if inv := e.invitation(r2); inv.Status != org.InvitationRevoked {
		t.Fatalf("withdrawn request is %s", inv.Status)
	}
	if a := auditOf(e, "invitation.withdraw"); len(a) != 1 || a[0].Actor != "mia@example.com" || a[0].Before != "requested" {
		t.Fatalf("withdraw audit %+v", a)
	}
	if r := e.ok("mia@example.com", "requests"); len(r.Items) != 1 {
		t.Fatalf("after withdrawing: %+v", r.Message)
	}

	// An admin inviting the address is offered the waiting request.
	r := e.run(boss, "invite req1@example.com")
	if !hasButton(r.Message, "approve "+r1) || !hasButton(r.Message, "deny "+r1) {
		t.Fatalf("admin inviting a requested address: %+v", r.Message)
	}

	// The digest lists it, with Approve.
	e.at(7 * day)
	found := false
	for _, d := range e.sweep() {
		if d.To == boss && strings.HasPrefix(d.Message.Title, "Pending invitations") && hasButton(d.Message, "approve "+r1) {
			found = true
		}
	}
	if !found {
		t.Fatal("the digest does not list the waiting request")
	}

	// It expires invite-expiry after it was made; mia is told.
	e.at(7*day + 2*time.Hour)
	told := false
	for _, d := range e.sweep() {
		if d.To == "mia@example.com" && strings.Contains(d.Message.Text, "request to invite req1@example.com expired") {
			told = true
		}
	}
	if inv := e.invitation(r1); inv.Status != org.InvitationExpired || !told {
		t.Fatalf("after its expiry the request is %s (mia told: %v)", inv.Status, told)
	}
	if a := auditOf(e, "invitation.expire"); len(a) != 1 || a[0].Before != "requested" {
		t.Fatalf("expiry audit %+v", a)
	}
	if r := e.run(boss, "approve "+r1); r.Code != org.CodeConflict {
		t.Fatalf("approving an expired request: %s %s", r.Code, r.Text)
	}
}

// TestLearnName: until an admin names the organization, it takes its chat
// workspace's name (invitations read "to join Acme Inc"); an admin's
// settings name wins, before and after (issue 14, 5.6).
func TestLearnName(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if named, err := e.svc.LearnName(ctx, "Acme Inc", "slack"); err != nil || !named {
		t.Fatalf("LearnName: %v, %v", named, err)
	}
	r := e.ok(boss, "invite bob@example.com")
	if !strings.Contains(r.Deliveries[0].Message.Text, "invited you to join Acme Inc as member") {
		t.Fatalf("invitation reads %q", r.Deliveries[0].Message.Text)
	}
	if a := auditOf(e, "settings.change"); len(a) != 1 || a[0].Actor != "usher" || a[0].After != "Acme Inc" {
		t.Fatalf("audit %+v", a)
	}
	e.ok(boss, "settings name Acme Research")
	if named, err := e.svc.LearnName(ctx, "Acme Inc", "slack"); err != nil || named {
		t.Fatalf("LearnName over an admin's name: %v, %v", named, err)
	}
	if set, err := e.svc.Organization(ctx); err != nil || set.Name != "Acme Research" {
		t.Fatalf("name %q, %v", set.Name, err)
	}
}

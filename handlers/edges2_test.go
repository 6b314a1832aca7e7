package handlers_test

import (
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

package handlers_test

import (
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

// Issue 12, item 8b, on accept and decline: whoever is not an admin and
// holds the id of someone else's invitation learns no more than with an id
// that does not exist. An admin, who may list every invitation, is told
// whose it is.
func TestRespondToOthersInvitationIsNeutral(t *testing.T) {
	e := newEnv(t)
	e.join("carol@example.com", org.RoleMember)
	e.join("ann@example.com", org.RoleAdmin)
	id, _ := e.invite(boss, "bob@example.com")

	for _, verb := range []string{"accept", "decline"} {
		theirs := e.run("carol@example.com", verb+" "+id)
		missing := e.run("carol@example.com", verb+" zzzzzzzz")
		theirsText := strings.ReplaceAll(theirs.Text, id, "ID")
		missingText := strings.ReplaceAll(missing.Text, "zzzzzzzz", "ID")
		if theirs.Code != missing.Code || theirsText != missingText {
			t.Errorf("%s by a member: someone else's invitation answers %s %q, a missing one %s %q; want the same answer",
				verb, theirs.Code, theirs.Text, missing.Code, missing.Text)
		}
		if strings.Contains(theirs.Text, "bob@") {
			t.Errorf("%s by a member names the invitee: %q", verb, theirs.Text)
		}
		if r := e.run("ann@example.com", verb+" "+id); r.Code != org.CodeForbidden || !strings.Contains(r.Text, "bob@example.com") {
			t.Errorf("%s by an admin: %s %q, want forbidden naming bob@example.com", verb, r.Code, r.Text)
		}
	}
	if inv := e.invitation(id); inv.Status != org.InvitationPending {
		t.Errorf("the invitation is %s after refused answers", inv.Status)
	}
}

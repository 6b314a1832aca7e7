package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-chat/usher/storage/redistest"
)

// TestResendUnreachableKeepsLink: a member's resend to someone no platform
// reaches is refused before anything changes (the link they have keeps
// working: no invitation.resend in the audit); once they are back in chat
// the resend goes through. The shell's :offline is its platform's "not in
// chat", answered by the same router a delivery uses (issue 14, 5.2).
func TestResendUnreachableKeepsLink(t *testing.T) {
	srv := redistest.Shared(t)
	vars := map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": freshOrgID("resend"), "USHER_ADMINS": "alice@example.com"}
	lines := []string{
		"/usher settings anyone-can-invite on",
		"/usher invite carol@example.com",
		":as carol@example.com",
		":click Accept",
		"/usher invite dave@example.com",
		":offline dave@example.com",
		"/usher resend dave@example.com",
		":as alice@example.com",
		"/usher audit",
		":as carol@example.com",
		":online dave@example.com",
		"/usher resend dave@example.com",
	}
	script := filepath.Join(t.TempDir(), "resend.txt")
	if err := os.WriteFile(script, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := runShellScript(t, script, vars)
	refused := "dave@example.com isn't in chat, so usher can't deliver the invitation again; nothing was changed, and the link they were sent still works."
	i := strings.Index(got, refused)
	if i < 0 {
		t.Fatalf("the offline resend is not refused with %q:\n%s", refused, got)
	}
	audit := got[i:strings.Index(got, ":online")]
	if strings.Contains(audit, "invitation.resend") {
		t.Errorf("the refused resend rotated the link:\n%s", audit)
	}
	if !strings.Contains(got[i:], "Sending the invitation to dave@example.com again") {
		t.Errorf("the resend once dave is online did not go through:\n%s", got)
	}
}

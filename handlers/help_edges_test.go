package handlers_test

import (
	"strings"
	"testing"
)

// Verbs people reach for point to deactivate and revoke.
func TestRemoveUninviteCancelPointToDeactivateAndRevoke(t *testing.T) {
	e := newEnv(t)
	for _, cmd := range []string{"remove a@example.com", "uninvite a@example.com", "cancel a@example.com"} {
		r := e.run(boss, cmd)
		all := r.Text + " " + r.Footer
		if !strings.Contains(r.Text, "no "+strings.Fields(cmd)[0]+" ") && !strings.HasPrefix(cmd, "cancel") {
			t.Errorf("%s: does not name what was typed: %s", cmd, r.Text)
		}
		if strings.Contains(all, "nknown command") || !strings.Contains(all, "deactivate EMAIL") || !strings.Contains(all, "revoke EMAIL|ID") {
			t.Errorf("%s: %s / %s", cmd, r.Text, r.Footer)
		}
	}
	// A plain cancel still cancels.
	if r := e.ok(boss, "cancel"); !strings.Contains(r.Text, "Cancelled") {
		t.Errorf("cancel: %s", r.Text)
	}
}

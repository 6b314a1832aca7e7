package handlers_test

import (
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers"
)

// A batch with refusals says so in its header and tone; all refused is an error.
func TestInviteBatchHeaderSaysWhatHappened(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "settings allowed-domains example.com")
	r := e.ok(boss, "invite a@example.com b@example.com c@other.com d@other.com")
	if r.Text != "2 invited, 2 not invited." || r.Tone != handlers.ToneWarning {
		t.Errorf("mixed batch: %q tone %s", r.Text, r.Tone)
	}
	r = e.run(boss, "invite e@other.com f@other.com")
	if r.Tone != handlers.ToneError || !strings.Contains(r.Text, "No invitation was sent") {
		t.Errorf("all refused: %q tone %s", r.Text, r.Tone)
	}
	r = e.ok(boss, "invite g@example.com h@example.com")
	if r.Text != "Created 2 invitations." || r.Tone != handlers.ToneSuccess {
		t.Errorf("all sent: %q tone %s", r.Text, r.Tone)
	}
}

// A mistyped workspace is answered with the nearest existing one, not an
// offer to create the typo.
func TestInviteSuggestsTheNearestWorkspace(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "workspace create fraud-models")
	e.ok(boss, "workspace create billing")
	r := e.run(boss, "invite a@example.com --workspace fraud-modles")
	if !strings.Contains(r.Text, `Did you mean fraud-models?`) || strings.Contains(r.Text, "workspace create fraud-modles") {
		t.Errorf("typo of a workspace: %s", r.Text)
	}
	// Nothing near: the list, and how to create it.
	r = e.run(boss, "invite a@example.com --workspace marketing")
	if strings.Contains(r.Text, "Did you mean") || !strings.Contains(r.Text, "workspace create marketing") {
		t.Errorf("a new workspace name: %s", r.Text)
	}
}

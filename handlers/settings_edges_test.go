package handlers_test

import (
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Every on/off setting reads the same words (issue 14, 5.1): yes was
// accepted by anyone-can-create-workspaces and refused by anyone-can-invite.
func TestBooleanSettingsShareOneParser(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ key, typed, want string }{
		{"anyone-can-invite", "yes", "on"},
		{"anyone-can-invite", "Disabled", "off"},
		{"anyone-can-invite", "TRUE", "on"},
		{"anyone-can-invite", "0", "off"},
		{"anyone-can-invite", "approval", "approval"},
		{"anyone-can-create-workspaces", "enabled", "on"},
		{"anyone-can-create-workspaces", "1", "on"},
		{"anyone-can-create-workspaces", "No", "off"},
	} {
		e.run(boss, "settings "+c.key+" "+c.typed)
		if r := e.ok(boss, "settings "+c.key); len(r.Fields) != 1 || r.Fields[0].Value != c.want {
			t.Errorf("settings %s %s: now %+v, want %s", c.key, c.typed, r.Fields, c.want)
		}
	}
	r := e.run(boss, "settings anyone-can-create-workspaces maybe")
	if r.Code != org.CodeInvalid || !strings.Contains(r.Text, "on/off, yes/no, true/false, enabled/disabled, 1/0") {
		t.Errorf("a word that is not on or off: code %q: %s", r.Code, r.Text)
	}
}

// help for the first word of two-word commands lists them.
func TestHelpForACommandFamily(t *testing.T) {
	e := newEnv(t)
	r := e.run(boss, "help workspace")
	if r.Code != "" || !strings.Contains(r.Text+itemsText(r), "workspace create NAME") {
		t.Errorf("help workspace: code %q: %s %+v", r.Code, r.Text, r.Items)
	}
}

// settings name takes the rest of the line, without quotes.
func TestSettingsNameTakesTheRestOfTheLine(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "settings name Acme Corp")
	if r := e.ok(boss, "settings name"); r.Fields[0].Value != "Acme Corp" {
		t.Errorf("name is %q, want Acme Corp", r.Fields[0].Value)
	}
	// A setting with a single word still refuses extra words.
	if r := e.run(boss, "settings invites-per-day 5 6"); r.Code != org.CodeInvalid {
		t.Errorf("invites-per-day 5 6: code %q: %s", r.Code, r.Text)
	}
}

func itemsText(r handlers.Reply) string {
	var b strings.Builder
	for _, it := range r.Items {
		b.WriteString(it.Text + "\n")
	}
	return b.String()
}

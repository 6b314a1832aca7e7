package handlers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// TestFreeTextRefusesControlCharacters: a note or a setting's value with a
// control or bidirectional control character is refused, naming it, and
// nothing is stored; a display name from a chat profile is cleaned instead.
func TestFreeTextRefusesControlCharacters(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, `settings name "Acme Corp"`)
	for _, tt := range []struct{ text, says string }{
		{"invite bob@example.com --note \"Welcome\x00\"", "The note contains a control character (U+0000 NULL)"},
		{"invite bob@example.com --note \"Click here \u202egnp.exe\"", "The note contains a bidirectional control character (U+202E RIGHT-TO-LEFT OVERRIDE)"},
		{"settings name \"Acme\u202e Corp\"", "The value of name contains a bidirectional control character (U+202E RIGHT-TO-LEFT OVERRIDE)"},
		{"settings name \"Acme\x1b[31m\"", "U+001B ESCAPE"},
		{"settings allowed-domains \"example.com\u2066\"", "U+2066 LEFT-TO-RIGHT ISOLATE"},
	} {
		r := e.run(boss, tt.text)
		if r.Code != org.CodeInvalid || !strings.Contains(r.Text, tt.says) {
			t.Errorf("%q: %s %q, want invalid saying %q", tt.text, r.Code, r.Text, tt.says)
		}
		if len(r.Deliveries) != 0 {
			t.Errorf("%q: delivered %+v", tt.text, r.Deliveries)
		}
	}
	if r := e.ok(boss, "invitations"); strings.Contains(r.Text+r.Title, "bob@example.com") || len(r.Items) != 0 {
		t.Errorf("a refused invitation is pending: %+v", r.Message)
	}
	if r := e.ok(boss, "settings name"); len(r.Fields) != 1 || r.Fields[0].Value != "Acme Corp" {
		t.Errorf("the name changed: %+v", r.Fields)
	}

	// A note's line breaks are kept, normalized; its tabs become spaces.
	id, _ := e.invite(boss, "bob@example.com", "--note", "'Hi Bob,\r\n\r\n\r\nwelcome\taboard.'")
	if inv := e.invitation(id); inv.Note != "Hi Bob,\n\nwelcome aboard." {
		t.Errorf("note stored as %q", inv.Note)
	}

	// The name a chat profile gives is not refused (the invitee cannot fix it
	// here) but stripped of the same characters.
	r := e.svc.Handle(context.Background(), handlers.Request{
		Actor: org.Identity{Platform: "test", UserID: "U-bob", Email: "bob@example.com", Name: "Bob\u202e nimda\x00"},
		Text:  "accept " + id,
	})
	if r.Code != "" {
		t.Fatalf("accept: %s %q", r.Code, r.Text)
	}
	if u := e.user("bob@example.com"); u == nil || u.Name != "Bob nimda" {
		t.Errorf("display name stored as %q, want %q", u.Name, "Bob nimda")
	}
}

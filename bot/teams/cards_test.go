package teams_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-chat/usher/bot/teams"
	"github.com/usher-chat/usher/handlers"
)

var update = flag.Bool("update", false, "rewrite golden files")

// hostileNote is a note written to disguise a link and fake formatting.
const hostileNote = "[Accept your invitation here](https://evil.example/phish)\n**bold** _x_ __y__ *z*\n- item\n1. item\n<at>Bob</at> <b>bold</b> &amp; \\*not\\* `code` # heading > quote\n{{DATE(2017-02-14T06:00:00Z, SHORT)}}"

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bot/teams -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (go test ./bot/teams -update, then review the diff):\n%s", path, got)
	}
}

// TestCardsGolden renders every kind of message usher sends as an Adaptive
// Card and compares it with a reviewed golden file.
func TestCardsGolden(t *testing.T) {
	decline := &handlers.Confirm{Title: "Decline the invitation?", Text: "You won't join Acme. admin@example.com will be told.", Yes: "Decline", No: "Go back"}
	cases := map[string]handlers.Message{
		"invitation": {
			Title: "You're invited to Acme", Tone: handlers.ToneInfo,
			Text:   "admin@example.com invited you as member.\nOpen the link or answer here: https://usher.example.com/invitations/TOKEN",
			Fields: []handlers.Field{{Label: "Role", Value: "member"}, {Label: "Workspaces", Value: "fraud-models (editor)"}, {Label: "Expires", Value: "2026-11-30"}},
			Buttons: []handlers.Button{
				{Label: "Accept", Command: "accept inv123", Style: handlers.StylePrimary},
				{Label: "Decline", Command: "decline inv123", Style: handlers.StyleDanger, Confirm: decline},
			},
		},
		// Everything people type, as a hostile inviter would type it: none of
		// it may become a link, emphasis, a list or a mention.
		"hostile": {
			Title: "You're invited to **Acme** [Corp](https://evil.example/org)", Tone: handlers.ToneInfo,
			Text: "_Mallory_ <at>Bob</at> invited you as member.\nOpen the link or answer here: https://usher.example.com/invitations/TOKEN",
			Fields: []handlers.Field{
				{Label: "Workspaces", Value: "fraud-models (editor)"},
				{Label: "Note", Value: hostileNote},
			},
			Items:   []handlers.Item{{Text: "- item <b>bold</b>", Fields: []handlers.Field{{Label: "Sent by", Value: "**Eve** (admin)"}}}},
			Buttons: []handlers.Button{{Label: "Accept", Command: "accept inv123", Style: handlers.StylePrimary}},
			Footer:  "1. item [here](https://evil.example/footer)",
		},
		"success": {Tone: handlers.ToneSuccess, Text: "Welcome to Acme: you're a member now."},
		"error":   {Tone: handlers.ToneError, Text: "Only the invitee can accept this invitation.", Footer: "Ask admin@example.com if this is a mistake."},
		"warning": {Title: "Can't reach bob@example.com", Tone: handlers.ToneWarning, Text: "Forward them this link:\nhttps://usher.example.com/invitations/TOKEN"},
		"empty":   {},
		"pending": {
			Title: "Pending invitations (2)",
			Items: []handlers.Item{
				{Text: "bob@example.com as member", Fields: []handlers.Field{{Label: "Sent", Value: "2 days ago by admin@example.com"}},
					Buttons: []handlers.Button{{Label: "Resend", Command: "resend inv1"}, {Label: "Revoke", Command: "revoke inv1", Style: handlers.StyleDanger,
						Confirm: &handlers.Confirm{Title: "Revoke invitation?", Text: "The invitation for bob@example.com stops working at once.", Yes: "Revoke", No: "Keep it"}}}},
				{Text: "carol@example.com as viewer"},
			},
			Footer: "Invitations expire after 7 days.",
		},
		// A page of a list that pages (handlers/paging.go): Previous and
		// Next re-run the list's command as the clicker.
		"paged": {
			Title: "Invitations",
			Text:  "Page 2 of 3 · 40 pending invitations in Acme matching \"acme\":",
			Items: []handlers.Item{
				{Text: "bob@acme.com as member — sent by admin@example.com 2d ago, expires in 5d", Fields: []handlers.Field{{Label: "ID", Value: "inv1"}},
					Buttons: []handlers.Button{{Label: "Resend", Command: "resend inv1"}}},
				{Text: "carol@acme.com as viewer — sent by admin@example.com 3d ago, expires in 4d", Fields: []handlers.Field{{Label: "ID", Value: "inv2"}},
					Buttons: []handlers.Button{{Label: "Resend", Command: "resend inv2"}}},
			},
			Buttons: []handlers.Button{{Label: "Previous", Command: "invitations --page 1 --search acme"}, {Label: "Next", Command: "invitations --page 3 --search acme"}},
		},
	}
	// What an installer is told (install.go).
	cases["install-created"] = teams.Greeting(teams.Installed{Org: "teams-72f988bf-86f1-41af-91ab-2d", Created: true})
	cases["install-again"] = teams.Greeting(teams.Installed{Org: "teams-72f988bf-86f1-41af-91ab-2d", Again: true})
	cases["install-linked"] = teams.Greeting(teams.Installed{Org: "acme"})
	for name, m := range cases {
		t.Run(name, func(t *testing.T) { golden(t, "card-"+name, teams.RenderMessage(m).Activity()) })
	}
	t.Run("confirm", func(t *testing.T) {
		golden(t, "card-confirm", teams.RenderConfirm("decline inv123", decline))
		golden(t, "card-confirm-plain", teams.RenderConfirm("deactivate bob@example.com", nil))
	})
	t.Run("cancelled", func(t *testing.T) { golden(t, "card-cancelled", teams.RenderCancelled()) })
}

// FuzzRenderPlainText: whatever a note, a name or a title says, the card
// carries it only in TextRuns (which Teams never reads as markdown), never in
// a TextBlock or a Fact (which it does), and loses none of it; a run that
// opens a link shows exactly the address it opens.
func FuzzRenderPlainText(f *testing.F) {
	f.Add("Welcome", hostileNote)
	f.Add("[x](https://evil.example)", "https://usher.example.com/invitations/T.")
	f.Add("**b**", "a\r\nb\n\n- c")
	f.Fuzz(func(t *testing.T, title, note string) {
		m := handlers.Message{Title: title, Text: note, Fields: []handlers.Field{{Label: "Note", Value: note}},
			Items: []handlers.Item{{Text: note}}, Footer: note}
		var text []string
		var walk func(v any, path string)
		walk = func(v any, path string) {
			switch v := v.(type) {
			case map[string]any:
				switch v["type"] {
				case "TextBlock", "FactSet":
					t.Fatalf("%s: a %s, which Teams renders as markdown", path, v["type"])
				case "TextRun":
					s, _ := v["text"].(string)
					text = append(text, s)
					if a, ok := v["selectAction"].(map[string]any); ok {
						if u := a["url"]; u != s || !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
							t.Fatalf("%s: a link shows %q but opens %v", path, s, u)
						}
					}
				}
				for k, c := range v {
					if k != "data" { // a button's data is never shown
						walk(c, path+"."+k)
					}
				}
			case []any:
				for i, c := range v {
					walk(c, fmt.Sprintf("%s[%d]", path, i))
				}
			}
		}
		card := teams.RenderMessage(m)
		walk(map[string]any(card), "card")
		all := strings.Join(text, "")
		for _, l := range strings.Split(strings.ReplaceAll(title+"\n"+note, "\r\n", "\n"), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.Contains(all, l) {
				t.Fatalf("the card lost %q: %q", l, all)
			}
		}
	})
}

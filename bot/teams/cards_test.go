package teams_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/usher-chat/usher/bot/teams"
	"github.com/usher-chat/usher/handlers"
)

var update = flag.Bool("update", false, "rewrite golden files")

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
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) { golden(t, "card-"+name, teams.RenderMessage(m).Activity()) })
	}
	t.Run("confirm", func(t *testing.T) {
		golden(t, "card-confirm", teams.RenderConfirm("decline inv123", decline))
		golden(t, "card-confirm-plain", teams.RenderConfirm("deactivate bob@example.com", nil))
	})
	t.Run("cancelled", func(t *testing.T) { golden(t, "card-cancelled", teams.RenderCancelled()) })
}

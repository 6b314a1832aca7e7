package slack_test

import (
	"encoding/json"
	"strings"
	"testing"

	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers"
)

// TestGoldenMessages runs a session through the slash command endpoint and
// keeps the Block Kit of every kind of answer, and of every direct message
// usher posts, as golden files (go test -update rewrites them).
func TestGoldenMessages(t *testing.T) {
	e := newEnv(t)
	step := func(name string, user fakeUser, text string) []byte {
		t.Helper()
		status, body := e.command(user, text)
		if status != 200 {
			t.Fatalf("%s: %d %s", name, status, body)
		}
		golden(t, "answer_"+name, body)
		return body
	}
	dms := func(prefix string) {
		t.Helper()
		e.drain()
		n := 0
		for _, c := range e.slack.Calls() {
			switch {
			case c.Method == "chat.postMessage":
				n++
				msg := map[string]any{"channel": c.Form.Get("channel"), "text": c.Form.Get("text"), "blocks": json.RawMessage(c.Form.Get("blocks"))}
				raw, _ := json.Marshal(msg)
				golden(t, "dm_"+prefix+"_"+itoa(int64(n)), raw)
			case strings.HasPrefix(c.Method, "respond:"):
				n++
				golden(t, "respond_"+prefix+"_"+itoa(int64(n)), c.rawJSON(t))
			}
		}
	}
	step("help", uAdmin, "")
	step("help_invite", uAdmin, "help invite")
	step("workspace_create", uAdmin, "workspace create eng")
	step("invite_one", uAdmin, "invite bob@example.com --workspace eng --note 'See you Monday'")
	dms("invite_one")
	step("invite_again", uAdmin, "invite bob@example.com --role admin")
	step("invite_many", uAdmin, "invite carol@example.com, nobody@elsewhere.org --role viewer")
	dms("invite_many")
	step("invitations", uAdmin, "invitations")
	step("revoke_prompt", uAdmin, "revoke nobody@elsewhere.org")
	step("revoke", uAdmin, "revoke nobody@elsewhere.org --confirm")
	// Bob accepts by command, to have a member to manage.
	var id string
	for _, m := range e.slack.Messages("DUBOB") {
		for label, v := range buttons(t, m.Blocks) {
			if label == "Accept" {
				id = strings.TrimPrefix(v[strings.Index(v, "=")+1:], "accept ")
			}
		}
	}
	if id == "" {
		t.Fatal("no invitation for bob")
	}
	step("accept", uBob, "accept "+id)
	dms("accept")
	step("members", uAdmin, "members")
	step("role_prompt", uAdmin, "role bob@example.com viewer")
	step("role", uAdmin, "role bob@example.com viewer --confirm")
	dms("role")
	step("deactivate_prompt", uAdmin, "deactivate bob@example.com")
	step("reset_prompt", uAdmin, "reset-password bob@example.com")
	step("reset", uAdmin, "reset-password bob@example.com --confirm")
	dms("reset")
	step("workspaces", uAdmin, "workspaces")
	step("settings", uAdmin, "settings")
	step("unknown", uAdmin, "frobnicate")
	step("usage", uAdmin, "role bob@example.com")
	step("forbidden", uBob, "members")
	step("no_email", uGuest, "help")
	step("bot", uBot, "help")
	step("mention_without_email", uAdmin, "invite <@UGUEST|guest>")

	// A list that pages: a full page (15 invitations, Next) stays within
	// Block Kit's 50 blocks without cutting anything; the last has Previous.
	var many []string
	for i := range 16 {
		many = append(many, "p"+itoa(int64(i+10))+"@example.com")
	}
	if status, body := e.command(uAdmin, "invite "+strings.Join(many, " ")); status != 200 {
		t.Fatalf("invite: %d %s", status, body)
	}
	e.drain()
	first := step("invitations_page_1", uAdmin, "invitations")
	if strings.Contains(string(first), "more not shown") || !strings.Contains(string(first), `"value":"invitations --page 2"`) {
		t.Errorf("page 1 cut or without Next: %s", first)
	}
	var page struct {
		Blocks []json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(first, &page); err != nil || len(page.Blocks) > 50 {
		t.Errorf("page 1: %d blocks (%v)", len(page.Blocks), err)
	}
	step("invitations_page_2", uAdmin, "invitations --page 2 --search EXAMPLE.com")
	step("invitations_past_end", uAdmin, "invitations --page 5")
}

// TestGoldenModal keeps the invite modal's Block Kit.
func TestGoldenModal(t *testing.T) {
	v := slackbot.InviteModal([]string{"design", "eng"}, slackbot.ModalOrigin{Channel: "C1", ResponseURL: "https://hooks.slack.test/r"})
	raw, _ := json.Marshal(v)
	golden(t, "modal_invite", raw)
	raw, _ = json.Marshal(slackbot.InviteModal(nil, slackbot.ModalOrigin{}))
	golden(t, "modal_invite_no_workspaces", raw)
}

// TestRenderLimits: a long list stays within Block Kit's 50 blocks, text
// within its limits, and user text cannot forge mentions or links.
func TestRenderLimits(t *testing.T) {
	m := handlers.Message{Title: strings.Repeat("T", 400), Text: "<!channel> & <https://evil|click>"}
	for i := range 80 {
		m.Items = append(m.Items, handlers.Item{Text: "item " + itoa(int64(i)), Buttons: []handlers.Button{{Label: "Revoke", Command: "revoke x"}}})
	}
	blocks, _ := slackbot.Render(m)
	if len(blocks) > 50 {
		t.Fatalf("%d blocks", len(blocks))
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(blocks)
	s := buf.String()
	if strings.Contains(s, "<!channel>") || strings.Contains(s, "<https://evil") || !strings.Contains(s, "&lt;!channel&gt; &amp;") {
		t.Fatalf("text not escaped: %s", s[:300])
	}
	if !strings.Contains(s, "more not shown") {
		t.Fatal("truncated list does not say so")
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/teams/teamstest"
)

// TestTeamsBulkProgressUpdatedInPlace: usher serve on Teams. An admin
// invites 22 people in one message; 2 of them have the Teams app, the rest
// are in no chat. The progress message posted to the admin is updated in
// place (the Bot Connector's update activity) until it tells the truth, with
// a Show their links button (Action.Submit); no notice per person not in
// chat is sent. The button answers with a page of fresh links. The final
// card and the page are kept as golden files.
func TestTeamsBulkProgressUpdatedInPlace(t *testing.T) {
	e := newTeamsEdge(t, "bulk")
	for _, m := range []teamstest.Member{tCarol, tDave} {
		install := e.fake.ActivityFrom(m, chatOf(m), "")
		install["type"], install["action"] = "installationUpdate", "add"
		if status, body := e.post(install, e.signed()); status != 200 {
			t.Fatalf("%s installs usher: %d %s", m.Name, status, body)
		}
	}
	list := []string{"carol@example.com", "dave@example.com"}
	for i := range 20 {
		list = append(list, fmt.Sprintf("away%d@example.com", i))
	}
	e.say(tAdmin, "invite "+strings.Join(list, ", "))
	e.waitFor(chatOf(tAdmin), "Invited 22 of 22 addresses; 0 skipped, 0 refused.")
	e.waitFor(chatOf(tCarol), "You're invited to")
	e.waitFor(chatOf(tDave), "You're invited to")
	final := e.waitFor(chatOf(tAdmin), "All 22 invitations delivered or reported: 2 delivered, 20 not in chat: use Show their links.")
	if final.Updates == 0 {
		t.Errorf("the final count was posted anew, not updated in place: %+v", final)
	}
	show := buttonData(t, card(final.Body), "Show their links")
	id := strings.TrimPrefix(fmt.Sprint(show["usher"]), "invitations --unreachable ")
	golden(t, "teams_progress_final.golden", cardJSON(t, card(final.Body), id))
	// Before this change each person not in chat was a notice of its own,
	// paced 1 s apart: a few seconds would show some.
	time.Sleep(2500 * time.Millisecond)
	progress, links := 0, 0
	for _, a := range e.fake.Activities(chatOf(tAdmin)) {
		b, _ := json.Marshal(a.Body)
		if strings.Contains(string(b), "Bulk invitation") {
			progress++
		}
		if strings.Contains(string(b), "isn't in chat") {
			links++
		}
		if strings.Contains(string(b), "got the invitation in a direct message") {
			t.Fatalf("the admin was told of one delivery: %s", b)
		}
	}
	if progress != 1 || links != 0 {
		t.Errorf("%d progress messages (want 1), %d notices of people not in chat (want none)", progress, links)
	}

	submit := e.fake.ActivityFrom(tAdmin, chatOf(tAdmin), "")
	submit["value"], submit["replyToId"] = show, final.ID
	if status, body := e.post(submit, e.signed()); status != 200 {
		t.Fatalf("Show their links: %d %s", status, body)
	}
	page := e.waitFor(chatOf(tAdmin), "Page 1 of 2")
	raw, _ := json.Marshal(page.Body)
	distinct := map[string]bool{} // each is the text and its OpenUrl
	for _, l := range teamsLink.FindAll(raw, -1) {
		distinct[string(l)] = true
	}
	if len(distinct) != 15 {
		t.Errorf("%d links on page 1, want 15", len(distinct))
	}
	buttonData(t, card(page.Body), "Next")
	golden(t, "teams_unreachable_page_1.golden", cardJSON(t, card(page.Body), id))
}

var (
	teamsLink = regexp.MustCompile(`https?://[^/"]+/invitations/[A-Za-z0-9_.-]+`)
	teamsAway = regexp.MustCompile(`away\d+@example\.com`)
	teamsID   = regexp.MustCompile(`"text": "[a-z0-9]{8}"`)
	teamsWhen = regexp.MustCompile(`expires [A-Z][a-z]{2} \d+ \d\d:\d\d UTC`)
)

// cardJSON is an Adaptive Card as a golden file keeps it: the progress id,
// the random links, the expiry (the real clock) and the order the workers
// settled people in made alike.
func cardJSON(t *testing.T, c map[string]any, progress string) string {
	t.Helper()
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(string(raw), progress, "PROGRESS")
	out = teamsLink.ReplaceAllString(out, "PUBLIC_URL/invitations/TOKEN")
	out = teamsAway.ReplaceAllString(out, "awayNN@example.com")
	out = teamsID.ReplaceAllString(out, `"text": "INVITATION_ID"`)
	out = teamsWhen.ReplaceAllString(out, "expires WHEN") // usher serve's clock is the real one
	return out + "\n"
}

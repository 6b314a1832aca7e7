package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/teams/teamstest"
)

// TestTeamsBulkProgressUpdatedInPlace: usher serve on Teams. An admin
// invites 22 people in one message; 2 of them have the Teams app, the rest
// are in no chat. The progress message posted to the admin is updated in
// place (the Bot Connector's update activity) until it tells the truth.
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
	final := e.waitFor(chatOf(tAdmin), "All 22 invitations delivered or reported: 2 delivered, 20 not in chat: links below.")
	if final.Updates == 0 {
		t.Errorf("the final count was posted anew, not updated in place: %+v", final)
	}
	// The links come one message each, paced like every message to one
	// person (1 s apart): wait for them.
	var progress, links int
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		progress, links = 0, 0
		for _, a := range e.fake.Activities(chatOf(tAdmin)) {
			b, _ := json.Marshal(a.Body)
			if strings.Contains(string(b), "Bulk invitation") {
				progress++
			}
			if strings.Contains(string(b), "isn't in chat") && strings.Contains(string(b), "/invitations/") {
				links++
			}
			if strings.Contains(string(b), "got the invitation in a direct message") {
				t.Fatalf("the admin was told of one delivery: %s", b)
			}
		}
		if links >= 20 {
			break
		}
	}
	if progress != 1 || links != 20 {
		t.Errorf("%d progress messages (want 1), %d links to forward (want 20)", progress, links)
	}
}

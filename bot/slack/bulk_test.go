package slack_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBulkInviteProgressMessage: a bulk invitation from a slash command,
// 25 people of whom 22 are in Slack. The answer counts them; the outbox
// delivers the invitations; one progress message is posted to the admin
// and edited in place (chat.update on its ts, throttled) until it says the
// truth: 22 delivered, 3 not in Slack, whose links the admin got below it.
// Nobody else's delivery is told to the admin one by one.
func TestBulkInviteProgressMessage(t *testing.T) {
	e := newEnv(t)
	var list []string
	e.slack.mu.Lock()
	for i := range 22 {
		u := fakeUser{ID: fmt.Sprintf("UB%02d", i), Email: fmt.Sprintf("b%02d@example.com", i), Name: fmt.Sprintf("B%02d", i)}
		e.slack.users[u.ID] = u
		list = append(list, u.Email)
	}
	e.slack.mu.Unlock()
	list = append(list, "away1@example.com", "away2@example.com", "away3@example.com") // in no Slack
	status, body := e.command(uAdmin, "invite "+strings.Join(list, "\n"))
	if status != 200 || !strings.Contains(string(body), "Invited 25 of 25 addresses; 0 skipped, 0 refused.") {
		t.Fatalf("answer %d: %s", status, body)
	}
	e.drain()

	// The final edit is made off the outbox's path (the updater's own
	// goroutine): wait for it.
	var calls []apiCall
	var final string
	for deadline := time.Now().Add(10 * time.Second); final == "" && time.Now().Before(deadline); {
		calls = append(calls, e.slack.Calls()...)
		for _, c := range calls {
			if c.Method == "chat.update" && strings.Contains(c.Form.Get("text"), "All 25") {
				final = c.Form.Get("text")
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if want := "Bulk invitation: All 25 invitations delivered or reported: 22 delivered, 3 not in chat: links below."; final != want {
		t.Fatalf("final progress %q, want %q", final, want)
	}

	var anchor apiCall
	updates, links := 0, 0
	for _, c := range calls {
		text := c.Form.Get("text")
		if t, ok := c.JSON["text"].(string); ok {
			text = t // a response_url answer
		}
		switch {
		case c.Method == "chat.postMessage" && strings.HasPrefix(text, "Bulk invitation: 0 of 25 delivered"):
			anchor = c
		case c.Method == "chat.update":
			updates++
		case strings.Contains(text, "got the invitation in a direct message"):
			t.Errorf("the admin was told of one delivery: %s %q", c.Method, text)
		}
		if strings.Contains(text, "isn't in chat") && strings.Contains(text, "https://usher.test/invitations/") {
			links++
		}
	}
	if anchor.Method == "" || anchor.Form.Get("channel") != "D"+uAdmin.ID {
		t.Fatalf("no progress message posted to the admin's DM: %+v", methods(calls))
	}
	for _, c := range calls {
		if c.Method == "chat.update" && (c.Form.Get("channel") != anchor.Form.Get("channel") || c.Form.Get("ts") == "") {
			t.Errorf("chat.update elsewhere: %v", c.Form)
		}
	}
	// At most one edit every 3 s and the final one: this run takes well under 3 s.
	if updates < 1 || updates > 2 {
		t.Errorf("%d chat.update calls, want the final one (and at most one before it)", updates)
	}
	if links != 3 {
		t.Errorf("%d links to forward below the progress message, want 3", links)
	}
}

// TestBulkInviteAnswerFitsBlockKit: 1,000 addresses of every kind answer in
// a few blocks, each section within Block Kit's 3,000 characters, kept as a
// golden file.
func TestBulkInviteAnswerFitsBlockKit(t *testing.T) {
	e := newEnv(t)
	if status, body := e.command(uAdmin, "settings allowed-domains example.com"); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var list []string
	for i := range 899 {
		list = append(list, fmt.Sprintf("person.with.a.long.name%03d@example.com", i))
	}
	for i := range 50 {
		list = append(list, fmt.Sprintf("not-an-address-%d", i), fmt.Sprintf("partner%d@elsewhere.example", i))
	}
	list = append(list, "person.with.a.long.name000@example.com", admin)
	status, body := e.command(uAdmin, "invite "+strings.Join(list, "\n")+" --force")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var msg struct {
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg.Blocks) == 0 || len(msg.Blocks) > 10 {
		t.Errorf("%d blocks for a bulk answer", len(msg.Blocks))
	}
	for _, b := range msg.Blocks {
		if b.Text != nil && len([]rune(b.Text.Text)) > 3000 {
			t.Errorf("a %s block of %d characters", b.Type, len([]rune(b.Text.Text)))
		}
	}
	if !strings.Contains(string(body), "Invited 899 of 1,001 addresses; 2 skipped, 100 refused.") {
		t.Errorf("answer: %s", body)
	}
	golden(t, "answer_invite_bulk", body)
}

package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestBulkInviteProgressMessage: a bulk invitation from a slash command,
// 25 people of whom 22 are in Slack. The answer counts them; the outbox
// delivers the invitations; one progress message is posted to the admin
// and edited in place (chat.update on its ts, throttled) until it says the
// truth: 22 delivered, 3 not in Slack, whose links its Show their links
// button lists. Nobody's delivery, and nobody not in Slack, is told to the
// admin one by one.
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
	if want := "Bulk invitation: All 25 invitations delivered or reported: 22 delivered, 3 not in chat: use Show their links."; final != want {
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
	// Posted to the admin's user id (their DM), then edited in the DM whose
	// id Slack answered with.
	if anchor.Method == "" || anchor.Form.Get("channel") != uAdmin.ID {
		t.Fatalf("no progress message posted to the admin's DM: %+v", methods(calls))
	}
	for _, c := range calls {
		if c.Method == "chat.update" && (c.Form.Get("channel") != "D"+anchor.Form.Get("channel") || c.Form.Get("ts") == "") {
			t.Errorf("chat.update elsewhere: %v", c.Form)
		}
	}
	// At most one edit every 3 s and the final one: this run takes well under 3 s.
	if updates < 1 || updates > 2 {
		t.Errorf("%d chat.update calls, want the final one (and at most one before it)", updates)
	}
	if links != 0 {
		t.Errorf("%d notices with a link to forward, want none (Show their links lists them)", links)
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

// TestBulkProgressThreeReplicas: three replicas (each its own Redis client,
// use cases, Slack adapter, router and outbox worker) share the delivery of
// a bulk invitation. Every invitation is posted once, and the progress
// message, edited by whichever replica is due, ends with one final edit
// that tells the truth.
func TestBulkProgressThreeReplicas(t *testing.T) {
	e := newEnv(t)
	var list []string
	e.slack.mu.Lock()
	for i := range 60 {
		u := fakeUser{ID: fmt.Sprintf("UR%02d", i), Email: fmt.Sprintf("r%02d@example.com", i), Name: fmt.Sprintf("R%02d", i)}
		e.slack.users[u.ID] = u
		list = append(list, u.Email)
	}
	e.slack.mu.Unlock()
	for i := range 10 {
		list = append(list, fmt.Sprintf("away%d@example.com", i))
	}
	workers := []*outbox.Worker{e.worker}
	for _, name := range []string{"r2", "r3"} {
		workers = append(workers, e.replica(name))
	}
	if status, body := e.command(uAdmin, "invite "+strings.Join(list, " ")+" --force"); status != 200 || !strings.Contains(string(body), "Invited 70 of 70") {
		t.Fatalf("%d %s", status, body)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idle := 0
			for idle < 5 {
				n, err := w.Step(context.Background(), 20*time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				if idle++; n > 0 {
					idle = 0
				}
			}
		}()
	}
	wg.Wait()

	var calls []apiCall
	finals := 0
	for deadline := time.Now().Add(10 * time.Second); finals == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		calls = append(calls, e.slack.Calls()...)
		for _, c := range calls {
			if c.Method == "chat.update" && strings.Contains(c.Form.Get("text"), "All 70") {
				finals++
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // a second final edit, if any, would come now
	calls = append(calls, e.slack.Calls()...)
	finals, posts := 0, map[string]int{}
	var final, show string
	for _, c := range calls {
		switch c.Method {
		case "chat.update":
			if strings.Contains(c.Form.Get("text"), "All 70") {
				finals++
				final = c.Form.Get("text")
				show = buttons(t, []byte(c.Form.Get("blocks")))["Show their links"]
			}
		case "chat.postMessage":
			posts[c.Form.Get("channel")]++
		}
	}
	if want := "Bulk invitation: All 70 invitations delivered or reported: 60 delivered, 10 not in chat: use Show their links."; finals != 1 || final != want {
		t.Errorf("%d final edits, the last %q; want one: %q", finals, final, want)
	}
	if posts[uAdmin.ID] != 1 {
		t.Errorf("%d messages posted to the admin, want the progress message only", posts[uAdmin.ID])
	}
	// The count and the list of those not in chat agree, whichever replica
	// recorded each: the ten away invitations, each once.
	_, command, _ := strings.Cut(show, "=")
	id := strings.TrimPrefix(command, "invitations --unreachable ")
	st, ok, err := e.store.Progress(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("progress %q: %v %v", id, ok, err)
	}
	pg, _, err := e.store.ProgressUnreachable(context.Background(), id, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := e.store.Load(context.Background(), org.Query{Invitations: pg.Invitations})
	if err != nil {
		t.Fatal(err)
	}
	away := map[string]bool{}
	for _, iid := range pg.Invitations {
		if inv := snap.Invitations[iid]; inv != nil && strings.HasPrefix(inv.Email, "away") {
			away[inv.Email] = true
		}
	}
	if st.Unreachable != 10 || pg.Listed != 10 || len(pg.Invitations) != 10 || len(away) != 10 {
		t.Errorf("counted %d not in chat, listed %d (%d read, %d distinct away addresses)", st.Unreachable, pg.Listed, len(pg.Invitations), len(away))
	}
	for i := range 60 {
		if ch := fmt.Sprintf("UR%02d", i); posts[ch] != 1 { // a post to the user id is their DM
			t.Errorf("%s got %d invitations", ch, posts[ch])
		}
	}
}

// replica is another usher replica of e's organization: its own Redis
// client, use cases, Slack adapter and router, and an outbox worker on the
// same queue.
func (e *env) replica(name string) *outbox.Worker {
	e.t.Helper()
	rdb := chatClient(e.t, redistest.Shared(e.t))
	st, err := storage.New(rdb, org.ID(e.org))
	if err != nil {
		e.t.Fatal(err)
	}
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: "https://usher.test"})
	if err != nil {
		e.t.Fatal(err)
	}
	state, err := storage.NewSlackState(rdb, org.ID(e.org))
	if err != nil {
		e.t.Fatal(err)
	}
	ob, err := storage.NewOutbox(rdb, org.ID(e.org))
	if err != nil {
		e.t.Fatal(err)
	}
	q := redisqueue.New(ob)
	cfg := slackbot.Config{SigningSecret: secret, BotToken: "xoxb-test", APIURL: e.slack.APIURL(), Service: svc, State: state,
		QueueInCommit: true, Queue: q, Tenants: slackbot.Tenants{Teams: []string{team}}, Logger: slogTo(e.logs)}
	dm, err := slackbot.NewDM(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	marks, err := storage.NewDeliveryMarks(rdb, org.ID(e.org))
	if err != nil {
		e.t.Fatal(err)
	}
	router, err := deliver.New(deliver.Config{Org: org.ID(e.org), Platforms: []deliver.Platform{dm}, Service: svc, Queue: q, Marks: marks, Log: slogTo(e.logs)})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.Router = router
	app, err := slackbot.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return &outbox.Worker{Queue: q, Senders: map[string]outbox.Sender{slackbot.Platform: app.Send, deliver.JobPlatform: router.Send}, Consumer: name, Pace: time.Millisecond}
}

package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/outbox"
	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// claimOne takes the next job from the outbox without sending it.
func (e *env) claimOne() outbox.Job {
	e.t.Helper()
	js, err := e.queue.Claim(context.Background(), "inspector", 1, 100*time.Millisecond, time.Minute)
	if err != nil || len(js) != 1 {
		e.t.Fatalf("claim: %v %v", js, err)
	}
	return js[0]
}

// send sends one job with the worker's sender for its platform.
func (e *env) send(j outbox.Job) error {
	return e.worker.Senders[j.Platform](context.Background(), j)
}

// TestPostIsJSON: the invitation goes out in one chat.postMessage with a
// JSON body (Slack accepts application/json for it, with the token in the
// Authorization header and not in the body), its blocks and the job's key
// in the metadata, to the user id.
func TestPostIsJSON(t *testing.T) {
	e := newEnv(t)
	e.command(uAdmin, "invite bob@example.com")
	e.slack.Calls()
	if err := e.send(e.claimOne()); err != nil {
		t.Fatal(err)
	}
	var post *apiCall
	for _, c := range e.slack.Calls() {
		if c.Method == "chat.postMessage" {
			post = &c
		}
	}
	if post == nil || post.JSON == nil {
		t.Fatalf("no chat.postMessage with a JSON body: %+v", post)
	}
	if post.Auth != "xoxb-test" || post.JSON["token"] != nil {
		t.Errorf("token: Authorization %q, in the body %v; want the header only", post.Auth, post.JSON["token"])
	}
	blocks, _ := post.JSON["blocks"].([]any)
	meta, _ := post.JSON["metadata"].(map[string]any)
	payload, _ := meta["event_payload"].(map[string]any)
	if post.JSON["channel"] != "UBOB" || post.JSON["text"] == "" || len(blocks) == 0 || meta["event_type"] != "usher_message" || payload["key"] == "" {
		t.Errorf("body: %v", post.JSON)
	}
	if n := len(e.slack.Messages("DUBOB")); n != 1 {
		t.Fatalf("%d messages in bob's DM, want 1", n)
	}
}

// TestRateLimited: Slack's 429 + Retry-After becomes the outbox's
// RetryAfter with the same wait, and the message is posted once later.
func TestRateLimited(t *testing.T) {
	e := newEnv(t)
	e.command(uAdmin, "invite bob@example.com")
	e.slack.Calls()
	e.slack.Throttle("chat.postMessage", 1)
	j := e.claimOne()
	err := e.send(j)
	var ra *outbox.RetryAfter
	if !errors.As(err, &ra) || ra.Wait != 3*time.Second {
		t.Fatalf("429: %v, want RetryAfter 3s", err)
	}
	if err := e.send(j); err != nil {
		t.Fatal(err)
	}
	if n := len(e.slack.Messages("DUBOB")); n != 1 {
		t.Fatalf("%d messages in bob's DM, want 1", n)
	}
}

// TestReclaimedJobNotPostedTwice: a job that was posted but not
// acknowledged (the worker crashed) comes back with Attempt > 0. Crashed
// right after the post, before the job was settled: usher finds its key in
// the conversation's history, does not post it again, and still finishes
// the follow-ups. Crashed after it was settled: usher sends nothing at all.
func TestReclaimedJobNotPostedTwice(t *testing.T) {
	e := newEnv(t)
	e.command(uAdmin, "invite bob@example.com")
	j := e.claimOne()
	if err := e.send(j); err != nil {
		t.Fatal(err)
	}
	// The crash before the job was settled: its mark is not there.
	told, err := e.rdb.Keys(context.Background(), "usher:{"+e.org+"}:deliver:told:*").Result()
	if err != nil || len(told) != 1 {
		t.Fatalf("settled marks: %v %v", told, err)
	}
	e.rdb.Del(context.Background(), told...)
	j.Attempt = 1
	e.slack.Calls()
	if err := e.send(j); err != nil {
		t.Fatal(err)
	}
	got := methods(e.slack.Calls())
	if !slices.Equal(got, []string{"users.lookupByEmail", "conversations.open", "conversations.history"}) {
		t.Fatalf("replayed job calls: %v", got)
	}
	if n := len(e.slack.Messages("DUBOB")); n != 1 {
		t.Fatalf("%d messages in bob's DM, want 1", n)
	}
	if n := e.rdb.Exists(context.Background(), told...).Val(); n != 1 {
		t.Fatal("the replayed job was not settled")
	}
	// The crash after it was settled: nothing is asked or posted.
	if err := e.send(j); err != nil {
		t.Fatal(err)
	}
	if got := methods(e.slack.Calls()); len(got) != 0 {
		t.Fatalf("a settled job's replay calls %v", got)
	}
}

// TestPasswordOnlyToDM: a temporary password is posted only to the user's
// own DM, never through a response_url or a channel.
func TestPasswordOnlyToDM(t *testing.T) {
	e := newEnv(t)
	e.command(uAdmin, "invite bob@example.com")
	e.drain()
	inv := e.slack.Messages("DUBOB")[0]
	_, v, _ := strings.Cut(buttons(t, inv.Blocks)["Accept"], "=")
	e.command(uBob, v)
	e.drain()
	e.slack.Calls()
	e.command(uAdmin, "reset-password bob@example.com --confirm")
	e.drain()
	for _, c := range e.slack.Calls() {
		body := c.Form.Get("text") + c.Form.Get("blocks")
		if raw, err := json.Marshal(c.JSON); err == nil {
			body += string(raw)
		}
		if strings.Contains(body, "temporary password is") && (c.Method != "chat.postMessage" || c.Form.Get("channel") != "UBOB") {
			t.Fatalf("password sent by %s to %v", c.Method, c.Form.Get("channel"))
		}
	}
	if strings.Contains(e.logs.String(), "temporary password") {
		t.Fatal("password text in logs")
	}
}

// TestRedisDown: with Redis gone, a slash command still gets an answer
// within Slack's 3 seconds, saying usher is temporarily unavailable.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnvOn(t, chatClient(t, srv))
	e.command(uAdmin, "help") // caches the admin's identity
	srv.Stop()
	start := time.Now()
	status, body := e.command(uAdmin, "invite bob@example.com")
	took := time.Since(start)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	ans := decode[ephemeral](t, body)
	if !strings.Contains(ans.Text, "can't reach its database") && !strings.Contains(ans.Text, "temporarily unavailable") {
		t.Fatalf("answer: %s", ans.Text)
	}
	// Slack gives up after 3 s: the answer must come before (the budget is 2.5 s).
	if took >= 3*time.Second {
		t.Fatalf("answered after %v", took)
	}
	t.Logf("answered in %v: %s", took, ans.Text)
}

// TestRedisDownUncachedUser: a user whose identity is not cached yet still
// gets the same answer in time.
func TestRedisDownUncachedUser(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnvOn(t, chatClient(t, srv))
	srv.Stop()
	start := time.Now()
	status, body := e.command(uCarol, "invitations")
	if took := time.Since(start); status != 200 || took >= 3*time.Second {
		t.Fatalf("status %d after %v", status, took)
	}
	if ans := decode[ephemeral](t, body); ans.ResponseType != "ephemeral" || ans.Text == "" {
		t.Fatalf("answer: %+v", ans)
	}
}

// TestModal: /usher invite without arguments opens the modal with the
// trigger (views.open, right after identifying the admin); invalid input is shown on the
// field; a valid submission invites and reports where the command was typed.
func TestModal(t *testing.T) {
	e := newEnv(t)
	status, body := e.commandAs(uAdmin, "/usher", "invite", "trig-1")
	if status != 200 || len(body) != 0 {
		t.Fatalf("modal command answer: %d %q", status, body)
	}
	calls := e.slack.Calls()
	// Who is asking (the form is only for people who may invite), then the
	// form, with the trigger.
	if got := methods(calls); !slices.Equal(got, []string{"users.info", "views.open"}) || calls[1].JSON["trigger_id"] != "trig-1" {
		t.Fatalf("calls: %v %v", got, calls)
	}
	view := calls[1].JSON["view"].(map[string]any)
	meta := view["private_metadata"].(string)

	submit := func(emails, role string, spaces []string, note string) (int, []byte) {
		state := map[string]any{"values": map[string]any{
			"emails":     map[string]any{"value": map[string]any{"type": "plain_text_input", "value": emails}},
			"role":       map[string]any{"value": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": role}}},
			"workspaces": map[string]any{"value": map[string]any{"type": "multi_static_select", "selected_options": opts(spaces)}},
			"note":       map[string]any{"value": map[string]any{"type": "plain_text_input", "value": note}},
		}}
		p := map[string]any{"type": "view_submission", "team": map[string]any{"id": team}, "user": map[string]any{"id": uAdmin.ID, "team_id": team},
			"view": map[string]any{"id": "V1", "callback_id": "usher_invite", "private_metadata": meta, "state": state}}
		raw, _ := json.Marshal(p)
		form := url.Values{"payload": {string(raw)}}.Encode()
		return e.post("/slack/interactions", form, sign(form, time.Now(), secret))
	}
	status, body = submit("bob@example.com, not-an-email", "member", nil, "")
	if status != 200 || !strings.Contains(string(body), `"response_action":"errors"`) || !strings.Contains(string(body), `"emails":"\"not-an-email\" is not an email address."`) {
		t.Fatalf("invalid email: %d %s", status, body)
	}
	status, body = submit("bob@example.com", "member", []string{"nope"}, "")
	if !strings.Contains(string(body), `"workspaces":"There is no workspace nope.`) {
		t.Fatalf("unknown workspace: %d %s", status, body)
	}
	e.command(uAdmin, "workspace create eng")
	e.slack.Calls()
	status, body = submit("bob@example.com carol@example.com", "viewer", []string{"eng"}, "Hi 'there'")
	if status != 200 || len(body) != 0 {
		t.Fatalf("valid submission: %d %s", status, body)
	}
	e.drain()
	calls = e.slack.Calls()
	var told []string
	for _, c := range calls {
		if c.Method == "respond:cmd-UADMIN" {
			told = append(told, respondOf(t, c).Text)
		}
	}
	if len(told) == 0 || !strings.Contains(told[0], "Created 2 invitations") {
		t.Fatalf("outcome not reported: %v (%v)", told, methods(calls))
	}
	if len(e.slack.Messages("DUBOB")) != 1 || len(e.slack.Messages("DUCAROL")) != 1 {
		t.Fatal("invitations not delivered")
	}
}

func opts(vs []string) []map[string]any {
	out := []map[string]any{}
	for _, v := range vs {
		out = append(out, map[string]any{"value": v})
	}
	return out
}

// TestMentionsAndShortcut: /invite is /usher invite; a mention of a Slack
// user is resolved to their email.
func TestMentionsAndShortcut(t *testing.T) {
	e := newEnv(t)
	_, body := e.commandAs(uAdmin, "/invite", "<@UBOB|bob> --role viewer", "")
	if ans := decode[ephemeral](t, body); !strings.Contains(ans.Text, "bob@example.com: invited as viewer") {
		t.Fatalf("answer: %s", ans.Text)
	}
}

// TestEventsURLVerification answers Slack's challenge and acknowledges retries.
func TestEventsURLVerification(t *testing.T) {
	e := newEnv(t)
	body := `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	h := sign(body, time.Now(), secret)
	h.Set("Content-Type", "application/json")
	status, out := e.post("/slack/events", body, h)
	if status != 200 || string(out) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("challenge: %d %q", status, out)
	}
	ev := `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_home_opened","user":"UBOB"}}`
	h = sign(ev, time.Now(), secret)
	h.Set("X-Slack-Retry-Num", "1")
	if status, _ := e.post("/slack/events", ev, h); status != 200 {
		t.Fatalf("event retry: %d", status)
	}
	bad := sign(body, time.Now(), "other-secret")
	if status, _ := e.post("/slack/events", body, bad); status != 401 {
		t.Fatalf("forged event: %d", status)
	}
}

var _ = handlers.DeliverPassword

// TestResponseURLBudget: a response_url takes at most 5 posts; the 6th
// answer to a click on a DM message goes through chat.update instead.
func TestResponseURLBudget(t *testing.T) {
	e := newEnv(t)
	e.command(uAdmin, "invite bob@example.com")
	e.drain()
	inv := e.slack.Messages("DUBOB")[0]
	id, v, _ := strings.Cut(buttons(t, inv.Blocks)["Accept"], "=")
	e.slack.Calls()
	// Carol's refused clicks all answer through the same response_url
	// (each a different action, so none is a double click).
	for i := range 6 {
		e.click(uCarol, "DUBOB", inv.TS, id+"-"+itoa(int64(i)), v, false)
		e.drain()
	}
	var via []string
	for _, c := range e.slack.Calls() {
		if c.Method != "users.info" {
			via = append(via, c.Method)
		}
	}
	want := []string{"respond:click-UCAROL", "respond:click-UCAROL", "respond:click-UCAROL", "respond:click-UCAROL", "respond:click-UCAROL", "chat.postMessage"}
	if !slices.Equal(via, want) {
		t.Fatalf("answers went %v, want %v", via, want)
	}
	// Bob's own click, once his response_url is used up, updates in place.
	for range 5 {
		e.click(uBob, "DUBOB", inv.TS, "usher-x"+itoa(time.Now().UnixNano()), "help", false)
	}
	e.drain()
	e.slack.Calls()
	e.click(uBob, "DUBOB", inv.TS, id, v, false)
	e.drain()
	got := methods(e.slack.Calls())
	if !slices.Contains(got, "chat.update") || slices.Contains(got, "respond:click-UBOB") {
		t.Fatalf("bob's accept after 5 posts: %v", got)
	}
}

// TestIdentityCachedInRedis: users.info is asked once per user; another
// usher process (a fresh in-process cache) reads the Redis copy.
func TestIdentityCachedInRedis(t *testing.T) {
	e := newEnv(t)
	e.command(uAdmin, "help")
	e.command(uAdmin, "help")
	if got := methods(e.slack.Calls()); !slices.Equal(got, []string{"users.info"}) {
		t.Fatalf("calls: %v", got)
	}
	// Another usher process on the same organization: no users.info.
	state, _ := storage.NewSlackState(e.rdb, org.ID(e.org))
	app2, err := slackbot.New(slackbot.Config{SigningSecret: secret, BotToken: "xoxb-test", APIURL: e.slack.APIURL(), Service: e.svc, State: state, Queue: e.queue, Router: e.router, Tenants: slackbot.Tenants{Teams: []string{team}}})
	if err != nil {
		t.Fatal(err)
	}
	msg := app2.Command(context.Background(), slackgo.SlashCommand{TeamID: team, UserID: uAdmin.ID, Command: "/usher", Text: "help"})
	if msg == nil || msg.ResponseType != "ephemeral" {
		t.Fatalf("answer: %+v", msg)
	}
	if got := methods(e.slack.Calls()); len(got) != 0 {
		t.Fatalf("the second process asked Slack: %v", got)
	}
	keys, err := e.rdb.Keys(context.Background(), "usher:{"+e.org+"}:slack:user:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("cached identities: %v %v", keys, err)
	}
	if ttl := e.rdb.TTL(context.Background(), keys[0]).Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("identity cache TTL %v", ttl)
	}
}

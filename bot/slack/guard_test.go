package slack_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	slackbot "github.com/usher-chat/usher/bot/slack"
)

// member makes bob a member: invited by the admin, his Accept clicked.
func (e *env) member(u fakeUser) {
	e.t.Helper()
	e.command(uAdmin, "invite "+u.Email)
	e.drain()
	inv := e.slack.Messages("D" + u.ID)
	if len(inv) == 0 {
		e.t.Fatalf("no invitation in %s's DM", u.Email)
	}
	_, v, _ := strings.Cut(buttons(e.t, inv[len(inv)-1].Blocks)["Accept"], "=")
	e.command(u, v)
	e.drain()
}

// passwords counts the temporary-password DMs bob got.
func (e *env) passwords(channel string) int {
	n := 0
	for _, m := range e.slack.Messages(channel) {
		if strings.Contains(m.Text+string(m.Blocks), "temporary password") {
			n++
		}
	}
	return n
}

// TestReplayedCommandRefused: a captured signed slash command sent again
// inside Slack's 5-minute window (same body, timestamp and signature) is
// refused with 401 and a log line, and runs once: bob gets one temporary
// password, not two. The same body marked as Slack's own retry
// (X-Slack-Retry-Num), with the first signature or a fresh one, is
// acknowledged with an empty 200 and runs nothing.
func TestReplayedCommandRefused(t *testing.T) {
	e := newEnv(t)
	e.member(uBob)
	form := url.Values{
		"token": {"ignored"}, "team_id": {team}, "team_domain": {"acme"}, "channel_id": {"C1"}, "channel_name": {"general"},
		"user_id": {uAdmin.ID}, "user_name": {"ada"}, "command": {"/usher"}, "text": {"reset-password bob@example.com --confirm"},
		"api_app_id": {"A1"}, "response_url": {e.slack.ResponseURL("cmd-replay")}, "trigger_id": {"trig-replay"},
	}.Encode()
	h := sign(form, time.Now(), secret)
	if status, body := e.post("/slack/commands", form, h); status != http.StatusOK || !strings.Contains(string(body), "bob@example.com") {
		t.Fatalf("first: %d %s", status, body)
	}
	status, body := e.post("/slack/commands", form, h)
	if status != http.StatusUnauthorized {
		t.Errorf("replay: %d %s, want 401", status, body)
	}
	// Slack's retry: the same body, signed afresh a moment later, marked.
	for _, retry := range []http.Header{h.Clone(), sign(form, time.Now().Add(time.Second), secret)} {
		retry.Set("X-Slack-Retry-Num", "1")
		retry.Set("X-Slack-Retry-Reason", "http_timeout")
		if status, body := e.post("/slack/commands", form, retry); status != http.StatusOK || len(body) != 0 {
			t.Errorf("Slack's retry: %d %q, want an empty 200", status, body)
		}
	}
	// The same body signed afresh without the mark is no retry: refused.
	if status, _ := e.post("/slack/commands", form, sign(form, time.Now().Add(2*time.Second), secret)); status != http.StatusUnauthorized {
		t.Errorf("re-signed copy: %d, want 401", status)
	}
	e.drain()
	if n := e.passwords("DUBOB"); n != 1 {
		t.Errorf("bob got %d temporary passwords, want 1", n)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "refused replayed request") {
		t.Errorf("no log line for the replay:\n%s", logs)
	}
	if strings.Contains(logs, h.Get("X-Slack-Signature")[3:]) || strings.Contains(logs, secret) || strings.Contains(logs, "reset-password") {
		t.Errorf("signature, secret or body in the log:\n%s", logs)
	}
}

// TestReplayedInteractionRefused: a signed block_actions payload or modal
// submission sent again is refused (401), past the 10-second double-click
// window as well as inside it; a fresh click (another signature) still works.
func TestReplayedInteractionRefused(t *testing.T) {
	e := newEnv(t)
	p := map[string]any{
		"type": "view_submission", "team": map[string]any{"id": team}, "user": map[string]any{"id": uAdmin.ID, "team_id": team},
		"trigger_id": "trig-v",
		"view": map[string]any{"id": "V1", "callback_id": "usher_invite", "private_metadata": `{"c":"C1"}`, "state": map[string]any{"values": map[string]any{
			"emails": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": "carol@example.com"}},
			"role":   map[string]any{"value": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": "member"}}},
		}}},
	}
	raw, _ := json.Marshal(p)
	form := url.Values{"payload": {string(raw)}}.Encode()
	h := sign(form, time.Now(), secret)
	if status, body := e.post("/slack/interactions", form, h); status != http.StatusOK || len(body) != 0 {
		t.Fatalf("submission: %d %s", status, body)
	}
	if status, body := e.post("/slack/interactions", form, h); status != http.StatusUnauthorized {
		t.Errorf("replayed submission: %d %s, want 401", status, body)
	}

	e.drain()
	inv := e.slack.Messages("DUCAROL")
	if len(inv) != 1 {
		t.Fatalf("carol's DM: %d messages, want 1", len(inv))
	}
	decline := buttons(t, inv[0].Blocks)["Decline"]
	actionID, value, _ := strings.Cut(decline, "=")
	click := map[string]any{
		"type": "block_actions", "team": map[string]any{"id": team}, "user": map[string]any{"id": uCarol.ID, "team_id": team},
		"container":    map[string]any{"type": "message", "message_ts": inv[0].TS, "channel_id": "DUCAROL"},
		"response_url": e.slack.ResponseURL("click-replay"), "trigger_id": "trig-c",
		"actions": []map[string]any{{"type": "button", "action_id": actionID, "value": value, "block_id": "b", "action_ts": "1.2"}},
	}
	raw, _ = json.Marshal(click)
	form = url.Values{"payload": {string(raw)}}.Encode()
	h = sign(form, time.Now(), secret)
	if status, _ := e.post("/slack/interactions", form, h); status != http.StatusOK {
		t.Fatalf("click: %d", status)
	}
	if status, _ := e.post("/slack/interactions", form, h); status != http.StatusUnauthorized {
		t.Errorf("replayed click: %d, want 401", status)
	}
	if n := strings.Count(e.logs.String(), "refused replayed request"); n != 2 {
		t.Errorf("%d replay log lines, want 2:\n%s", n, e.logs.String())
	}
}

// TestOtherWorkspaceRefused: a correctly signed request from a workspace this
// deployment does not serve (another team_id, or an unpinned enterprise) is
// told "usher is not set up for this workspace", nothing is looked up or
// run, and the refusal is logged with team_id and enterprise_id.
func TestOtherWorkspaceRefused(t *testing.T) {
	e := newEnv(t)
	e.slack.Calls()
	form := url.Values{
		"team_id": {"T666"}, "enterprise_id": {"E666"}, "team_domain": {"evil"}, "channel_id": {"C9"}, "user_id": {uAdmin.ID},
		"command": {"/usher"}, "text": {"members"}, "response_url": {e.slack.ResponseURL("evil")}, "trigger_id": {"trig-evil"},
	}.Encode()
	status, body := e.post("/slack/commands", form, sign(form, time.Now(), secret))
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	ans := decode[ephemeral](t, body)
	if !strings.Contains(ans.Text, "usher is not set up for this workspace") || strings.Contains(string(body), admin) {
		t.Errorf("answer: %s", body)
	}
	click := map[string]any{
		"type": "block_actions", "team": map[string]any{"id": "T666"}, "user": map[string]any{"id": uAdmin.ID, "team_id": "T666"},
		"enterprise": map[string]any{"id": "E666"}, "response_url": e.slack.ResponseURL("evil-click"),
		"container": map[string]any{"type": "message", "message_ts": "1.1", "channel_id": "C9"},
		"actions":   []map[string]any{{"type": "button", "action_id": "usher-0", "value": "members", "block_id": "b"}},
	}
	raw, _ := json.Marshal(click)
	cform := url.Values{"payload": {string(raw)}}.Encode()
	if status, body := e.post("/slack/interactions", cform, sign(cform, time.Now(), secret)); status != http.StatusOK || len(body) != 0 {
		t.Errorf("click: %d %s", status, body)
	}
	e.drain()
	if calls := e.slack.Calls(); len(calls) != 0 {
		t.Errorf("Slack was called for another workspace: %v", methods(calls))
	}
	logs := e.logs.String()
	if strings.Count(logs, "workspace usher does not serve") != 2 || !strings.Contains(logs, "team_id=T666") || !strings.Contains(logs, "enterprise_id=E666") {
		t.Errorf("refusals not logged with team_id and enterprise_id:\n%s", logs)
	}
	// The served workspace still works.
	if _, body := e.command(uAdmin, "help"); strings.Contains(string(body), "not set up") {
		t.Errorf("served workspace refused: %s", body)
	}
}

// TestTenantsServes is the one decision, table-tested.
func TestTenantsServes(t *testing.T) {
	pinned := slackbot.Tenants{Teams: []string{"T1"}, Enterprises: []string{"E1"}}
	for _, c := range []struct {
		team, enterprise string
		want             bool
	}{
		{"T1", "", true}, {"T1", "E9", true}, {"T2", "E1", true}, {"T2", "", false}, {"T2", "E9", false}, {"", "", false}, {"", "E1", true},
	} {
		if got := pinned.Serves(c.team, c.enterprise); got != c.want {
			t.Errorf("Serves(%q, %q) = %v, want %v", c.team, c.enterprise, got, c.want)
		}
	}
	if (slackbot.Tenants{}).Serves("", "") {
		t.Error("no pins serve an empty team")
	}
}

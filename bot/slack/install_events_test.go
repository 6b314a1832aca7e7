package slack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// distEnv is the adapter in distribution mode: no SLACK_BOT_TOKEN, each
// workspace's token from the installation store.
func distEnv(t *testing.T, tune ...func(*slackbot.Config)) (*env, *storage.SlackInstalls) {
	rdb := chatClient(t, redistest.Start(t))
	installs := storage.NewSlackInstalls(rdb, nil)
	e := newEnvConfigured(t, rdb, "", func(c *slackbot.Config) {
		c.BotToken, c.Installations, c.InstallURL = "", installStore{installs}, "https://usher.test/slack/install"
		c.ClientID, c.ClientSecret = "111.222", "client-secret-xyz"
		// As usher serve's directory answers: the organization's one workspace.
		c.WorkspacesOf = func(context.Context, org.ID) ([]string, error) { return []string{team}, nil }
		for _, f := range tune {
			f(c)
		}
	})
	e.slack.client = [2]string{"111.222", "client-secret-xyz"}
	return e, installs
}

func install(t *testing.T, s *storage.SlackInstalls) {
	t.Helper()
	if err := s.Save(context.Background(), storage.SlackInstallation{Team: team, BotUserID: "UBOTX", AppID: "A1", BotToken: "xoxb-installed-T1", Installed: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) event(body string) (int, []byte) {
	h := sign(body, time.Now(), secret)
	h.Set("Content-Type", "application/json")
	return e.post("/slack/events", body, h)
}

var eventSeq int

func lifecycleBody(kind string) string {
	eventSeq++
	ev := map[string]any{"type": kind}
	if kind == "tokens_revoked" {
		ev["tokens"] = map[string]any{"oauth": []string{"UINST"}, "bot": []string{"UBOTX"}}
	}
	b, _ := json.Marshal(map[string]any{"type": "event_callback", "team_id": team, "api_app_id": "A1", "event": ev,
		"event_id": "Ev" + strings.Repeat("0", 3) + string(rune('A'+eventSeq%26)) + time.Now().Format("150405.000000"), "event_time": time.Now().Unix(),
		"authorizations": []map[string]any{{"team_id": team, "is_enterprise_install": false, "is_bot": true}}})
	return string(b)
}

func TestDistributionCommandUsesInstalledToken(t *testing.T) {
	e, installs := distEnv(t)
	code, body := e.command(uAdmin, "help")
	if code != 200 || !strings.Contains(string(body), "usher is not installed in this workspace") || !strings.Contains(string(body), "https://usher.test/slack/install") {
		t.Fatalf("before install: %d %s", code, body)
	}
	install(t, installs)
	e.slack.Calls()
	code, body = e.command(uAdmin, "help")
	if code != 200 || strings.Contains(string(body), "not installed") {
		t.Fatalf("after install: %d %s", code, body)
	}
	calls := e.slack.Calls()
	if len(calls) == 0 {
		t.Fatal("no Web API call to check the token of")
	}
	for _, c := range calls {
		if !strings.HasPrefix(c.Method, "respond:") && c.Auth != "xoxb-installed-T1" {
			t.Fatalf("%s called with token %q, not the installation's", c.Method, c.Auth)
		}
	}
}

func TestRevocationEventsAnyOrderTwice(t *testing.T) {
	for _, order := range [][]string{
		{"app_uninstalled", "tokens_revoked", "app_uninstalled", "tokens_revoked"},
		{"tokens_revoked", "app_uninstalled", "tokens_revoked", "app_uninstalled"},
	} {
		t.Run(order[0]+"_first", func(t *testing.T) {
			e, installs := distEnv(t)
			install(t, installs)
			e.slack.Calls()
			for _, kind := range order {
				if code, body := e.event(lifecycleBody(kind)); code != 200 {
					t.Fatalf("%s: %d %s", kind, code, body)
				}
			}
			if calls := e.slack.Calls(); len(calls) != 0 {
				t.Fatalf("revocation called Slack: %v", methods(calls))
			}
			if _, ok, err := installs.Find(context.Background(), "", team); ok || err != nil {
				t.Fatalf("installation left: %v %v", ok, err)
			}
			for _, k := range e.rdb.Keys(context.Background(), "*").Val() {
				if strings.HasPrefix(k, "usher:slackinstall:") {
					t.Fatalf("key %s left", k)
				}
			}
			if strings.Contains(e.logs.String(), "level=ERROR") || strings.Contains(e.logs.String(), "not applied") {
				t.Fatalf("errors logged: %s", e.logs.String())
			}
			code, body := e.command(uAdmin, "help")
			if code != 200 || !strings.Contains(string(body), "usher is not installed in this workspace") {
				t.Fatalf("command after uninstall: %d %s", code, body)
			}
			// The organization's data stays: its admin is still there.
			if n := len(e.rdb.Keys(context.Background(), "usher:{"+e.org+"}:*").Val()); n == 0 {
				t.Fatal("the organization's data went with the install")
			}
		})
	}
}

func TestRevocationOfAnotherBotLeavesInstall(t *testing.T) {
	e, installs := distEnv(t)
	install(t, installs)
	body := strings.Replace(lifecycleBody("tokens_revoked"), "UBOTX", "UOTHERBOT", 1)
	if code, _ := e.event(body); code != http.StatusOK {
		t.Fatal(code)
	}
	if _, ok, _ := installs.Find(context.Background(), "", team); !ok {
		t.Fatal("another bot's revocation removed the install")
	}
}

func FuzzLifecycleEvent(f *testing.F) {
	f.Add([]byte(lifecycleBody("tokens_revoked")))
	f.Add([]byte(lifecycleBody("app_uninstalled")))
	f.Add([]byte(`{"type":"event_callback","event":{"type":"team_access_revoked","team_ids":["T1"]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		slackbot.ParseLifecycle(b)
	})
}

// TestUninstallStopsQueuedMessages: an invitation queued for a workspace
// before its uninstall is never sent with no token: the invitee is on no
// platform now, which the router handles as it does anyone unreachable.
func TestUninstallStopsQueuedMessages(t *testing.T) {
	e, installs := distEnv(t)
	install(t, installs)
	if code, body := e.command(uAdmin, "invite "+uBob.Email); code != 200 || !strings.Contains(string(body), "invited") {
		t.Fatalf("invite: %d %s", code, body)
	}
	e.event(lifecycleBody("app_uninstalled"))
	e.slack.Calls()
	e.drain()
	for _, c := range e.slack.Calls() {
		if !strings.HasPrefix(c.Method, "respond:") {
			t.Fatalf("%s called after the uninstall (token %q)", c.Method, c.Auth)
		}
	}
	if !strings.Contains(e.logs.String(), "recipient on no platform") {
		t.Fatalf("the queued invitation was not settled as unreachable:\n%s", e.logs.String())
	}
}

// TestRotatingTokenRefreshedOnce: 20 concurrent commands from a workspace
// whose rotating token expires within 2 hours refresh it once
// (oauth.v2.access, grant_type refresh_token) and all run with the new one.
func TestRotatingTokenRefreshedOnce(t *testing.T) {
	e, installs := distEnv(t)
	if err := installs.Save(context.Background(), storage.SlackInstallation{Team: team, BotUserID: "UBOTX", BotToken: "xoxe.xoxb-old",
		RefreshToken: "xoxe-1-r1", Expires: time.Now().Add(90 * time.Minute), Installed: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.slack.mu.Lock()
	e.slack.refreshes = map[string]map[string]any{"xoxe-1-r1": {"access_token": "xoxe.xoxb-new", "token_type": "bot", "refresh_token": "xoxe-1-r2",
		"expires_in": 43200, "team": map[string]any{"id": team}, "bot_user_id": "UBOTX", "app_id": "A1"}}
	e.slack.mu.Unlock()
	e.slack.Calls()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if code, body := e.command(uAdmin, "help"); code != 200 || strings.Contains(string(body), "not installed") {
				t.Errorf("command: %d %s", code, body)
			}
		})
	}
	wg.Wait()
	refreshes := 0
	for _, c := range e.slack.Calls() {
		switch {
		case c.Method == "oauth.v2.access":
			refreshes++
		case !strings.HasPrefix(c.Method, "respond:") && c.Auth != "xoxe.xoxb-new":
			t.Errorf("%s with token %q, not the refreshed one", c.Method, c.Auth)
		}
	}
	if refreshes != 1 {
		t.Fatalf("%d refresh calls, want 1", refreshes)
	}
	if inst, _, _ := installs.Find(context.Background(), "", team); inst.BotToken != "xoxe.xoxb-new" || inst.RefreshToken != "xoxe-1-r2" {
		t.Fatalf("stored %q %q", inst.BotToken, inst.RefreshToken)
	}
}

// TestQueuedMessageUsesRefreshedToken: a DM sent by the outbox worker, with
// no incoming request, after the token has come close to its expiry, goes
// out with a refreshed token.
func TestQueuedMessageUsesRefreshedToken(t *testing.T) {
	e, installs := distEnv(t)
	ctx := context.Background()
	save := func(token, refresh string, expires time.Time) {
		if err := installs.Save(ctx, storage.SlackInstallation{Team: team, BotUserID: "UBOTX", BotToken: token, RefreshToken: refresh, Expires: expires, Installed: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	save("xoxe.xoxb-fresh", "xoxe-1-q1", time.Now().Add(11*time.Hour))
	if code, body := e.command(uAdmin, "invite "+uBob.Email); code != 200 || !strings.Contains(string(body), "invited") {
		t.Fatalf("invite: %d %s", code, body)
	}
	// Hours pass before the worker runs: the token now expires within 2 hours.
	save("xoxe.xoxb-fresh", "xoxe-1-q1", time.Now().Add(time.Hour))
	e.slack.mu.Lock()
	e.slack.refreshes = map[string]map[string]any{"xoxe-1-q1": {"access_token": "xoxe.xoxb-renewed", "token_type": "bot", "refresh_token": "xoxe-1-q2", "expires_in": 43200}}
	e.slack.mu.Unlock()
	e.slack.Calls()
	e.drain()
	var posted bool
	for _, c := range e.slack.Calls() {
		if c.Method == "chat.postMessage" {
			posted = true
			if c.Auth != "xoxe.xoxb-renewed" {
				t.Fatalf("chat.postMessage with %q", c.Auth)
			}
		}
	}
	if !posted {
		t.Fatalf("no DM sent:\n%s", e.logs.String())
	}
}

// TestBrokenInstallationToldOnce: when Slack refuses a rotating token's
// refresh token (invalid_refresh_token), the installation is marked broken
// once, whoever marked it is told (to tell the admins elsewhere), and the
// workspace's requests are answered that usher must be added again.
func TestBrokenInstallationToldOnce(t *testing.T) {
	var mu sync.Mutex
	var told []slackbot.Installation
	e, installs := distEnv(t, func(c *slackbot.Config) {
		c.OnBroken = func(_ context.Context, inst slackbot.Installation) {
			mu.Lock()
			told = append(told, inst)
			mu.Unlock()
		}
	})
	if err := installs.Save(context.Background(), storage.SlackInstallation{Team: team, BotUserID: "UBOTX", BotToken: "xoxe.xoxb-doomed",
		RefreshToken: "xoxe-1-revoked", Expires: time.Now().Add(time.Hour), Installed: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.slack.Calls()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() { e.command(uAdmin, "help") })
	}
	wg.Wait()
	code, body := e.command(uAdmin, "help")
	if code != 200 || !strings.Contains(string(body), "stopped working") || !strings.Contains(string(body), "add it again: https://usher.test/slack/install") {
		t.Fatalf("after the refusal: %d %s", code, body)
	}
	refreshes := 0
	for _, c := range e.slack.Calls() {
		if c.Method == "oauth.v2.access" {
			refreshes++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if refreshes != 1 || len(told) != 1 || told[0].Team != team || told[0].Broken == "" {
		t.Fatalf("%d refresh calls, told %+v; want one of each", refreshes, told)
	}
	if inst, ok, _ := installs.Find(context.Background(), "", team); !ok || inst.BotToken != "" || inst.RefreshToken != "" {
		t.Fatalf("broken record: %+v", inst)
	}
}

// TestLifecycleToldOnlyOfChanges: an uninstall and a tokens_revoked, each
// delivered twice in both orders, are told once between them (the first
// that removed the installation): the audit has one entry, not four.
func TestLifecycleToldOnlyOfChanges(t *testing.T) {
	for _, order := range [][]string{{"app_uninstalled", "tokens_revoked"}, {"tokens_revoked", "app_uninstalled"}} {
		var mu sync.Mutex
		var told []slackbot.Lifecycle
		e, installs := distEnv(t, func(c *slackbot.Config) {
			c.OnLifecycle = func(_ context.Context, ev slackbot.Lifecycle) {
				mu.Lock()
				told = append(told, ev)
				mu.Unlock()
			}
		})
		install(t, installs)
		for _, kind := range []string{order[0], order[1], order[0], order[1]} {
			if code, body := e.event(lifecycleBody(kind)); code != 200 {
				t.Fatalf("%s: %d %s", kind, code, body)
			}
		}
		mu.Lock()
		if len(told) != 1 || told[0].Event != order[0] || told[0].Team != team {
			t.Fatalf("order %v: told %+v", order, told)
		}
		mu.Unlock()
	}
}

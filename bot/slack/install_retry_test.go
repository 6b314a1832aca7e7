package slack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// An uninstall that could not be applied (Redis cut off at that moment) is
// answered 503 and unmarked, so Slack's retry of it is applied, not
// acknowledged unread: the tokens do go.
func TestFailedLifecycleEventIsAppliedOnRetry(t *testing.T) {
	srv := redistest.Start(t)
	rdb := chatClient(t, srv)
	faulty := chatClient(t, srv)
	fault := &redistest.Fault{Server: srv, Match: func(args []any) bool {
		for _, a := range args {
			if s, ok := a.(string); ok && strings.HasPrefix(s, "usher:slackinstall:") {
				return true
			}
		}
		return false
	}}
	faulty.AddHook(fault)
	installs := storage.NewSlackInstalls(faulty, nil)
	e := newEnvConfigured(t, rdb, "", func(c *slackbot.Config) {
		c.BotToken, c.Installations, c.InstallURL = "", installStore{installs}, "https://usher.test/slack/install"
		c.ClientID, c.ClientSecret = "111.222", "client-secret-xyz"
		c.WorkspacesOf = func(context.Context, org.ID) ([]string, error) { return []string{team}, nil }
	})
	e.slack.client = [2]string{"111.222", "client-secret-xyz"}
	install(t, installs)

	body := lifecycleBody("app_uninstalled")
	fault.Arm(redistest.DropCommand)
	if code, _ := e.event(body); code != 503 {
		t.Fatalf("uninstall with Redis cut off: %d, want 503 so that Slack retries", code)
	}
	if fault.Caught() == nil {
		t.Fatal("the fault caught nothing: the test proves nothing")
	}
	h := sign(body, time.Now(), secret)
	h.Set("Content-Type", "application/json")
	h.Set("X-Slack-Retry-Num", "1")
	h.Set("X-Slack-Retry-Reason", "http_error")
	if code, b := e.post("/slack/events", body, h); code != 200 {
		t.Fatalf("Slack's retry: %d %s", code, b)
	}
	if _, ok, err := installs.Find(context.Background(), "", team); ok || err != nil {
		t.Fatalf("installation left after the retry: %v %v", ok, err)
	}
	if left := rdb.Keys(context.Background(), "usher:slackinstall:*").Val(); len(left) != 0 {
		t.Fatalf("keys left: %v", left)
	}
}

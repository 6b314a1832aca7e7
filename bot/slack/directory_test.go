package slack_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// userEventBody is a team_join or user_change delivery as the Events API
// sends it (https://docs.slack.dev/reference/events/team_join,
// .../user_change: the event carries the whole user object).
func userEventBody(kind string, u fakeUser) string {
	eventSeq++
	raw, _ := json.Marshal(map[string]any{"type": "event_callback", "team_id": team, "event_id": "Ev" + itoa(int64(eventSeq)),
		"event": map[string]any{"type": kind, "user": userJSON(u)}})
	return string(raw)
}

func newDirectoryEnv(t *testing.T, tune ...func(*slackbot.DirectoryConfig)) *env {
	rdb := chatClient(t, redistest.Shared(t))
	return newEnvConfigured(t, rdb, "", func(c *slackbot.Config) {
		c.Directory = storage.NewSlackDirectory(rdb)
		c.Budgets = storage.NewBudgets(rdb)
		for _, f := range tune {
			f(&c.DirectoryConfig)
		}
	})
}

// TestDeadBuilderHoldsDeliveriesOnlyItsLock: a replica killed while
// building the directory leaves its lock behind; the deliveries that wait
// for the first build are held up only until that lock lapses, then this
// replica builds and sends (TestCrashMidLoad timed out when the lock lasted
// two minutes).
func TestDeadBuilderHoldsDeliveriesOnlyItsLock(t *testing.T) {
	e := newDirectoryEnv(t, func(c *slackbot.DirectoryConfig) { c.Lock, c.Wait = 700*time.Millisecond, 100*time.Millisecond })
	ctx := context.Background()
	if ok, err := storage.NewSlackDirectory(e.rdb).Lock(ctx, org.ID(e.org), "", "a-replica-that-died", 700*time.Millisecond); err != nil || !ok {
		t.Fatalf("dead builder's lock: %v %v", ok, err)
	}
	e.command(uAdmin, "invite bob@example.com")
	deadline := time.Now().Add(5 * time.Second)
	for len(e.slack.Messages("DUBOB")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("bob's invitation held up by a dead builder's lock:\n%s", e.logs.String())
		}
		e.drain()
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(e.slack.Messages("DUBOB")); n != 1 {
		t.Fatalf("bob has %d messages", n)
	}
}

// TestBuildWaitEndsWithTheLock: a delivery waiting for the directory's
// first build waits half the build's age (at most DirectoryConfig.Wait),
// but never past the end of the build's lock: a builder that died 20 s
// into a 30 s lock holds nobody for 10 s more once its lock has 1 s left.
func TestBuildWaitEndsWithTheLock(t *testing.T) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	c := slackbot.DirectoryConfig{Wait: 10 * time.Second}
	for _, tc := range []struct {
		name         string
		since, until time.Time
		want         time.Duration
	}{
		{"just started", now, now.Add(30 * time.Second), 100 * time.Millisecond},
		{"half its age", now.Add(-4 * time.Second), now.Add(26 * time.Second), 2 * time.Second},
		{"at most Wait", now.Add(-25 * time.Second), now.Add(20 * time.Second), 10 * time.Second},
		{"the lock ends first", now.Add(-25 * time.Second), now.Add(5 * time.Second), 5*time.Second + 100*time.Millisecond},
		{"the lock's last second", now.Add(-29 * time.Second), now.Add(time.Second), time.Second + 100*time.Millisecond},
		{"the lock ran out", now.Add(-31 * time.Second), now.Add(-time.Second), 100 * time.Millisecond},
		{"no lock known", now.Add(-40 * time.Second), time.Time{}, 10 * time.Second},
	} {
		if got := slackbot.BuildWait(c, tc.since, tc.until, now); got != tc.want {
			t.Errorf("%s: wait %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestDirectoryJoinAndEmailChange: with the directory built, an invitation
// costs one Web API call (chat.postMessage to the user id); someone who
// joins the workspace afterwards is found through team_join, a changed
// email through user_change, both without users.lookupByEmail; the old
// address is asked about once and remembered as nobody's.
func TestDirectoryJoinAndEmailChange(t *testing.T) {
	e := newDirectoryEnv(t)
	ctx := context.Background()
	if err := e.dm.BuildDirectory(ctx, org.ID(e.org), ""); err != nil {
		t.Fatal(err)
	}
	if got := methods(e.slack.Calls()); !slices.Equal(got, []string{"users.list"}) {
		t.Fatalf("build: %v", got)
	}
	e.command(uAdmin, "help") // the admin's own identity (users.info), cached from now on
	e.slack.Calls()
	e.command(uAdmin, "invite bob@example.com")
	e.drain()
	if got := methods(e.slack.Calls()); !slices.Equal(got, []string{"chat.postMessage", "respond:cmd-UADMIN"}) {
		t.Fatalf("invite bob: %v, want one post (and the admin's answer)", got)
	}

	dana := fakeUser{ID: "UDANA", Email: "dana@example.com", Name: "Dana"}
	e.slack.SetUser(dana)
	if code, body := e.event(userEventBody("team_join", dana)); code != 200 {
		t.Fatalf("team_join: %d %s", code, body)
	}
	e.slack.Calls()
	e.command(uAdmin, "invite dana@example.com")
	e.drain()
	if got := methods(e.slack.Calls()); !slices.Equal(got, []string{"chat.postMessage", "respond:cmd-UADMIN"}) {
		t.Fatalf("invite dana after team_join: %v", got)
	}
	if n := len(e.slack.Messages("DUDANA")); n != 1 {
		t.Fatalf("dana has %d messages", n)
	}

	caroline := uCarol
	caroline.Email = "caroline@example.com"
	e.slack.SetUser(caroline)
	if code, body := e.event(userEventBody("user_change", caroline)); code != 200 {
		t.Fatalf("user_change: %d %s", code, body)
	}
	e.slack.Calls()
	e.command(uAdmin, "invite caroline@example.com")
	e.drain()
	calls := e.slack.Calls()
	if got := methods(calls); !slices.Equal(got, []string{"chat.postMessage", "respond:cmd-UADMIN"}) || calls[0].Form.Get("channel") != "UCAROL" {
		t.Fatalf("invite caroline after user_change: %v", got)
	}
	// carol@ is nobody's now: asked once, then remembered.
	for range 2 {
		if _, ok, err := e.dm.Find(ctx, org.ID(e.org), "carol@example.com", deliver.Hint{}); ok || err != nil {
			t.Fatalf("old email found: %v %v", ok, err)
		}
	}
	if got := methods(e.slack.Calls()); !slices.Equal(got, []string{"users.lookupByEmail"}) {
		t.Fatalf("old email: %v, want one users.lookupByEmail", got)
	}

	// A deactivated account leaves the directory (user_change, deleted).
	gone := uBob
	gone.Deleted = true
	e.event(userEventBody("user_change", gone))
	e.slack.SetUser(gone)
	if _, ok, _ := e.dm.Find(ctx, org.ID(e.org), "bob@example.com", deliver.Hint{}); ok {
		t.Fatal("a deactivated user is still found")
	}
}

func FuzzUserEvent(f *testing.F) {
	f.Add([]byte(userEventBody("team_join", uBob)))
	f.Add([]byte(userEventBody("user_change", fakeUser{ID: "UX", Email: "x@example.com", Deleted: true})))
	f.Add([]byte(`{"type":"event_callback","event":{"type":"user_change","user":{"id":"","profile":{}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, email, reachable, ok := slackbot.ParseUserEvent(b)
		if ok && id == "" {
			t.Fatal("an event without a user id was taken")
		}
		if reachable && email == "" {
			t.Fatal("someone without an email counts as reachable")
		}
	})
}

package slack_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/scheduler"
	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// movingClock is the DM's clock in a test: now, moved on by hand or by the
// scheduler's Sleep.
type movingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *movingClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *movingClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

// TestScheduledRefreshRebuildsStaleDirectory: the directory is built, then
// a day and more passes; someone joins the workspace without an event
// reaching usher. The scheduled refresh (SLACK_DIRECTORY_REFRESH, run by
// scheduler.Periodic as usher serve runs it) lists the workspace again
// with no look-up asking: the newcomer is in the directory, read straight
// from storage, and no users.lookupByEmail was made. A second replica's
// run of the same schedule finds it fresh and lists nothing.
func TestScheduledRefreshRebuildsStaleDirectory(t *testing.T) {
	rdb := chatClient(t, redistest.Shared(t))
	clock := &movingClock{now: time.Now()}
	e := newEnvConfigured(t, rdb, "", func(c *slackbot.Config) {
		c.Directory = storage.NewSlackDirectory(rdb)
		c.Now = clock.Now
	})
	ctx := context.Background()
	orgID := org.ID(e.org)
	if err := e.dm.BuildDirectory(ctx, orgID, ""); err != nil {
		t.Fatal(err)
	}
	e.slack.Calls()
	dir := storage.NewSlackDirectory(rdb)
	built := func() time.Time {
		t.Helper()
		en, err := dir.Lookup(ctx, orgID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return en.Built
	}
	first := built()

	erin := fakeUser{ID: "UERIN", Email: "erin@example.com", Name: "Erin"}
	e.slack.SetUser(erin) // no team_join reaches usher
	clock.mu.Lock()
	clock.now = clock.now.Add(25 * time.Hour)
	clock.mu.Unlock()

	jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	runs := 0
	job, err := scheduler.NewPeriodic(scheduler.PeriodicConfig{
		Name: "slack directory refresh", Spec: "0 4 * * *", Now: clock.Now, Sleep: clock.Sleep,
		Run: func(ctx context.Context, _ time.Time, period time.Duration) error {
			n, err := e.dm.RefreshDirectories(ctx, []org.ID{orgID}, period/2)
			if runs++; n != 1 {
				t.Errorf("rebuilt %d directories, want 1", n)
			}
			cancel() // one run: the clock stays at it
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Run(jctx); err != context.Canceled || runs != 1 {
		t.Fatalf("%d scheduled runs, then %v", runs, err)
	}
	if got := methods(e.slack.Calls()); !slices.Equal(got, []string{"users.list"}) {
		t.Errorf("the scheduled run called %v, want users.list only", got)
	}
	if en, err := dir.Lookup(ctx, orgID, "", erin.Email); err != nil || en.UserID != erin.ID {
		t.Errorf("erin after the scheduled refresh: %+v, %v", en, err)
	}
	if !built().After(first) {
		t.Errorf("the directory's build time did not move: %v", built())
	}

	// Another replica on the same schedule, a moment later.
	r2, err := slackbot.NewDM(slackbot.Config{BotToken: "xoxb-test", APIURL: e.slack.APIURL(), State: mustState(t, rdb, orgID),
		Directory: storage.NewSlackDirectory(rdb), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r2.RefreshDirectories(ctx, []org.ID{orgID}, 12*time.Hour); err != nil || n != 0 {
		t.Errorf("a second replica rebuilt %d (%v), want none", n, err)
	}
	if got := e.slack.Calls(); len(got) != 0 {
		t.Errorf("a second replica called %v", methods(got))
	}
}

func mustState(t *testing.T, rdb *redis.Client, id org.ID) *storage.SlackState {
	t.Helper()
	st, err := storage.NewSlackState(rdb, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

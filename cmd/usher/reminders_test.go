package main

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestShellReminders runs the reminder lifecycle in `usher shell` on the
// embedded store: :advance runs each scheduled run in the window at its own
// time, so reminders at +48h, +96h and +144h, the expiry at +7d with the
// inviter told, and Monday's admin digest show up in order.
func TestShellReminders(t *testing.T) {
	out := runShellScript(t, "testdata/reminders.txt", map[string]string{"USHER_ADMINS": "alice@example.com"})
	golden(t, "reminders.golden", withoutBanner(out))
	for _, want := range []string{
		"Scheduled run at Wed, 07 Jan 2026 09:00:00 UTC:",
		"[to bob@example.com] Reminder: you're invited to Acme Corp",
		"Reminder 3 of 3. This is the last reminder.",
		"[to alice@example.com] Your invitation for bob@example.com expired without an answer.",
		"[to alice@example.com] Pending invitations in Acme Corp",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the transcript lacks %q", want)
		}
	}
}

// TestShellRemindersRealRedis: the same transcript on a real redis-server.
func TestShellRemindersRealRedis(t *testing.T) {
	srv := redistest.Shared(t)
	out := runShellScript(t, "testdata/reminders.txt", map[string]string{
		"USHER_ADMINS": "alice@example.com", "REDIS_URL": srv.URL(), "USHER_ORG": "reminders-real",
	})
	if *update {
		return // the embedded test writes the golden file
	}
	golden(t, "reminders.golden", withoutBanner(out))
}

// TestSchedulerRestartDoesNotDoubleFire runs the real scheduler (robfig/cron
// schedules, simulated time) against the real service and Redis: a replica
// sends the +48h reminder at Wednesday's 09:00 run and is restarted at that
// very instant (and again a second later); the restarted runner's catch-up
// run and its later runs send nothing twice, because the due times live in
// Redis and cron only wakes the sweep.
func TestSchedulerRestartDoesNotDoubleFire(t *testing.T) {
	srv := redistest.Shared(t)
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "restart", "USHER_ADMINS": "alice@example.com"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clock := &simClock{now: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	replica := func() *handlers.Service {
		svc, err := newService(ctx, env{}, cfg, srv.Client(t), slog.New(slog.DiscardHandler), clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	svc := replica()
	r := svc.Handle(ctx, handlers.Request{Actor: org.Identity{Platform: "test", Email: "alice@example.com"}, Text: "invite bob@example.com"})
	if r.Code != "" || len(r.Deliveries) != 1 {
		t.Fatalf("invite: %+v", r)
	}
	if err := svc.RecordDelivery(ctx, r.Deliveries[0].InvitationID, "slack:dm"); err != nil {
		t.Fatal(err)
	}

	var sent []string
	// runUntil runs a scheduler on a fresh replica until stop says so.
	runUntil := func(stop func(sweeps int) bool) {
		t.Helper()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sweeps := 0
		run, err := scheduler.New(scheduler.Config{
			Service: sweepCounter{replica(), func() {
				sweeps++
				if stop(sweeps) {
					cancel()
				}
			}},
			Deliver: func(_ context.Context, ds []handlers.Delivery) error {
				for _, d := range ds {
					sent = append(sent, clock.Now().Format("Mon 15:04:05")+" "+d.To+" "+d.Message.Title)
				}
				return nil
			},
			Now: clock.Now, Sleep: clock.sleep,
		})
		if err != nil {
			t.Fatal(err)
		}
		run.Run(ctx)
	}
	wednesday := time.Date(2026, 1, 7, 9, 0, 0, 0, time.UTC)
	runUntil(func(int) bool { return !clock.Now().Before(wednesday) }) // up to and including Wednesday's run
	runUntil(func(n int) bool { return n == 1 })                       // restarted at the same instant: catch-up only
	clock.advance(time.Second)
	runUntil(func(int) bool { return !clock.Now().Before(wednesday.Add(24 * time.Hour)) }) // restarted a second later, runs through Thursday
	want := []string{
		"Mon 09:00:00 alice@example.com Pending invitations in your organization", // the first run falls on the digest's slot
		"Wed 09:00:00 bob@example.com Reminder: you're invited to your organization",
	}
	if !slices.Equal(sent, want) {
		t.Errorf("sent %q\nwant %q", sent, want)
	}
}

// sweepCounter calls after once each sweep is done.
type sweepCounter struct {
	*handlers.Service
	after func()
}

func (s sweepCounter) Sweep(ctx context.Context) ([]handlers.Delivery, error) {
	ds, err := s.Service.Sweep(ctx)
	s.after()
	return ds, err
}

// simClock is simulated time for the scheduler: sleeping moves it on at once.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *simClock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func (c *simClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.advance(d)
	return nil
}

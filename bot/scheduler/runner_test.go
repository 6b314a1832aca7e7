package scheduler_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
)

// simClock is simulated time: sleeping moves it on at once.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *simClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

// fakeService answers NextTick from a schedule (read at each call, like
// settings) and records the time of each sweep.
type fakeService struct {
	clock    *simClock
	mu       sync.Mutex
	schedule string
	tz       string
	nextErr  error
	sweeps   []time.Time
	out      []handlers.Delivery
	stop     int // cancel after this many sweeps
	cancel   context.CancelFunc
	reads    int
}

func (f *fakeService) NextTick(_ context.Context, after time.Time) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.nextErr != nil {
		err := f.nextErr
		f.nextErr = nil
		return time.Time{}, err
	}
	return scheduler.Next(f.schedule, f.tz, after)
}

func (f *fakeService) Sweep(context.Context) ([]handlers.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweeps = append(f.sweeps, f.clock.Now())
	if len(f.sweeps) >= f.stop {
		f.cancel()
	}
	return f.out, nil
}

func run(t *testing.T, f *fakeService, start time.Time, stop int) ([]time.Time, [][]handlers.Delivery) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.clock.now, f.stop, f.cancel = start, stop, cancel
	var delivered [][]handlers.Delivery
	r, err := scheduler.New(scheduler.Config{
		Service: f, Now: f.clock.Now, Sleep: f.clock.sleep,
		Deliver: func(_ context.Context, ds []handlers.Delivery) error { delivered = append(delivered, ds); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	return f.sweeps, delivered
}

func times(ss ...string) []time.Time {
	var out []time.Time
	for _, s := range ss {
		out = append(out, utc(s))
	}
	return out
}

// TestRunnerFollowsTheScheduleAcrossDST: after the catch-up sweep at start,
// the runner sweeps at each run of a 09:00 Paris schedule: 08:00 UTC, then
// 07:00 UTC from the day summer time starts.
func TestRunnerFollowsTheScheduleAcrossDST(t *testing.T) {
	f := &fakeService{clock: &simClock{}, schedule: "0 9 * * *", tz: "Europe/Paris"}
	got, _ := run(t, f, utc("2026-03-27T12:34:00Z"), 5)
	want := times("2026-03-27T12:34:00Z", "2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z", "2026-03-31T07:00:00Z")
	if !slices.Equal(got, want) {
		t.Errorf("sweeps at %v\nwant %v", got, want)
	}
}

// TestRunnerRereadsTheSchedule: a schedule changed while the runner waits
// applies from the next read, at most Recheck (1 minute) later.
func TestRunnerRereadsTheSchedule(t *testing.T) {
	f := &fakeService{clock: &simClock{}, schedule: "0 9 * * MON", tz: "UTC"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.clock.now, f.stop, f.cancel = utc("2026-01-06T10:00:00Z"), 3, cancel
	r, _ := scheduler.New(scheduler.Config{Service: f, Now: f.clock.Now, Deliver: func(context.Context, []handlers.Delivery) error { return nil },
		Sleep: func(ctx context.Context, d time.Duration) error {
			if d > time.Minute {
				t.Errorf("slept %v in one go", d)
			}
			if f.clock.Now().Equal(utc("2026-01-06T12:00:00Z")) {
				f.mu.Lock()
				f.schedule = "30 12 * * *" // an admin changes it at noon
				f.mu.Unlock()
			}
			return f.clock.sleep(ctx, d)
		}})
	r.Run(ctx)
	want := times("2026-01-06T10:00:00Z", "2026-01-06T12:30:00Z", "2026-01-07T12:30:00Z")
	if !slices.Equal(f.sweeps, want) {
		t.Errorf("sweeps at %v, want %v", f.sweeps, want)
	}
}

// TestRunnerRetriesAndDelivers: a failed schedule read is retried after a
// pause; what a sweep returns is handed to Deliver.
func TestRunnerRetriesAndDelivers(t *testing.T) {
	f := &fakeService{clock: &simClock{}, schedule: "0 9 * * *", tz: "UTC", nextErr: errors.New("redis down"),
		out: []handlers.Delivery{{To: "bob@example.com"}}}
	got, delivered := run(t, f, utc("2026-01-05T08:00:00Z"), 2)
	want := times("2026-01-05T08:00:00Z", "2026-01-05T09:00:00Z")
	if !slices.Equal(got, want) {
		t.Errorf("sweeps at %v, want %v", got, want)
	}
	if f.reads < 2 {
		t.Errorf("the schedule was read %d times: no retry", f.reads)
	}
	if len(delivered) != 2 || delivered[1][0].To != "bob@example.com" {
		t.Errorf("delivered %v", delivered)
	}
}

func TestNewChecksConfig(t *testing.T) {
	if _, err := scheduler.New(scheduler.Config{}); err == nil {
		t.Error("no service accepted")
	}
	if _, err := scheduler.New(scheduler.Config{Service: &fakeService{}}); err == nil {
		t.Error("no delivery accepted")
	}
}

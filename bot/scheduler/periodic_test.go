package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/scheduler"
)

// fakeTime is a clock whose Sleep moves it on at once.
type fakeTime struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeTime) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
	return nil
}

// TestPeriodicRunsAtEachFire: a daily job runs at each 04:00 UTC, not at
// start, told the period (a day); it stops when its context ends.
func TestPeriodicRunsAtEachFire(t *testing.T) {
	clock := &fakeTime{now: time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC)}
	ctx, cancel := context.WithCancel(context.Background())
	var ticks []time.Time
	p, err := scheduler.NewPeriodic(scheduler.PeriodicConfig{
		Name: "test", Spec: "0 4 * * *", Now: clock.Now, Sleep: clock.Sleep,
		Run: func(_ context.Context, tick time.Time, period time.Duration) error {
			if period != 24*time.Hour {
				t.Errorf("period %v", period)
			}
			if ticks = append(ticks, tick); len(ticks) == 3 {
				cancel()
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != context.Canceled {
		t.Fatalf("run: %v", err)
	}
	want := []time.Time{time.Date(2026, 12, 8, 4, 0, 0, 0, time.UTC), time.Date(2026, 12, 9, 4, 0, 0, 0, time.UTC), time.Date(2026, 12, 10, 4, 0, 0, 0, time.UTC)}
	if len(ticks) != 3 || !ticks[0].Equal(want[0]) || !ticks[1].Equal(want[1]) || !ticks[2].Equal(want[2]) {
		t.Errorf("ticks %v, want %v", ticks, want)
	}
}

// TestPeriodicRefusesBadSpecs: a spec that does not parse, or has no fixed
// times, is refused when the job is built (at start, with the setting's name).
func TestPeriodicRefusesBadSpecs(t *testing.T) {
	for _, spec := range []string{"", "every day", "@every 24h", "61 * * * *"} {
		if _, err := scheduler.NewPeriodic(scheduler.PeriodicConfig{Spec: spec, Run: func(context.Context, time.Time, time.Duration) error { return nil }}); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
}

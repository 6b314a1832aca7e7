package shell_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/shell"
	"github.com/usher-chat/usher/handlers"
)

// tickingService is the fake service with a schedule: a run every day at
// 09:00 UTC, and a delivery from the runs listed in deliverAt.
type tickingService struct {
	*fakeService
	deliverAt map[time.Time]string
	tickErr   error
	every     time.Duration // runs every `every` instead of daily 09:00
}

func (f *tickingService) NextTick(_ context.Context, after time.Time) (time.Time, error) {
	if f.tickErr != nil {
		return time.Time{}, f.tickErr
	}
	if f.every > 0 {
		return after.Truncate(f.every).Add(f.every), nil
	}
	next := time.Date(after.Year(), after.Month(), after.Day(), 9, 0, 0, 0, time.UTC)
	if !next.After(after) {
		next = next.AddDate(0, 0, 1)
	}
	return next, nil
}

func (f *tickingService) Sweep(ctx context.Context) ([]handlers.Delivery, error) {
	f.fakeService.Sweep(ctx)
	if text, ok := f.deliverAt[f.clock.Now()]; ok {
		return []handlers.Delivery{{To: "bob@acme.com", Kind: handlers.DeliverNotice, Message: handlers.Message{Text: text}}}, nil
	}
	return nil, nil
}

func newTicking(t *testing.T) (*tickingService, *shell.Shell, *strings.Builder) {
	clock := shell.NewClock(start) // Friday 2 January 2026, 10:00 UTC
	svc := &tickingService{fakeService: &fakeService{clock: clock}}
	out := &strings.Builder{}
	return svc, shell.New(svc, clock, out, alice), out
}

// TestAdvanceRunsEveryTick: :advance steps the clock to each scheduled run
// in the window, in order, sweeping at each; a run's messages follow a line
// saying when it ran; the clock ends where it was asked to.
func TestAdvanceRunsEveryTick(t *testing.T) {
	svc, sh, out := newTicking(t)
	svc.deliverAt = map[time.Time]string{
		time.Date(2026, 1, 4, 9, 0, 0, 0, time.UTC): "Sunday's reminder",
		time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC): "Monday's digest",
	}
	sh.Line(context.Background(), ":advance 3d")
	want := "  The clock moved forward 3d to Mon, 05 Jan 2026 10:00:00 UTC.\n" +
		"  Scheduled run at Sun, 04 Jan 2026 09:00:00 UTC:\n" +
		"[to bob@acme.com] Sunday's reminder\n" +
		"  Scheduled run at Mon, 05 Jan 2026 09:00:00 UTC:\n" +
		"[to bob@acme.com] Monday's digest\n"
	if out.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", out.String(), want)
	}
	runs := []time.Time{
		time.Date(2026, 1, 3, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 4, 9, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC),
	}
	if !slices.Equal(svc.sweeps, runs) {
		t.Errorf("swept at %v, want %v", svc.sweeps, runs)
	}
	if now := svc.clock.Now(); !now.Equal(start.Add(72 * time.Hour)) {
		t.Errorf("the clock is at %v", now)
	}
	out.Reset()
	sh.Line(context.Background(), ":advance 1h") // no run in the window
	if len(svc.sweeps) != 3 || out.String() != "  The clock moved forward 1h to Mon, 05 Jan 2026 11:00:00 UTC.\n" {
		t.Errorf("an :advance with no run in it swept %d times, printed %q", len(svc.sweeps)-3, out.String())
	}
}

// TestAdvanceWithoutSchedule: when the schedule cannot be read, :advance
// says so and runs the scheduled work once, at the end.
func TestAdvanceWithoutSchedule(t *testing.T) {
	svc, sh, out := newTicking(t)
	svc.tickErr = errors.New("db down")
	sh.Line(context.Background(), ":advance 2d")
	if !strings.Contains(out.String(), "Can't read the schedule (db down); running the scheduled work once.") {
		t.Errorf("printed %q", out.String())
	}
	if want := []time.Time{start.Add(48 * time.Hour)}; !slices.Equal(svc.sweeps, want) {
		t.Errorf("swept at %v, want %v", svc.sweeps, want)
	}
}

// TestAdvanceIsBounded: a schedule of every minute over 90 days stops after
// maxTicks runs and catches up with one at the end.
func TestAdvanceIsBounded(t *testing.T) {
	svc, sh, out := newTicking(t)
	svc.every = time.Minute
	sh.Line(context.Background(), ":advance 90d")
	if !strings.Contains(out.String(), "Stopped after 5000 scheduled runs; running the rest at once.") {
		t.Errorf("printed %q", out.String())
	}
	if n := len(svc.sweeps); n != 5001 || !svc.sweeps[n-1].Equal(start.Add(90*24*time.Hour)) {
		t.Errorf("%d sweeps, the last at %v", n, svc.sweeps[n-1])
	}
}

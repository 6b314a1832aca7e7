package shell

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// Ticker is implemented by a Service that knows the organization's schedule
// (reminder-schedule, digest-schedule): :advance then runs every scheduled
// run that falls in the window, each at its own time, as `usher serve` would.
type Ticker interface {
	NextTick(ctx context.Context, after time.Time) (time.Time, error)
}

// maxTicks bounds the runs one :advance makes (a schedule of every minute
// over 90 days would be 129,600); past it, one run at the end catches up.
const maxTicks = 5000

// advance moves the clock forward d. With a Ticker it steps the clock to each
// scheduled run in the window and sweeps there; without one (or when the
// schedule cannot be read) it sweeps once at the end.
func (s *Shell) advance(ctx context.Context, d time.Duration) {
	target := s.clock.Now().Add(d)
	fmt.Fprintf(s.out, "  The clock moved forward %s to %s.\n", org.FormatDuration(d), target.Format(time.RFC1123))
	t, ok := s.svc.(Ticker)
	if !ok {
		s.clock.Set(target)
		s.sweep(ctx, "")
		return
	}
	for n := 0; ; n++ {
		next, err := t.NextTick(ctx, s.clock.Now())
		if err != nil {
			fmt.Fprintf(s.out, "  Can't read the schedule (%v); running the scheduled work once.\n", err)
			s.clock.Set(target)
			s.sweep(ctx, "")
			return
		}
		if next.IsZero() || next.After(target) {
			break
		}
		if n == maxTicks {
			fmt.Fprintf(s.out, "  Stopped after %d scheduled runs; running the rest at once.\n", maxTicks)
			s.clock.Set(target)
			s.sweep(ctx, "")
			return
		}
		s.clock.Set(next)
		s.sweep(ctx, fmt.Sprintf("  Scheduled run at %s:", next.Format(time.RFC1123)))
	}
	s.clock.Set(target)
}

// sweep runs the scheduled work due now and delivers what it says. header,
// when set, is printed first if the run has anything to show.
func (s *Shell) sweep(ctx context.Context, header string) {
	deliveries, err := s.svc.Sweep(ctx)
	if header != "" && (err != nil || len(deliveries) > 0) {
		fmt.Fprintln(s.out, header)
	}
	if err != nil {
		fmt.Fprintf(s.out, "  Scheduled work failed: %v\n", err)
	}
	s.deliver(ctx, deliveries)
}

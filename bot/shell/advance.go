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
// schedule cannot be read) it sweeps once at the end. Every organization the
// session visited runs its own schedule, in the order they were visited.
func (s *Shell) advance(ctx context.Context, d time.Duration) {
	target := s.clock.Now().Add(d)
	fmt.Fprintf(s.out, "  The clock moved forward %s to %s.\n", org.FormatDuration(d), target.Format(time.RFC1123))
	var ticking, once []*session
	for _, se := range s.order {
		if _, ok := se.svc.(Ticker); ok {
			ticking = append(ticking, se)
		} else {
			once = append(once, se)
		}
	}
	for n := 0; ; n++ {
		var next time.Time
		var due, still []*session
		for _, se := range ticking {
			t, err := se.svc.(Ticker).NextTick(ctx, s.clock.Now())
			if err != nil {
				fmt.Fprintf(s.out, "  Can't read the schedule%s (%v); running the scheduled work once.\n", s.in(se), err)
				once = append(once, se)
				continue
			}
			still = append(still, se)
			switch {
			case t.IsZero() || t.After(target):
			case next.IsZero() || t.Before(next):
				next, due = t, []*session{se}
			case t.Equal(next):
				due = append(due, se)
			}
		}
		ticking = still
		if len(due) == 0 {
			break
		}
		if n == maxTicks {
			fmt.Fprintf(s.out, "  Stopped after %d scheduled runs; running the rest at once.\n", maxTicks)
			once = append(once, ticking...)
			break
		}
		s.clock.Set(next)
		for _, se := range due {
			s.sweep(ctx, se, fmt.Sprintf("  Scheduled run at %s%s:", next.Format(time.RFC1123), s.in(se)))
		}
	}
	s.clock.Set(target)
	for _, se := range once {
		s.sweep(ctx, se, "")
	}
}

// sweep runs the scheduled work due now in one organization and delivers
// what it says. header, when set, is printed first if the run has anything
// to show.
func (s *Shell) sweep(ctx context.Context, se *session, header string) {
	deliveries, err := se.svc.Sweep(ctx)
	if header == "" && s.in(se) != "" && (err != nil || len(deliveries) > 0) {
		header = "  Scheduled work" + s.in(se) + ":"
	}
	if header != "" && (err != nil || len(deliveries) > 0) {
		fmt.Fprintln(s.out, header)
	}
	if err != nil {
		fmt.Fprintf(s.out, "  Scheduled work failed: %v\n", err)
	}
	s.deliver(ctx, se, deliveries)
}

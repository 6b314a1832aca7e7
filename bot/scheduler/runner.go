package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/usher-chat/usher/handlers"
)

// Service is what the runner needs of usher's use cases.
type Service interface {
	// NextTick is the organization's next scheduled run after `after`
	// (reminder-schedule or digest-schedule, whichever comes first), read
	// from its settings at each call.
	NextTick(ctx context.Context, after time.Time) (time.Time, error)
	// Sweep claims and does whatever work is due now, returning the messages
	// for people.
	Sweep(ctx context.Context) ([]handlers.Delivery, error)
}

// Config wires a Runner.
type Config struct {
	Service Service
	// Deliver sends a run's messages through the chat platforms.
	Deliver func(ctx context.Context, ds []handlers.Delivery) error
	Log     *slog.Logger
	// Now is the service's clock (default time.Now).
	Now func() time.Time
	// Sleep waits d or until ctx ends (default: a timer); tests make time pass faster.
	Sleep func(ctx context.Context, d time.Duration) error
	// Recheck bounds how long the runner sleeps before reading the schedule
	// again, so that a changed schedule applies within it (default 1 minute).
	Recheck time.Duration
	// RetryAfter is the pause after a failed read of the schedule (default 30s).
	RetryAfter time.Duration
}

// Runner wakes the sweep at each scheduled run until its context ends.
type Runner struct{ cfg Config }

// New checks cfg and builds a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Service == nil {
		return nil, errors.New("scheduler: no service")
	}
	if cfg.Deliver == nil {
		return nil, errors.New("scheduler: no delivery")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = time.Minute
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 30 * time.Second
	}
	return &Runner{cfg: cfg}, nil
}

// Run sweeps once at start, which catches up on whatever fell due while no
// replica ran (and finds nothing when another replica did it: the due items
// are gone from the store), then at every scheduled run. It returns when ctx
// ends.
func (r *Runner) Run(ctx context.Context) error {
	r.sweep(ctx, r.cfg.Now())
	for ctx.Err() == nil {
		now := r.cfg.Now()
		next, err := r.cfg.Service.NextTick(ctx, now)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Log.WarnContext(ctx, "scheduler: cannot read the schedule", "err", err, "retry_in", r.cfg.RetryAfter)
			}
			_ = r.cfg.Sleep(ctx, r.cfg.RetryAfter)
			continue
		}
		wait := next.Sub(now)
		if wait > r.cfg.Recheck {
			_ = r.cfg.Sleep(ctx, r.cfg.Recheck) // then read the schedule again: it may have changed
			continue
		}
		if wait > 0 {
			if r.cfg.Sleep(ctx, wait) != nil {
				break
			}
		}
		if r.cfg.Now().Before(next) {
			continue // woke early (the clock was set back): wait for the run itself
		}
		r.sweep(ctx, next)
	}
	return ctx.Err()
}

func (r *Runner) sweep(ctx context.Context, tick time.Time) {
	ds, err := r.cfg.Service.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		// What was claimed and not done goes back to the queue when its lease
		// ends, for this replica's next run or another's.
		r.cfg.Log.ErrorContext(ctx, "scheduler: run failed", "tick", tick, "err", err, "delivered", len(ds))
	}
	if len(ds) == 0 {
		return
	}
	r.cfg.Log.InfoContext(ctx, "scheduler: run", "tick", tick, "messages", len(ds))
	if err := r.cfg.Deliver(ctx, ds); err != nil {
		r.cfg.Log.ErrorContext(ctx, "scheduler: delivery failed", "tick", tick, "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

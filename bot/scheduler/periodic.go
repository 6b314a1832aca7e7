package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Periodic runs one deployment-wide job at each time a cron spec fires (in
// UTC, read by Next: 5 fields or @daily-style), such as the daily rebuild
// of the Slack users directory. Every replica runs one; the job itself
// keeps its work to one replica at a time (the directory's build lock, and
// a freshness check under it, make a second replica's run find nothing
// to do), so the schedule only says when to look.
type Periodic struct{ cfg PeriodicConfig }

// PeriodicConfig wires a Periodic.
type PeriodicConfig struct {
	Name string // for the log
	Spec string
	// Run does the job for the run due at tick; period is the time between
	// this run and the next (a job may treat work done within part of it
	// as fresh).
	Run func(ctx context.Context, tick time.Time, period time.Duration) error
	Log *slog.Logger
	// Now (default time.Now) and Sleep (default a timer) are the clock;
	// tests make time pass faster.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewPeriodic checks cfg (the spec must parse and fire) and builds a Periodic.
func NewPeriodic(cfg PeriodicConfig) (*Periodic, error) {
	if cfg.Run == nil {
		return nil, errors.New("scheduler periodic: no job")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if _, _, err := nextTwo(cfg.Spec, cfg.Now()); err != nil {
		return nil, err
	}
	return &Periodic{cfg: cfg}, nil
}

// nextTwo is the next two times spec fires after after.
func nextTwo(spec string, after time.Time) (time.Time, time.Time, error) {
	a, err := Next(spec, "UTC", after)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	b, err := Next(spec, "UTC", a)
	return a, b, err
}

// Run waits for each time the spec fires and runs the job then, until ctx
// ends. It does not run at start: a replica that restarts does not redo a
// deployment-wide job (the job's own freshness check would skip it anyway).
// A failed run is logged; the next one is at the next time.
func (p *Periodic) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		next, after, err := nextTwo(p.cfg.Spec, p.cfg.Now())
		if err != nil {
			return err // checked by NewPeriodic: only a spec that stopped firing
		}
		if err := p.cfg.Sleep(ctx, next.Sub(p.cfg.Now())); err != nil {
			break
		}
		if p.cfg.Now().Before(next) {
			continue // woke early (the clock was set back)
		}
		if err := p.cfg.Run(ctx, next, after.Sub(next)); err != nil && ctx.Err() == nil {
			p.cfg.Log.WarnContext(ctx, "scheduler: periodic job failed", "job", p.cfg.Name, "tick", next, "err", err)
		}
	}
	return ctx.Err()
}

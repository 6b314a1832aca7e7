package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Lease is one organization handed to the fleet by its Index, until it is
// settled. It is an unnamed struct type, the same type as storage.FleetLease
// (which this package does not import), so a *storage.FleetIndex is an Index
// as it is.
type Lease = struct {
	Org   org.ID
	Token int64
}

// Index finds the organizations whose scheduled work is due
// (storage.Fleet.Index(storage.FleetSchedule)).
type Index interface {
	// Due takes up to limit organizations with work due at or before now,
	// each for lease: nobody else gets it until it is settled or the lease
	// ends.
	Due(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Lease, error)
	// Settle ends a lease: the organization next has work at next (zero:
	// none), or sooner if work was added meanwhile. false: the lease had
	// ended and another replica has the organization.
	Settle(ctx context.Context, l Lease, next time.Time) (bool, error)
}

// Work is one organization's scheduled work, as the fleet does it: the
// organization's handlers.Service (Sweep) with its storage.Store (NextDue),
// e.g. struct{ *handlers.Service; *storage.Store }.
type Work interface {
	// Sweep claims and does whatever work is due now (handlers.Service.Sweep).
	Sweep(ctx context.Context) ([]handlers.Delivery, error)
	// NextDue is when the organization next has scheduled work, read after
	// the sweep (storage.Store.NextDue); zero when it has none.
	NextDue(ctx context.Context, now time.Time) (time.Time, error)
}

// FleetConfig wires a Fleet.
type FleetConfig struct {
	Index Index
	// Org is organization id's Work (the serve wiring's registry of
	// organizations). A nil Work with a nil error says the organization is
	// gone: it leaves the index.
	Org func(ctx context.Context, id org.ID) (Work, error)
	// Deliver sends what a sweep of organization id has for people.
	Deliver func(ctx context.Context, id org.ID, ds []handlers.Delivery) error
	Log     *slog.Logger
	// Now is the clock the organizations' due times are written in, their
	// services' (default time.Now).
	Now func() time.Time
	// Poll is how often the fleet asks the index when nothing woke it
	// (default 1 s): the delay between a due time and its sweep.
	Poll time.Duration
	// Batch is how many organizations one Due takes (default 32).
	Batch int
	// Parallel is how many organizations are swept at once (default 4):
	// a bounded pool, whatever the number of organizations.
	Parallel int
	// Lease is how long an organization taken stays this replica's (default
	// 2 minutes): longer than one organization's sweep takes.
	Lease time.Duration
	// RetryAfter is when an organization whose sweep failed is tried again
	// (default 30 s).
	RetryAfter time.Duration
}

// Fleet sweeps the scheduled work of every organization of a deployment from
// one loop: it asks the Index which organizations have work due, sweeps
// those, and settles each at its next due time, so a tick costs what is
// due, not how many organizations there are. Several replicas may run one
// each: the index leases each organization to one of them, and the due
// items themselves are claimed one by one (Service.Sweep), so nothing is
// done twice.
//
// The single-organization Runner stays, unchanged, for a deployment that
// serves one organization. Running both over one organization does no harm
// (each due item is claimed once), only extra sweeps.
type Fleet struct {
	cfg  FleetConfig
	wake chan struct{}
}

// NewFleet checks cfg and builds a Fleet.
func NewFleet(cfg FleetConfig) (*Fleet, error) {
	if cfg.Index == nil {
		return nil, errors.New("scheduler fleet: no index")
	}
	if cfg.Org == nil {
		return nil, errors.New("scheduler fleet: no organizations")
	}
	if cfg.Deliver == nil {
		return nil, errors.New("scheduler fleet: no delivery")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 32
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 30 * time.Second
	}
	return &Fleet{cfg: cfg, wake: make(chan struct{}, 1)}, nil
}

// Wake makes the loop ask the index now rather than at its next poll (a
// commit in this process rang the index). It never blocks.
func (f *Fleet) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run ticks until ctx ends: at once, then at every poll or wake-up. A
// failed tick is logged; the next poll tries again.
func (f *Fleet) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-f.wake:
		}
		if _, err := f.Tick(ctx); err != nil && ctx.Err() == nil {
			f.cfg.Log.WarnContext(ctx, "scheduler fleet: tick failed", "err", err, "retry_in", f.cfg.Poll)
		}
		t.Reset(f.cfg.Poll)
	}
}

// Tick sweeps every organization due now, Batch at a time, and reports how
// many it swept. Tests and benchmarks drive the fleet with it.
func (f *Fleet) Tick(ctx context.Context) (int, error) {
	swept := 0
	for ctx.Err() == nil {
		now := f.cfg.Now()
		ls, err := f.cfg.Index.Due(ctx, now, f.cfg.Batch, f.cfg.Lease)
		if err != nil {
			return swept, err
		}
		f.sweepAll(ctx, now, ls)
		swept += len(ls)
		if len(ls) < f.cfg.Batch {
			break
		}
	}
	return swept, ctx.Err()
}

// sweepAll sweeps a batch, Parallel at a time.
func (f *Fleet) sweepAll(ctx context.Context, now time.Time, ls []Lease) {
	if len(ls) == 1 || f.cfg.Parallel == 1 {
		for _, l := range ls {
			f.sweep(ctx, now, l)
		}
		return
	}
	sem := make(chan struct{}, f.cfg.Parallel)
	var wg sync.WaitGroup
	for _, l := range ls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f.sweep(ctx, now, l)
		})
	}
	wg.Wait()
}

// sweep does one organization's due work and settles it.
func (f *Fleet) sweep(ctx context.Context, now time.Time, l Lease) {
	log := f.cfg.Log.With("org", l.Org)
	retry := now.Add(f.cfg.RetryAfter)
	w, err := f.cfg.Org(ctx, l.Org)
	switch {
	case err != nil:
		log.ErrorContext(ctx, "scheduler fleet: cannot open the organization", "err", err, "retry_in", f.cfg.RetryAfter)
		f.settle(ctx, log, l, retry)
		return
	case w == nil:
		log.InfoContext(ctx, "scheduler fleet: organization gone; out of the index")
		f.settle(ctx, log, l, time.Time{})
		return
	}
	ds, err := w.Sweep(ctx)
	next := retry
	if err != nil {
		// What it claimed and did not do returns when its claims' leases end.
		log.ErrorContext(ctx, "scheduler fleet: sweep failed", "err", err, "delivered", len(ds))
	}
	if len(ds) > 0 {
		log.InfoContext(ctx, "scheduler fleet: run", "messages", len(ds))
		if err := f.cfg.Deliver(ctx, l.Org, ds); err != nil {
			log.ErrorContext(ctx, "scheduler fleet: delivery failed", "err", err)
		}
	}
	if err == nil {
		if next, err = w.NextDue(ctx, now); err != nil {
			log.WarnContext(ctx, "scheduler fleet: cannot read the next due time", "err", err, "retry_in", f.cfg.RetryAfter)
			next = retry
		}
	}
	f.settle(ctx, log, l, next)
}

func (f *Fleet) settle(ctx context.Context, log *slog.Logger, l Lease, next time.Time) {
	if _, err := f.cfg.Index.Settle(ctx, l, next); err != nil {
		// The lease's end brings the organization back.
		log.WarnContext(ctx, "scheduler fleet: settle failed", "err", err, "next", next)
	}
}

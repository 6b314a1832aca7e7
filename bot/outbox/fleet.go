package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

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

// Index finds the organizations whose outbox has work
// (storage.Fleet.Index(storage.FleetOutbox)).
type Index interface {
	// Due takes up to limit organizations with work at or before now, each
	// for lease.
	Due(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Lease, error)
	// Settle ends a lease: the organization next has work at next (zero:
	// none), or sooner if a job was queued meanwhile.
	Settle(ctx context.Context, l Lease, next time.Time) (bool, error)
}

// OrgQueue is one organization's queue as the fleet works it: the Queue,
// and when it next has work for a worker (storage.Outbox.NextWork: now for
// a job never read, else the first retry time or the reclaim of a job
// another worker holds, after lease; zero when empty).
type OrgQueue interface {
	Queue
	NextWork(ctx context.Context, lease time.Duration) (time.Time, error)
}

// Org is what the fleet sends one organization's messages with.
type Org struct {
	Queue   OrgQueue
	Senders map[string]Sender
	// Prepare is the organization's Worker.Prepare (nil: none).
	Prepare func(ctx context.Context, jobs []Job)
}

// Fleet sends the messages of every organization of a deployment from one
// loop: it asks the Index which organizations have outbox work, gives each
// one turn of at most Worker.Batch jobs (claimed without waiting), handled
// exactly as Worker handles them (pacing, 429s, retries, dead letters), and
// settles each at its next work. One organization with a thousand jobs
// waiting therefore takes its turn behind every organization that was due
// before its turn ended, rather than starving them.
type Fleet struct {
	Index Index
	// Open returns organization id's queue and senders; found false says the
	// organization is gone (it leaves the index). The queue's consumer
	// group need not exist: Claim creates it on first use, so that ten
	// thousand idle organizations cost no group each.
	Open func(ctx context.Context, id org.ID) (o Org, found bool, err error)
	// Worker is the template of each turn: Consumer, Pace, Lease, Attempts,
	// Batch (jobs per organization per turn), Log, Now. Its Queue and
	// Senders are the organization's.
	Worker Worker
	// Poll is how often the fleet asks the index when nothing woke it
	// (default 250 ms). Wake, called on this process's own rings, sends a
	// message queued here within milliseconds.
	Poll time.Duration
	// Orgs is how many organizations one Due takes (default 16).
	Orgs int
	// Parallel is how many organizations take their turn at once (default
	// 4): a bounded pool, so that one organization's slow platform does not
	// hold every other one's messages; its jobs stay in order among
	// themselves.
	Parallel int
	// RetryAfter is when an organization whose turn failed is tried again
	// (default 5 s).
	RetryAfter time.Duration
	// Lease is how long the index keeps an organization for this replica's
	// turn (default 5 s), and so how long a crashed replica's
	// organizations wait for another. It is short, and need not outlast a
	// turn: jobs are claimed one by one in the outbox's consumer group, so a
	// second replica that takes the organization meanwhile sends other jobs,
	// and the first one's late settle is refused.
	Lease time.Duration

	wake chan struct{}
}

func (f *Fleet) defaults() {
	f.Worker.defaults()
	if f.Poll <= 0 {
		f.Poll = 250 * time.Millisecond
	}
	if f.Orgs <= 0 {
		f.Orgs = 16
	}
	if f.Parallel <= 0 {
		f.Parallel = 4
	}
	if f.RetryAfter <= 0 {
		f.RetryAfter = 5 * time.Second
	}
	if f.Lease <= 0 {
		f.Lease = 5 * time.Second
	}
	if f.wake == nil {
		f.wake = make(chan struct{}, 1)
	}
}

// Init sets the defaults; call it before Run, Wake or Turn are called from
// several goroutines.
func (f *Fleet) Init() error {
	if f.Index == nil || f.Open == nil {
		return errors.New("outbox fleet: no index or no Open")
	}
	if f.Worker.Consumer == "" {
		return errors.New("outbox fleet: no consumer name")
	}
	f.defaults()
	return nil
}

// Wake makes the loop ask the index now (a job was queued in this process:
// storage.Fleet.Notify). It never blocks.
func (f *Fleet) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run sends until ctx ends.
func (f *Fleet) Run(ctx context.Context) error {
	if err := f.Init(); err != nil {
		return err
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-f.wake:
		}
		for ctx.Err() == nil {
			n, err := f.Turn(ctx)
			if err != nil && ctx.Err() == nil {
				f.Worker.Log.Warn("outbox fleet: turn failed", "err", err, "retry_in", f.Poll)
			}
			if err != nil || n < f.Orgs {
				break // a full batch: more may be due at once
			}
		}
		t.Reset(f.Poll)
	}
}

// Turn gives one turn to up to Orgs organizations with work now, and
// reports how many.
func (f *Fleet) Turn(ctx context.Context) (int, error) {
	f.defaults()
	ls, err := f.Index.Due(ctx, f.Worker.Now(), f.Orgs, f.Lease)
	if err != nil {
		return 0, fmt.Errorf("outbox fleet: %w", err)
	}
	sem := make(chan struct{}, f.Parallel)
	var wg sync.WaitGroup
	for _, l := range ls {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f.turn(ctx, l)
		})
	}
	wg.Wait()
	return len(ls), nil
}

// turn is one organization's turn: one claim of at most Batch jobs, without
// waiting, handled by a Worker of its own.
func (f *Fleet) turn(ctx context.Context, l Lease) {
	log := f.Worker.Log.With("org", l.Org)
	retry := f.Worker.Now().Add(f.RetryAfter)
	o, found, err := f.Open(ctx, l.Org)
	switch {
	case err != nil:
		log.Error("outbox fleet: cannot open the organization's outbox", "err", err)
		f.settle(ctx, l, retry)
		return
	case !found:
		log.Info("outbox fleet: organization gone; out of the index")
		f.settle(ctx, l, time.Time{})
		return
	}
	w := f.Worker
	w.Queue, w.Senders, w.Prepare, w.Log = o.Queue, o.Senders, o.Prepare, log
	if _, err := w.Step(ctx, -1); err != nil { // -1: do not block (XREADGROUP without BLOCK)
		log.Warn("outbox fleet: claim failed", "err", err)
		f.settle(ctx, l, retry)
		return
	}
	next, err := o.Queue.NextWork(ctx, f.Worker.Lease)
	if err != nil {
		log.Warn("outbox fleet: cannot read the next work", "err", err)
		next = retry
	}
	f.settle(ctx, l, next)
}

func (f *Fleet) settle(ctx context.Context, l Lease, next time.Time) {
	if _, err := f.Index.Settle(ctx, l, next); err != nil {
		// The lease's end brings the organization back.
		f.Worker.Log.Warn("outbox fleet: settle failed", "org", l.Org, "err", err)
	}
}

package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// reconcilePage is how many organizations one pipeline of Reconcile reads:
// a few hundred keeps each pipeline's replies small and its run short.
const reconcilePage = 500

// ReconcileStats is what a Reconcile found: organizations read, and how many
// it rang for each kind of work.
type ReconcileStats struct {
	Orgs             int
	Schedule, Outbox int
	UnplannedDigests int // rung now: never swept, so their digest is not planned
	Failed           int // whose keys could not be read (logged, left for the next pass)
	Elapsed          time.Duration
}

// Reconcile rebuilds both fleet indexes from every organization's own keys:
// each organization in the directory with scheduled work is rung at its
// next due time (now when its digest was never planned), and each with
// outbox work at its next outbox work. It only adds and lowers (rings), so
// it may run while workers run: the worst it does is wake an organization
// that turns out to have nothing due. It is the index's one full pass: at
// start (also the migration of organizations that predate the index) and,
// say, hourly, to find work whose ring a crash lost between a commit and
// its ring. Pipelined, reconcilePage organizations per round trip and a
// round trip to ring them.
//
// now is the schedule's clock (the service's); the outbox is read on the
// real clock. lease is the outbox workers' job lease (a held job comes back
// after it).
func (f *Fleet) Reconcile(ctx context.Context, now time.Time, lease time.Duration) (ReconcileStats, error) {
	start := time.Now()
	var st ReconcileStats
	if err := f.LoadScripts(ctx); err != nil {
		return st, err
	}
	orgs, err := NewDirectory(f.rdb).List(ctx)
	if err != nil {
		return st, fmt.Errorf("fleet reconcile: %w", err)
	}
	st.Orgs = len(orgs)
	for i := 0; i < len(orgs); i += reconcilePage {
		page := orgs[i:min(len(orgs), i+reconcilePage)]
		if err := f.reconcilePage(ctx, page, now, lease, &st); err != nil {
			return st, err
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

func (f *Fleet) reconcilePage(ctx context.Context, page []Organization, now time.Time, lease time.Duration, st *ReconcileStats) error {
	type reads struct {
		id            org.ID
		sched, outbox *redis.Cmd
	}
	rs := make([]reads, 0, len(page))
	_, err := f.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, o := range page {
			k, err := newKeys(o.ID)
			if err != nil {
				return err
			}
			ob := &Outbox{keys: k}
			rs = append(rs, reads{
				id:     o.ID,
				sched:  fleetNextSchedule.EvalSha(ctx, p, []string{k.due(), k.claimed(), k.digest()}),
				outbox: outboxNext.EvalSha(ctx, p, ob.nextKeys(), outboxGroup, lease.Milliseconds()),
			})
		}
		return nil
	})
	if err != nil && unavailable(err) {
		// Otherwise each organization's own reply says what failed for it.
		return wrap("fleet reconcile: read organizations", err)
	}
	realNow := time.Now()
	_, err = f.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range rs {
			res, err := r.sched.Int64Slice()
			if err != nil {
				f.logger().WarnContext(ctx, "fleet reconcile: cannot read the schedule", "org", r.id, "err", err)
				st.Failed++
				continue
			}
			next, unplanned := nextScheduled(res, now)
			if unplanned {
				next = now
				st.UnplannedDigests++
			}
			if !next.IsZero() {
				fleetRing.EvalSha(ctx, p, fleetKeys(FleetSchedule)[:3], string(r.id), next.UnixMilli())
				st.Schedule++
			}
			res, err = r.outbox.Int64Slice()
			if err != nil {
				f.logger().WarnContext(ctx, "fleet reconcile: cannot read the outbox", "org", r.id, "err", err)
				st.Failed++
				continue
			}
			if next := nextOutboxWork(res, realNow); !next.IsZero() {
				fleetRing.EvalSha(ctx, p, fleetKeys(FleetOutbox)[:3], string(r.id), next.UnixMilli())
				st.Outbox++
			}
		}
		return nil
	})
	return wrap("fleet reconcile: ring", err)
}

// ReconcileEvery runs Reconcile at once and then every interval (default an
// hour) until ctx ends, logging each pass; a failed pass is retried at the
// next. now is the schedule's clock (nil: time.Now), lease the outbox
// workers' job lease. Every replica may run it: a pass only rings.
func (f *Fleet) ReconcileEvery(ctx context.Context, interval time.Duration, now func() time.Time, lease time.Duration) error {
	if interval <= 0 {
		interval = time.Hour
	}
	if now == nil {
		now = time.Now
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st, err := f.Reconcile(ctx, now(), lease)
		switch {
		case err != nil && ctx.Err() == nil:
			f.logger().WarnContext(ctx, "fleet reconcile failed; next pass in an interval", "err", err, "interval", interval)
		case err == nil:
			f.logger().InfoContext(ctx, "fleet reconcile", "orgs", st.Orgs, "schedule", st.Schedule, "outbox", st.Outbox,
				"unplanned_digests", st.UnplannedDigests, "failed", st.Failed, "elapsed", st.Elapsed)
		}
		t.Reset(interval)
	}
}

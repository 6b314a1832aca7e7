package storage

import (
	"context"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// What a commit tells the fleet index (fleet.go), and what an organization's
// own keys say about when it next has work, which a worker reads before it
// settles the organization and Reconcile reads for every organization.

// ringFor rings the fleet index for a committed change: "schedule" at the
// earliest due time the change wrote into the due zset, "outbox" when it
// queued messages. Both rings go in one round trip. A change that makes an
// invitation pending or changes settings rings "schedule" now: the sweep
// plans the admin digest (Service.Sweep's planDigest), which no commit
// writes by itself, and re-plans it when digest-schedule or the timezone
// changed.
func (s *Store) ringFor(ctx context.Context, ch org.Change) {
	if s.fleet != nil {
		s.ring(ctx, s.ringsOf(ch))
	}
}

// ring sends rs after a write that already succeeded: its failure must not
// fail the write, so it is logged, and Reconcile finds the work.
func (s *Store) ring(ctx context.Context, rs map[ringKey]int64) {
	if len(rs) == 0 {
		return
	}
	if err := s.fleet.ringAll(ctx, rs); err != nil {
		s.fleet.logger().WarnContext(ctx, "fleet: ring failed; the next reconcile finds the work", "org", s.keys.org, "err", err)
	}
}

// ringsOf is what ringFor rings for ch (nil: nothing), each kind's time in
// Unix milliseconds.
func (s *Store) ringsOf(ch org.Change) map[ringKey]int64 {
	now := ch.Now
	if now.IsZero() {
		now = time.Now()
	}
	var at time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	for _, w := range ch.Invitations {
		if w.Invitation.Status != org.InvitationPending {
			continue
		}
		if w.Expect != org.InvitationPending {
			earlier(now) // newly pending: the digest may have to be planned
		}
		earlier(w.Invitation.NextDue())
	}
	if ch.Digest != nil {
		earlier(ch.Digest.Next)
	}
	if len(ch.Settings) > 0 {
		earlier(now)
	}
	var rs map[ringKey]int64
	if !at.IsZero() {
		rs = map[ringKey]int64{{FleetSchedule, s.keys.org}: at.UnixMilli()}
	}
	if len(ch.Messages) > 0 {
		if rs == nil {
			rs = map[ringKey]int64{}
		}
		// The outbox runs on the real clock (its pacing, its retries), not
		// the service's.
		rs[ringKey{FleetOutbox, s.keys.org}] = time.Now().UnixMilli()
	}
	return rs
}

// NextDue is when the organization next has scheduled work: its first due
// item, or the end of the first lease on claimed items (a replica that
// claimed them may have died; the next Claim puts them back), whichever
// comes first; zero when it has none. now is the caller's clock, the one the
// due times are written in.
func (s *Store) NextDue(ctx context.Context, now time.Time) (time.Time, error) {
	res, err := fleetNextSchedule.Run(ctx, s.rdb, []string{s.keys.due(), s.keys.claimed(), s.keys.digest()}).Int64Slice()
	if err != nil {
		return time.Time{}, wrap("next due", err)
	}
	next, _ := nextScheduled(res, now)
	return next, nil
}

// nextScheduled reads fleet_next_schedule.lua's reply; unplanned reports an
// organization whose digest was never planned.
func nextScheduled(res []int64, now time.Time) (next time.Time, unplanned bool) {
	if len(res) != 3 {
		return time.Time{}, false
	}
	if res[0] >= 0 {
		next = time.UnixMilli(res[0]).UTC()
	}
	if res[1] >= 0 {
		if t := now.Add(time.Duration(res[1]) * time.Millisecond); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next, res[2] == 1
}

// NextWork is when the outbox next has work for a worker, either stream:
// now when a job was never read, else the first retry time, or when the
// first job a worker holds may be reclaimed (after lease, as Claim does);
// zero when it is empty.
func (o *Outbox) NextWork(ctx context.Context, lease time.Duration) (time.Time, error) {
	res, err := outboxNext.Run(ctx, o.rdb, o.nextKeys(), outboxGroup, lease.Milliseconds()).Int64Slice()
	if err != nil {
		return time.Time{}, wrap("outbox next work", err)
	}
	return nextOutboxWork(res, time.Now()), nil
}

func (o *Outbox) nextKeys() []string {
	ls := o.lanes()
	return []string{ls[0].stream, ls[0].later, ls[1].stream, ls[1].later}
}

// nextOutboxWork reads outbox_next.lua's reply.
func nextOutboxWork(res []int64, now time.Time) time.Time {
	if len(res) != 3 {
		return time.Time{}
	}
	if res[0] == 1 {
		return now
	}
	var next time.Time
	if res[1] >= 0 {
		next = time.UnixMilli(res[1]).UTC()
	}
	if res[2] >= 0 {
		if t := now.Add(time.Duration(res[2]) * time.Millisecond); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

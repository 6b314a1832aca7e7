package handlers_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// tickOrg is an organization with `pending` pending invitations, `due` of
// which fall due at every tick of the benchmark.
type tickOrg struct {
	e      *env
	rt     *storage.RoundTrips
	dueIDs []string
}

const tickDue = 1000

func newTickOrg(b *testing.B, srv *redistest.Server, pending int) *tickOrg {
	b.Helper()
	rdb := srv.Client(b)
	rt := &storage.RoundTrips{}
	rdb.AddHook(rt)
	e := newSchedEnv(b, rdb, nil)
	e.at(time.Minute)
	start := time.Now()
	// The rest first, planned for later, two writers at once; then the due ones.
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() { seedPending(b, e, (pending-tickDue)/2+w*((pending-tickDue)%2), e.clock.Now().Add(2*day)) })
	}
	wg.Wait()
	o := &tickOrg{e: e, rt: rt, dueIDs: seedPending(b, e, tickDue, e.clock.Now())}
	if n, _ := rdb.ZCard(context.Background(), "usher:{"+e.org+"}:pending").Result(); n != int64(pending) {
		b.Fatalf("%d pending, want %d", n, pending)
	}
	b.Logf("%d pending invitations written in %v", pending, time.Since(start).Round(time.Millisecond))
	e.sweep() // plans the digest (next Monday): not part of a tick
	o.reset()
	return o
}

// reset makes the due invitations due again (not timed): one read, one commit.
func (o *tickOrg) reset() {
	e := o.e
	ctx := context.Background()
	snap, err := e.store.Load(ctx, org.Query{Invitations: o.dueIDs})
	if err != nil {
		e.t.Fatal(err)
	}
	ch := org.Change{Now: e.clock.Now()}
	for _, id := range o.dueIDs {
		inv := snap.Invitations[id]
		next := inv.Clone()
		next.Reminders, next.NextRemind = 0, e.clock.Now().Add(-time.Minute)
		ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: next, Expect: org.InvitationPending, Version: inv.Version})
	}
	if err := e.store.Commit(ctx, ch); err != nil {
		e.t.Fatal(err)
	}
}

// tick runs one scheduled run and checks it reminded every due invitation.
func (o *tickOrg) tick() time.Duration {
	start := time.Now()
	ds, err := o.e.svc.Sweep(context.Background())
	d := time.Since(start)
	if err != nil {
		o.e.t.Fatal(err)
	}
	if n := len(reminders(ds)); n != tickDue {
		o.e.t.Fatalf("a tick sent %d reminders, want %d", n, tickDue)
	}
	return d
}

// BenchmarkReminderTick: one scheduled run with 1,000 invitations due, among
// 10,000 and among 1,000,000 pending ones. A run finds its work through the
// due queue, so it must cost the same whatever the total: the 1,000,000 case
// reports its time per tick as a ratio (x-pending=10000) to the 10,000 case
// measured in the same loop, tick for tick, so both see the same noise (the
// median of the per-tick ratios), and fails above 1.5. Setup writes 1,000,000 invitations (about a minute and
// 1 GB of Redis); run it with make bench (BENCH=ReminderTick).
func BenchmarkReminderTick(b *testing.B) {
	srv := redistest.Start(b)
	small := newTickOrg(b, srv, 10_000)
	large := newTickOrg(b, srv, 1_000_000)

	b.Run("pending=10000", func(b *testing.B) {
		small.e.t = b
		small.rt.Reset()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			small.reset()
			b.StartTimer()
			small.tick()
		}
		b.ReportMetric(float64(small.rt.Count())/float64(b.N)-2, "roundtrips/tick") // less reset's two
	})
	b.Run("pending=1000000", func(b *testing.B) {
		large.e.t, small.e.t = b, b
		large.rt.Reset()
		ratios := make([]float64, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			large.reset()
			small.reset()
			// The baseline tick, untimed by the benchmark, before or after
			// (alternately) the timed one, so that neither always runs on a
			// warmer cache.
			var base time.Duration
			if i%2 == 0 {
				base = small.tick()
			}
			b.StartTimer()
			big := large.tick()
			b.StopTimer()
			if i%2 == 1 {
				base = small.tick()
			}
			b.StartTimer()
			ratios = append(ratios, float64(big)/float64(base))
		}
		// The median of the tick-for-tick ratios: a burst of noise from
		// another process on the machine moves it less than it moves a sum.
		slices.Sort(ratios)
		ratio := ratios[len(ratios)/2]
		b.ReportMetric(float64(large.rt.Count())/float64(b.N)-2, "roundtrips/tick")
		b.ReportMetric(ratio, "x-pending=10000")
		if ratio > 1.5 {
			b.Errorf("a tick over 1,000,000 pending invitations costs %.2fx one over 10,000 (limit 1.5x)", ratio)
		}
	})
}

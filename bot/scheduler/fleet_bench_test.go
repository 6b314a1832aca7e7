package scheduler_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// fleetBenchDue is how many organizations have a reminder due at each tick.
const fleetBenchDue = 10

// tickFleet is a deployment on a redis-server of its own: fleetBenchDue
// organizations whose invitation's reminder falls due at every tick, and
// `idle` more with nothing due (a directory entry, settings, the digest
// planned for next week: what an organization nobody uses holds).
type tickFleet struct {
	srv    *redistest.Server
	d      *deployment
	runner *scheduler.Fleet
	// memoryPerIdle is the idle organizations' INFO used_memory delta, per
	// organization; memoryReport its breakdown.
	memoryPerIdle float64
	memoryReport  string
}

func newTickFleet(b *testing.B, idle int) *tickFleet {
	b.Helper()
	ctx := context.Background()
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	tf := &tickFleet{srv: srv}
	tf.d = newDeployment(b, rdb, fleetBenchDue, 1)
	tf.d.clock.Advance(time.Hour) // Monday 10:00: the digests are next Monday's
	if idle > 0 {
		tf.memoryPerIdle, tf.memoryReport = addIdle(b, rdb, tf.d, idle)
	}
	f, err := scheduler.NewFleet(scheduler.FleetConfig{
		Index: tf.d.fleet.Index(storage.FleetSchedule),
		Org: func(_ context.Context, id org.ID) (scheduler.Work, error) {
			return tf.d.replicas[0][id], nil
		},
		Deliver: func(context.Context, org.ID, []handlers.Delivery) error { return nil },
		Now:     tf.d.clock.Now,
		// The defaults of serve: 4 at once.
	})
	if err != nil {
		b.Fatal(err)
	}
	tf.runner = f
	// Plan every due organization's digest (their first sweep), so that a
	// tick is reminders only.
	if _, err := f.Tick(ctx); err != nil {
		b.Fatal(err)
	}
	f.Tick(ctx)
	if n, _ := f.Tick(ctx); n != 0 {
		b.Fatalf("%d organizations still due after planning", n)
	}
	// The one full pass (at start, then hourly): what it costs at this size.
	st, err := tf.d.fleet.Reconcile(ctx, tf.d.clock.Now(), 30*time.Second)
	if err != nil || st.Failed > 0 {
		b.Fatalf("reconcile %+v: %v", st, err)
	}
	tf.memoryReport += fmt.Sprintf(". Reconcile over %d organizations: %v (%d scheduled, %d outbox)", st.Orgs, st.Elapsed.Round(time.Millisecond), st.Schedule, st.Outbox)
	if n, _ := f.Tick(ctx); n != 0 {
		b.Fatalf("%d organizations due after reconcile: it rang too early", n)
	}
	return tf
}

// addIdle adds n idle organizations, 32 at once through the real code (the
// directory's create, a settings commit, the digest's plan), then settles
// each in the index as a sweep would, and measures what they hold: INFO
// used_memory before and after, per organization, and MEMORY USAGE of one
// organization's keys.
func addIdle(b *testing.B, rdb *redis.Client, d *deployment, n int) (float64, string) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	used := func() int64 {
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		b.Fatal("no used_memory in INFO")
		return 0
	}
	dir := storage.NewDirectory(rdb)
	before := used()
	now := d.clock.Now()
	nextMonday := time.Date(2026, 1, 12, 9, 0, 0, 0, time.UTC)
	ids := make(chan org.ID)
	var wg sync.WaitGroup
	var failed sync.Once
	var firstErr error
	for range 32 {
		wg.Go(func() {
			for id := range ids {
				err := dir.Create(ctx, storage.Organization{ID: id, Name: "Idle " + string(id), Platforms: []string{"slack"}, Created: now})
				if err == nil {
					var st *storage.Store
					if st, err = storage.New(rdb, id); err == nil {
						st.UseFleet(d.fleet)
						err = st.Commit(ctx, org.Change{Now: now, Settings: map[string]string{"name": "Idle " + string(id), "timezone": "UTC"},
							Digest: &org.DigestWrite{Next: nextMonday, Schedule: org.DefaultDigestSchedule + " in UTC"}})
					}
				}
				if err != nil {
					failed.Do(func() { firstErr = fmt.Errorf("%s: %w", id, err) })
				}
			}
		})
	}
	for i := range n {
		ids <- org.ID(fmt.Sprintf("idle%05d", i))
	}
	close(ids)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	// Each settings commit rang the organization now (the digest may need
	// planning); settle each at its next due time, as its sweep would.
	for {
		ls, err := d.fleet.Due(ctx, storage.FleetSchedule, now, 1000, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if len(ls) == 0 {
			break
		}
		for _, l := range ls {
			if strings.HasPrefix(string(l.Org), "idle") {
				if _, err := d.fleet.Settle(ctx, storage.FleetSchedule, l, nextMonday); err != nil {
					b.Fatal(err)
				}
			} else if _, err := d.fleet.Settle(ctx, storage.FleetSchedule, l, now); err != nil {
				b.Fatal(err)
			}
		}
		if len(ls) < 1000 {
			break
		}
	}
	after := used()
	per := float64(after-before) / float64(n)
	usage := func(key string) int64 {
		v, _ := rdb.MemoryUsage(ctx, key, 0).Result() // 0: every element, not a sample
		return v
	}
	one := "idle00000"
	total := n + fleetBenchDue
	settings, dirHash, index := usage("usher:{"+one+"}:settings"), usage("usher:{_directory}:orgs"), usage("usher:{_directory}:fleet:schedule")
	report := fmt.Sprintf("%d idle organizations written in %v. Per idle organization: directory entry + settings = %d bytes "+
		"(settings hash %d, its share of the directory hash %d); everything it holds = %.0f bytes (INFO used_memory +%d over %d: "+
		"also its digest plan %d, its due zset %d, its fleet index member %d)",
		n, time.Since(start).Round(time.Millisecond), settings+dirHash/int64(total), settings, dirHash/int64(total), per, after-before, n,
		usage("usher:{"+one+"}:digest"), usage("usher:{"+one+"}:due"), index/int64(total))
	return per, report
}

// reset makes each due organization's invitation due again (not timed).
func (tf *tickFleet) reset(b *testing.B) {
	ctx := context.Background()
	now := tf.d.clock.Now()
	for _, id := range tf.d.orgs {
		st := tf.d.replicas[0][id].Store
		snap, err := st.Load(ctx, org.Query{Invitation: tf.d.invites[id]})
		if err != nil {
			b.Fatal(err)
		}
		inv := snap.Invitation.Clone()
		inv.Reminders, inv.NextRemind = 0, now.Add(-time.Minute)
		err = st.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: inv, Expect: org.InvitationPending, Version: snap.Invitation.Version}}})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// tick runs one fleet tick and returns the CPU it cost this process and
// redis-server together, and its wall time.
func (tf *tickFleet) tick(b *testing.B) (cpu, wall time.Duration) {
	redis0, self0 := tf.srv.CPU(b), selfCPU()
	start := time.Now()
	n, err := tf.runner.Tick(context.Background())
	wall = time.Since(start)
	cpu = selfCPU() - self0 + tf.srv.CPU(b) - redis0
	if err != nil || n != fleetBenchDue {
		b.Fatalf("a tick swept %d organizations (%v), want %d", n, err, fleetBenchDue)
	}
	return cpu, wall
}

// selfCPU is this process's CPU time (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFleetTick: one fleet tick with 10 organizations due, in a
// deployment of 10 organizations and in one of 10,000 (the same 10 due,
// 9,990 idle). The due-organizations index makes a tick cost what is due,
// so the 10,000 case reports its CPU per tick (this process plus
// redis-server) as a ratio (x-orgs=10) to the 10 case measured in the same
// loop, tick for tick, alternating which goes first (the median of the
// per-tick ratios), and fails above 1.5. It also reports what an idle
// organization holds in Redis (bytes/idle-org).
func BenchmarkFleetTick(b *testing.B) {
	small := newTickFleet(b, 0)
	large := newTickFleet(b, 10_000-fleetBenchDue)

	b.Run("orgs=10", func(b *testing.B) {
		var cpu time.Duration
		for range b.N {
			b.StopTimer()
			small.reset(b)
			b.StartTimer()
			c, _ := small.tick(b)
			cpu += c
		}
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/tick")
	})
	b.Run("orgs=10000", func(b *testing.B) {
		ratios := make([]float64, 0, b.N)
		var cpu, baseCPU time.Duration
		for i := range b.N {
			b.StopTimer()
			large.reset(b)
			small.reset(b)
			var base time.Duration
			if i%2 == 0 {
				base, _ = small.tick(b)
			}
			b.StartTimer()
			big, _ := large.tick(b)
			b.StopTimer()
			if i%2 == 1 {
				base, _ = small.tick(b)
			}
			b.StartTimer()
			cpu += big
			baseCPU += base
			ratios = append(ratios, float64(big)/float64(base))
		}
		slices.Sort(ratios)
		ratio := ratios[len(ratios)/2]
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/tick")
		b.ReportMetric(float64(baseCPU.Microseconds())/float64(b.N), "baseline-cpu-µs/tick")
		b.ReportMetric(ratio, "x-orgs=10")
		b.ReportMetric(large.memoryPerIdle, "bytes/idle-org")
		b.Log(large.memoryReport)
		b.Logf("CPU per tick (usher + redis-server): %v over 10,000 organizations, %v over 10 (baseline, same run): median ratio %.2fx",
			cpu/time.Duration(b.N), baseCPU/time.Duration(b.N), ratio)
		if ratio > 1.5 {
			b.Errorf("a tick over 10,000 organizations costs %.2fx one over 10 (limit 1.5x)", ratio)
		}
	})
}

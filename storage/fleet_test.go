package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// The fleet index is deployment-wide: these tests start a server of their own.

func newFleet(t *testing.T) (*storage.Fleet, *redis.Client) {
	t.Helper()
	rdb := redistest.Start(t).Client(t)
	f := storage.NewFleet(rdb)
	if err := f.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f, rdb
}

func next(t *testing.T, f *storage.Fleet, kind storage.FleetKind, id org.ID) time.Time {
	t.Helper()
	at, err := f.Next(context.Background(), kind, id)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func due(t *testing.T, f *storage.Fleet, now time.Time, limit int) []storage.FleetLease {
	t.Helper()
	ls, err := f.Due(context.Background(), storage.FleetSchedule, now, limit, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func settle(t *testing.T, f *storage.Fleet, l storage.FleetLease, at time.Time) bool {
	t.Helper()
	ok, err := f.Settle(context.Background(), storage.FleetSchedule, l, at)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func orgsOf(ls []storage.FleetLease) []org.ID {
	var ids []org.ID
	for _, l := range ls {
		ids = append(ids, l.Org)
	}
	return ids
}

// TestFleetRingDueSettle: a ring lowers (never raises) an organization's
// time; Due takes the due ones, longest due first, and hides them for the
// lease; Settle places them at their next work or drops them.
func TestFleetRingDueSettle(t *testing.T) {
	f, _ := newFleet(t)
	ctx := context.Background()
	for _, r := range []struct {
		id org.ID
		at time.Time
	}{{"a", now.Add(time.Hour)}, {"a", now.Add(-time.Minute)}, {"a", now.Add(2 * time.Hour)}, {"b", now.Add(-2 * time.Minute)}, {"c", now.Add(time.Hour)}} {
		if err := f.Ring(ctx, storage.FleetSchedule, r.id, r.at); err != nil {
			t.Fatal(err)
		}
	}
	if got := next(t, f, storage.FleetSchedule, "a"); !got.Equal(now.Add(-time.Minute)) {
		t.Fatalf("a at %v: a later ring raised it", got)
	}
	ls := due(t, f, now, 10)
	if ids := orgsOf(ls); len(ids) != 2 || ids[0] != "b" || ids[1] != "a" {
		t.Fatalf("due %v, want [b a]", ids)
	}
	if again := due(t, f, now, 10); len(again) != 0 {
		t.Fatalf("leased organizations handed out again: %v", orgsOf(again))
	}
	if !settle(t, f, ls[0], time.Time{}) || !settle(t, f, ls[1], now.Add(3*time.Hour)) {
		t.Fatal("settle refused its own lease")
	}
	if got := next(t, f, storage.FleetSchedule, "b"); !got.IsZero() {
		t.Errorf("b with nothing left is still in the index at %v", got)
	}
	if got := next(t, f, storage.FleetSchedule, "a"); !got.Equal(now.Add(3 * time.Hour)) {
		t.Errorf("a settled at %v, want +3h", got)
	}
	if other, _ := f.Next(ctx, storage.FleetOutbox, "a"); !other.IsZero() {
		t.Errorf("the outbox index has a: the kinds are not apart")
	}
}

// TestFleetRingDuringLeaseIsKept closes the race "the worker reads nothing,
// a commit adds work and rings, the worker settles the organization as
// idle": the ring is counted by Settle.
func TestFleetRingDuringLeaseIsKept(t *testing.T) {
	f, _ := newFleet(t)
	ctx := context.Background()
	f.Ring(ctx, storage.FleetSchedule, "a", now)
	ls := due(t, f, now, 10)
	// The worker read "nothing left"; meanwhile a commit rings at +5m.
	if err := f.Ring(ctx, storage.FleetSchedule, "a", now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := due(t, f, now.Add(10*time.Second), 10); len(got) != 0 {
		t.Fatalf("a ring during the lease handed a to a second worker")
	}
	settle(t, f, ls[0], time.Time{})
	if got := next(t, f, storage.FleetSchedule, "a"); !got.Equal(now.Add(5 * time.Minute)) {
		t.Fatalf("a at %v after settling: the ring during the lease was lost", got)
	}
	// And a later next than the ring loses to it; an earlier wins.
	ls = due(t, f, now.Add(5*time.Minute), 10)
	f.Ring(ctx, storage.FleetSchedule, "a", now.Add(time.Hour))
	settle(t, f, ls[0], now.Add(30*time.Minute))
	if got := next(t, f, storage.FleetSchedule, "a"); !got.Equal(now.Add(30 * time.Minute)) {
		t.Fatalf("a at %v, want the worker's +30m", got)
	}
}

// TestFleetLeaseComesBack: a worker that dies holding an organization leaves
// it to come back when the lease ends; its late Settle is then refused, so
// it cannot overwrite what the new holder settled.
func TestFleetLeaseComesBack(t *testing.T) {
	f, _ := newFleet(t)
	ctx := context.Background()
	f.Ring(ctx, storage.FleetSchedule, "a", now)
	dead := due(t, f, now, 10)
	if got := due(t, f, now.Add(59*time.Second), 10); len(got) != 0 {
		t.Fatal("taken again within the lease")
	}
	again := due(t, f, now.Add(time.Minute), 10)
	if len(again) != 1 || again[0].Org != "a" || again[0].Token == dead[0].Token {
		t.Fatalf("after the lease: %v (dead lease %v)", again, dead)
	}
	if settle(t, f, dead[0], time.Time{}) {
		t.Fatal("the dead worker's late settle was accepted")
	}
	settle(t, f, again[0], now.Add(time.Hour))
	if got := next(t, f, storage.FleetSchedule, "a"); !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("a at %v, want +1h", got)
	}
}

// TestFleetDueIsBounded: Due takes at most limit, the longest due first, so
// a worker's turn is bounded and the others wait their turn, not forever.
func TestFleetDueIsBounded(t *testing.T) {
	f, _ := newFleet(t)
	ctx := context.Background()
	for i := range 5 {
		f.Ring(ctx, storage.FleetSchedule, org.ID(string(rune('a'+i))), now.Add(time.Duration(i)*time.Second))
	}
	first := orgsOf(due(t, f, now.Add(time.Minute), 2))
	second := orgsOf(due(t, f, now.Add(time.Minute), 10))
	if len(first) != 2 || first[0] != "a" || first[1] != "b" || len(second) != 3 || second[0] != "c" {
		t.Fatalf("turns %v then %v", first, second)
	}
}

// TestCommitRingsTheFleet: a commit that writes due work rings "schedule"
// at its earliest due time (now, for a newly pending invitation: the digest
// may need planning); one that queues messages rings "outbox"; an Add and a
// Later of the outbox ring "outbox".
func TestCommitRingsTheFleet(t *testing.T) {
	f, rdb := newFleet(t)
	ctx := context.Background()
	s := newStore(t, rdb, "ringer")
	notified := map[storage.FleetKind]int{}
	f.Notify = func(kind storage.FleetKind, id org.ID) { notified[kind]++ }
	s.UseFleet(f)
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("a@example.com")}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, f, storage.FleetSchedule, "ringer"); !got.IsZero() {
		t.Fatalf("a commit with no due work rang at %v", got)
	}
	inv := pendingInvitation("inv1", now.Add(24*time.Hour))
	err := s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: inv}},
		Messages: []org.QueuedMessage{{Platform: "slack", Channel: "D1", Payload: []byte("hi")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := next(t, f, storage.FleetSchedule, "ringer"); !got.Equal(now) {
		t.Errorf("new invitation rang schedule at %v, want now", got)
	}
	if got := next(t, f, storage.FleetOutbox, "ringer"); got.IsZero() {
		t.Error("queued message did not ring the outbox")
	}
	if notified[storage.FleetSchedule] != 1 || notified[storage.FleetOutbox] != 1 {
		t.Errorf("notified %v", notified)
	}
	// The store's own read of its next work: the invitation's reminder.
	if got, err := s.NextDue(ctx, now); err != nil || !got.Equal(now.Add(24*time.Hour)) {
		t.Errorf("NextDue = %v, %v; want +24h", got, err)
	}
	ob, err := storage.NewOutbox(rdb, "ringer")
	if err != nil {
		t.Fatal(err)
	}
	ob.UseFleet(f)
	if _, err := ob.Add(ctx, storage.Job{Platform: "slack", Channel: "D2", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if notified[storage.FleetOutbox] != 2 {
		t.Errorf("Add did not ring: %v", notified)
	}
	// The outbox's own read: never read jobs are due now (no group yet: first use).
	if got, err := ob.NextWork(ctx, 30*time.Second); err != nil || got.IsZero() || time.Since(got) > time.Minute {
		t.Errorf("NextWork = %v, %v; want now", got, err)
	}
}

// TestOutboxNextWork: the outbox's next work is now for unread jobs, the
// first retry time, or the reclaim of a held job after its lease; zero when
// empty.
func TestOutboxNextWork(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	ob, err := storage.NewOutbox(rdb, "nextwork")
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	nw := func() time.Time {
		t.Helper()
		at, err := ob.NextWork(ctx, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	if got := nw(); !got.IsZero() {
		t.Fatalf("empty outbox has work at %v", got)
	}
	ob.Add(ctx, storage.Job{Platform: "slack", Channel: "D1", Payload: []byte("x")})
	if got := nw(); got.IsZero() || time.Since(got) > time.Second {
		t.Fatalf("unread job: next %v, want now", got)
	}
	jobs, err := ob.Claim(ctx, "w1", 10, -1, 30*time.Second)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	if got := time.Until(nw()); got < 25*time.Second || got > 31*time.Second {
		t.Fatalf("held job: next in %v, want about the lease (30s)", got)
	}
	retry := time.Now().Add(10 * time.Second).Truncate(time.Millisecond)
	if err := ob.Later(ctx, jobs[0], retry); err != nil {
		t.Fatal(err)
	}
	if got := nw(); !got.Equal(retry.UTC()) {
		t.Fatalf("delayed job: next %v, want %v", got, retry)
	}
}

// TestReconcileRebuildsTheIndex: with the index lost (or never built: an
// organization older than it), Reconcile finds each organization's work
// from its own keys: scheduled work at its due time, a never planned digest
// now, queued messages now; an idle organization stays out.
func TestReconcileRebuildsTheIndex(t *testing.T) {
	f, rdb := newFleet(t)
	ctx := context.Background()
	d := storage.NewDirectory(rdb)
	if err := d.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []org.ID{"due", "digest", "queued", "idle"} {
		if err := d.Create(ctx, storage.Organization{ID: id, Name: string(id)}); err != nil {
			t.Fatal(err)
		}
	}
	s := newStore(t, rdb, "due")
	s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: pendingInvitation("i1", now.Add(48*time.Hour))}},
		Digest: &org.DigestWrite{Next: now.Add(72 * time.Hour), Schedule: "0 9 * * MON in UTC"}})
	idle := newStore(t, rdb, "idle")
	idle.Commit(ctx, org.Change{Now: now, Digest: &org.DigestWrite{Next: time.Time{}, Schedule: "off"}})
	ob, _ := storage.NewOutbox(rdb, "queued")
	ob.Add(ctx, storage.Job{Platform: "slack", Channel: "D1", Payload: []byte("x")})
	newStore(t, rdb, "queued").Commit(ctx, org.Change{Now: now, Digest: &org.DigestWrite{Schedule: "off"}})
	if err := rdb.Del(ctx, "usher:{_directory}:fleet:schedule", "usher:{_directory}:fleet:outbox").Err(); err != nil {
		t.Fatal(err)
	}
	st, err := f.Reconcile(ctx, now, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.Orgs != 4 || st.Schedule != 2 || st.Outbox != 1 || st.UnplannedDigests != 1 || st.Failed != 0 {
		t.Errorf("reconcile %+v; want 4 orgs, 2 scheduled (due, digest), 1 outbox, 1 unplanned digest", st)
	}
	for _, c := range []struct {
		kind storage.FleetKind
		id   org.ID
		want time.Time
	}{
		{storage.FleetSchedule, "due", now.Add(48 * time.Hour)},
		{storage.FleetSchedule, "digest", now},
		{storage.FleetSchedule, "idle", time.Time{}},
		{storage.FleetSchedule, "queued", time.Time{}},
		{storage.FleetOutbox, "due", time.Time{}},
		{storage.FleetOutbox, "idle", time.Time{}},
	} {
		if got := next(t, f, c.kind, c.id); !got.Equal(c.want) {
			t.Errorf("%s %s at %v, want %v", c.kind, c.id, got, c.want)
		}
	}
	if got := next(t, f, storage.FleetOutbox, "queued"); got.IsZero() {
		t.Error("queued's message not found")
	}
}

// TestFleetRingsCoalesce: messages queued at once in many organizations
// each ring the index after their write; the rings that arrive while one is
// under way go together, so every organization is in the index and the
// rings took fewer round trips than there were writes.
func TestFleetRingsCoalesce(t *testing.T) {
	srv := redistest.Start(t)
	rt := &storage.RoundTrips{}
	rdb := srv.Client(t)
	rdb.AddHook(rt)
	f := storage.NewFleet(rdb)
	ctx := context.Background()
	if err := f.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 64
	var obs []*storage.Outbox
	for i := range n {
		ob, err := storage.NewOutbox(rdb, org.ID(fmt.Sprintf("coalesce-%02d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ob.UseFleet(f)
		if err := ob.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		obs = append(obs, ob)
	}
	rt.Reset()
	var wg sync.WaitGroup
	for _, ob := range obs {
		wg.Go(func() {
			if _, err := ob.Add(ctx, storage.Job{Platform: "slack", Channel: "D1", Payload: []byte("hi")}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	trips := rt.Count()
	for _, ob := range obs {
		if next(t, f, storage.FleetOutbox, ob.Org()).IsZero() {
			t.Errorf("%s queued a message but is not in the index", ob.Org())
		}
	}
	t.Logf("%d writes and their rings: %d round trips", n, trips)
	if trips >= 2*n {
		t.Errorf("%d round trips for %d writes and their rings: none coalesced", trips, n)
	}
}

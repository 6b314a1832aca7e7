package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const boss = "boss@example.com"

// work is one organization's Work on one replica: its Service sweeps, its
// Store says what is due next (the serve wiring's composition).
type work struct {
	*handlers.Service
	*storage.Store
}

// deployment is organizations on one Redis served by replicas, each with its
// own Service and Store per organization, on one clock.
type deployment struct {
	rdb      redis.UniversalClient
	fleet    *storage.Fleet
	clock    *handlerstest.Clock
	orgs     []org.ID
	replicas []map[org.ID]work
	invites  map[org.ID]string // the invitation each organization sent

	mu        sync.Mutex
	reminders map[org.ID]int // reminders delivered, all replicas together
	notices   map[org.ID]int // notices delivered (the expiry's, a digest)
	twice     []string       // a message delivered a second time
	seen      map[string]bool

	// queue, when set, queues every invitation and every sweep's messages
	// in the organization's outbox (as the delivery router does), for
	// outbox fleets to send.
	queue bool
}

// newDeployment makes n organizations, each with an admin who invited one
// person, served by `replicas` replicas; setup runs 16 organizations at once.
func newDeployment(t testing.TB, rdb redis.UniversalClient, n, replicas int, queue ...bool) *deployment {
	t.Helper()
	ctx := context.Background()
	d := &deployment{rdb: rdb, fleet: storage.NewFleet(rdb), clock: handlerstest.NewClock(),
		invites: map[org.ID]string{}, reminders: map[org.ID]int{}, notices: map[org.ID]int{}, seen: map[string]bool{},
		queue: len(queue) > 0 && queue[0]}
	if err := d.fleet.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	for range replicas {
		d.replicas = append(d.replicas, map[org.ID]work{})
	}
	dir := storage.NewDirectory(rdb)
	if err := dir.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		d.orgs = append(d.orgs, org.ID(fmt.Sprintf("fleet%04d", i)))
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan org.ID)
	)
	for range 16 {
		wg.Go(func() {
			for id := range next {
				ws, inv, err := d.open(ctx, dir, id)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", id, err))
				} else {
					for r, w := range ws {
						d.replicas[r][id] = w
					}
					d.invites[id] = inv
				}
				mu.Unlock()
			}
		})
	}
	for i, id := range d.orgs {
		if i == 0 {
			// The scripts once (every master), before anything runs them.
			st, _ := storage.New(rdb, id)
			if err := st.LoadScripts(ctx); err != nil {
				t.Fatal(err)
			}
		}
		next <- id
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d organizations failed, first: %v", len(errs), errs[0])
	}
	return d
}

// open registers organization id, bootstraps its admin, invites one person
// through the use case, and returns its Work on each replica.
func (d *deployment) open(ctx context.Context, dir *storage.Directory, id org.ID) ([]work, string, error) {
	if err := dir.Create(ctx, storage.Organization{ID: id, Name: string(id)}); err != nil {
		return nil, "", err
	}
	var ws []work
	for range d.replicas {
		st, err := storage.New(d.rdb, id)
		if err != nil {
			return nil, "", err
		}
		st.UseFleet(d.fleet)
		svc, err := handlers.New(handlers.Config{Store: st, Clock: d.clock.Now, NextTime: scheduler.Next, PublicURL: "https://usher.test"})
		if err != nil {
			return nil, "", err
		}
		ws = append(ws, work{svc, st})
	}
	if _, err := ws[0].BootstrapAdmin(ctx, boss); err != nil {
		return nil, "", err
	}
	r := ws[0].Handle(ctx, handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-boss", Email: boss}, Text: "invite guest@example.com"})
	for _, dl := range r.Deliveries {
		if dl.Kind == handlers.DeliverInvitation {
			if err := d.enqueue(ctx, id, []handlers.Delivery{dl}); err != nil {
				return nil, "", err
			}
			return ws, dl.InvitationID, nil
		}
	}
	return nil, "", fmt.Errorf("invite refused: %s %s", r.Code, r.Text)
}

// messageKey names a delivery: each reminder says which one it is
// ("reminder 2 of 3"), each notice what happened, so the same key twice is
// a repeat.
func messageKey(id org.ID, dl handlers.Delivery) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s", id, dl.Kind, dl.To, dl.Message.Text, dl.Message.Footer)
}

// enqueue queues ds in organization id's outbox (when d.queue), each job's
// payload its messageKey.
func (d *deployment) enqueue(ctx context.Context, id org.ID, ds []handlers.Delivery) error {
	if !d.queue {
		return nil
	}
	ob, err := storage.NewOutbox(d.rdb, id)
	if err != nil {
		return err
	}
	ob.UseFleet(d.fleet)
	for _, dl := range ds {
		if _, err := ob.Add(ctx, storage.Job{Platform: "test", Channel: dl.To, Payload: []byte(messageKey(id, dl))}); err != nil {
			return err
		}
	}
	return nil
}

// runner is replica r's fleet scheduler.
func (d *deployment) runner(t testing.TB, r int) *scheduler.Fleet {
	t.Helper()
	f, err := scheduler.NewFleet(scheduler.FleetConfig{
		Index: d.fleet.Index(storage.FleetSchedule),
		Org: func(_ context.Context, id org.ID) (scheduler.Work, error) {
			w, ok := d.replicas[r][id]
			if !ok {
				return nil, nil
			}
			return w, nil
		},
		Deliver: func(ctx context.Context, id org.ID, ds []handlers.Delivery) error {
			if err := d.enqueue(ctx, id, ds); err != nil {
				return err
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			for _, dl := range ds {
				key := messageKey(id, dl)
				if d.seen[key] {
					d.twice = append(d.twice, key)
				}
				d.seen[key] = true
				switch dl.Kind {
				case handlers.DeliverInvitation:
					d.reminders[id]++
				case handlers.DeliverNotice:
					d.notices[id]++
				}
			}
			return nil
		},
		Now: d.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// days moves the clock a day at a time, ticking every runner at once after
// each step, and reports how many organizations were swept in all.
func (d *deployment) days(t *testing.T, n int, runners ...*scheduler.Fleet) int {
	t.Helper()
	total := 0
	for _, k := range d.daysEach(t, n, runners...) {
		total += k
	}
	return total
}

// daysEach is days, reporting each runner's sweeps.
func (d *deployment) daysEach(t *testing.T, n int, runners ...*scheduler.Fleet) []int {
	t.Helper()
	swept := make([]int, len(runners))
	for range n {
		d.clock.Advance(24 * time.Hour)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i, f := range runners {
			wg.Go(func() {
				k, err := f.Tick(context.Background())
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				swept[i] += k
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	return swept
}

// check compares what was delivered with what each organization's
// invitation says happened: as many reminders delivered as it counts (at
// least one), it expired and its inviter was told, and no message twice.
func (d *deployment) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	bad := 0
	for _, id := range d.orgs {
		snap, err := d.replicas[0][id].Load(ctx, org.Query{Invitation: d.invites[id]})
		if err != nil {
			t.Fatal(err)
		}
		inv := snap.Invitation
		if inv == nil || inv.Reminders < 1 || d.reminders[id] != inv.Reminders || inv.Status != org.InvitationExpired || d.notices[id] < 1 {
			if bad++; bad <= 5 {
				t.Errorf("%s: %d reminders delivered, %d notices; the invitation says %+v", id, d.reminders[id], d.notices[id], inv)
			}
		}
	}
	if len(d.twice) > 0 {
		t.Errorf("%d messages delivered twice, e.g. %q", len(d.twice), d.twice[0])
	}
	if bad > 0 {
		t.Errorf("%d of %d organizations wrong", bad, len(d.orgs))
	}
}

// TestFleetSweepsEveryOrganization: one fleet runner serves three
// organizations: every reminder once, each expiry once, and a day on which
// nothing is due sweeps nobody.
func TestFleetSweepsEveryOrganization(t *testing.T) {
	d := newDeployment(t, redistest.Start(t).Client(t), 3, 1)
	f := d.runner(t, 0)
	if n, err := f.Tick(context.Background()); err != nil || n != 3 {
		t.Fatalf("first tick swept %d, %v: want the 3 new organizations (digest planning)", n, err)
	}
	// That first sweep planned each digest for this very instant (Monday
	// 09:00) and sent it: a ring during the lease at now, which the index
	// keeps (it cannot tell it from work added after the sweep's read), so
	// each is swept once more, finding nothing; then none.
	f.Tick(context.Background())
	if n, _ := f.Tick(context.Background()); n != 0 {
		t.Fatalf("a third tick at the same time swept %d organizations", n)
	}
	d.days(t, 10, f)
	d.check(t)
	if n := d.days(t, 1, f); n != 0 {
		t.Errorf("a day with nothing due swept %d organizations", n)
	}
}

// TestFleetOnCluster: 1,000 organizations on a 3-master Redis Cluster, two
// replicas' fleet runners ticking at once: every reminder and expiry notice
// delivered exactly once, and the organizations spread over all three
// masters (their keys' slots counted per master).
func TestFleetOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster and 1,000 organizations")
	}
	start := time.Now()
	cl := redistest.StartCluster(t, 3)
	rdb := cl.Client(t)
	d := newDeployment(t, rdb, 1000, 2, true)
	t.Logf("1,000 organizations set up in %v", time.Since(start).Round(time.Millisecond))

	st, err := d.fleet.Reconcile(context.Background(), d.clock.Now(), 30*time.Second)
	if err != nil || st.Orgs != 1000 || st.Schedule != 1000 || st.Failed != 0 {
		t.Fatalf("reconcile %+v, %v", st, err)
	}
	a, b := d.runner(t, 0), d.runner(t, 1)
	tick := time.Now()
	swept := d.daysEach(t, 10, a, b)
	t.Logf("10 days ticked by 2 replicas in %v: %v organization sweeps", time.Since(tick).Round(time.Millisecond), swept)
	if swept[0] == 0 || swept[1] == 0 {
		t.Errorf("sweeps per replica %v: one replica did all the work", swept)
	}
	d.check(t)

	// What the sweeps queued, and the invitations, go out through two
	// replicas' outbox fleets at once: each message exactly once.
	send := time.Now()
	sent := drainOutboxes(t, d, 2)
	t.Logf("%d messages sent by 2 outbox fleets in %v", len(sent), time.Since(send).Round(time.Millisecond))
	want := len(d.seen) + len(d.orgs) // the sweeps' messages and the invitations
	twice := 0
	for _, n := range sent {
		if n > 1 {
			twice++
		}
	}
	if len(sent) != want || twice > 0 {
		t.Errorf("%d distinct messages sent (%d of them more than once), want %d once each", len(sent), twice, want)
	}

	perMaster := mastersOf(t, rdb, d.orgs)
	t.Logf("organizations per master: %v", perMaster)
	if len(perMaster) != 3 {
		t.Fatalf("organizations on %d masters, want all 3: %v", len(perMaster), perMaster)
	}
	for addr, n := range perMaster {
		if n < 200 {
			t.Errorf("master %s holds only %d of 1,000 organizations", addr, n)
		}
	}
}

// mastersOf counts organizations per master: the slot of each one's keys
// (CLUSTER KEYSLOT of its settings key) in the masters' slot ranges
// (CLUSTER SLOTS).
func mastersOf(t *testing.T, rdb *redis.ClusterClient, ids []org.ID) map[string]int {
	t.Helper()
	ctx := context.Background()
	ranges, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	cmds := make([]*redis.IntCmd, len(ids))
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.ClusterKeySlot(ctx, "usher:{"+string(id)+"}:settings")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range cmds {
		slot := int(c.Val())
		for _, r := range ranges {
			if slot >= int(r.Start) && slot <= int(r.End) {
				out[r.Nodes[0].Addr]++
			}
		}
	}
	return out
}

// drainOutboxes runs `replicas` outbox fleets at once over d's
// organizations until every organization's outbox is empty, and returns how
// often each message (payload) was sent.
func drainOutboxes(t *testing.T, d *deployment, replicas int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	sent := map[string]int{}
	send := func(_ context.Context, j outbox.Job) error {
		mu.Lock()
		sent[string(j.Payload)]++
		mu.Unlock()
		return nil
	}
	var fleets []*outbox.Fleet
	for r := range replicas {
		f := &outbox.Fleet{
			Index: d.fleet.Index(storage.FleetOutbox),
			Open: func(_ context.Context, id org.ID) (outbox.Org, bool, error) {
				ob, err := storage.NewOutbox(d.rdb, id)
				if err != nil {
					return outbox.Org{}, false, err
				}
				ob.UseFleet(d.fleet)
				return outbox.Org{Queue: redisqueue.New(ob), Senders: map[string]outbox.Sender{"test": send}}, true, nil
			},
			Worker: outbox.Worker{Consumer: fmt.Sprintf("replica-%d", r), Pace: time.Millisecond},
		}
		if err := f.Init(); err != nil {
			t.Fatal(err)
		}
		fleets = append(fleets, f)
	}
	ctx := context.Background()
	for round := 0; ; round++ {
		if n, err := d.fleet.Len(ctx, storage.FleetOutbox); err != nil || n == 0 {
			if err != nil {
				t.Fatal(err)
			}
			return sent
		}
		if round > 1000 {
			t.Fatalf("outboxes not drained after %d rounds", round)
		}
		var wg sync.WaitGroup
		for _, f := range fleets {
			wg.Go(func() {
				for {
					n, err := f.Turn(ctx)
					if err != nil {
						t.Error(err)
					}
					if err != nil || n == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		time.Sleep(5 * time.Millisecond) // paced jobs come back at their slot
	}
}

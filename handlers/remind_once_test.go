package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// onceN is how many due invitations the exactly-once tests share out.
const onceN = 10_000

// replica is one scheduler instance: its own Redis connection pool, store
// and service, on the shared organization.
func (e *env) replica(t *testing.T, addr string, tune func(*handlers.Config)) *handlers.Service {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	st, err := storage.New(rdb, org.ID(e.org))
	if err != nil {
		t.Fatal(err)
	}
	return e.service(st, tune)
}

// tally counts reminders per invitation.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (ta *tally) add(ds []handlers.Delivery) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	for _, d := range reminders(ds) {
		ta.n[d.InvitationID]++
	}
}

func (ta *tally) total() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return len(ta.n)
}

// check proves every invitation was reminded exactly once: one message each,
// one reminder counted in storage each, one audit entry each.
func (ta *tally) check(t *testing.T, e *env, ids []string) {
	t.Helper()
	for _, id := range ids {
		if n := ta.n[id]; n != 1 {
			t.Fatalf("invitation %s was reminded %d times", id, n)
		}
	}
	if len(ta.n) != len(ids) {
		t.Fatalf("%d invitations reminded, want %d", len(ta.n), len(ids))
	}
	ctx := context.Background()
	for start := 0; start < len(ids); start += 1000 {
		snap, err := e.store.Load(ctx, org.Query{Invitations: ids[start:min(len(ids), start+1000)]})
		if err != nil {
			t.Fatal(err)
		}
		for id, inv := range snap.Invitations {
			if inv.Reminders != 1 {
				t.Fatalf("invitation %s has %d reminders stored", id, inv.Reminders)
			}
		}
	}
	entries, err := e.rdb.XLen(ctx, "usher:{"+e.org+"}:audit").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(ids)) + 1; entries != want { // + the admin's bootstrap
		t.Fatalf("%d audit entries, want %d", entries, want)
	}
	if n, _ := e.rdb.ZCard(ctx, "usher:{"+e.org+"}:claimed").Result(); n != 0 {
		t.Errorf("%d claims left behind", n)
	}
}

// TestRemindersExactlyOnce: three scheduler instances (goroutines with their
// own Redis connections) run at the same moment over 10,000 due invitations;
// each invitation is reminded exactly once.
func TestRemindersExactlyOnce(t *testing.T) {
	srv := redistest.Shared(t)
	e := newSchedEnv(t, srv.Client(t), nil)
	ids := seedPending(t, e, onceN, e.clock.Now())
	e.at(time.Minute)

	ta := &tally{n: map[string]int{}}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		svc := e.replica(t, srv.Addr(), func(c *handlers.Config) { c.Sweep.Batch = 250 })
		wg.Go(func() {
			<-start
			ds, err := svc.Sweep(context.Background())
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
			ta.add(ds)
		})
	}
	close(start)
	wg.Wait()
	ta.check(t, e, ids)
}

// TestRemindersExactlyOnceWhenAReplicaDies: a fourth instance, a separate
// process, claims a batch mid-run and is killed before doing it. The other
// instances do the rest at once, and its batch when the lease ends: still
// every invitation exactly once.
func TestRemindersExactlyOnceWhenAReplicaDies(t *testing.T) {
	srv := redistest.Shared(t)
	e := newSchedEnv(t, srv.Client(t), nil)
	ids := seedPending(t, e, onceN, e.clock.Now())
	e.at(time.Minute)
	const lease = 2 * time.Second

	// The doomed replica: this test binary again, as claimAndHang below.
	cmd := exec.Command(os.Args[0], "-test.run=^TestClaimAndHangHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "USHER_CLAIM_AND_HANG="+srv.Addr()+" "+e.org+" "+e.clock.Now().Format(time.RFC3339Nano))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	claimed := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "claimed %d", &claimed); err == nil {
			break
		}
	}
	if claimed == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the helper replica claimed nothing (%v)", sc.Err())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	t.Logf("a replica claimed %d items and was killed", claimed)
	if n, err := e.rdb.ZCard(context.Background(), "usher:{"+e.org+"}:claimed").Result(); err != nil || n != int64(claimed) {
		t.Fatalf("%d claims held (%v), want the dead replica's %d", n, err, claimed)
	}

	ta := &tally{n: map[string]int{}}
	tune := func(c *handlers.Config) { c.Sweep.Batch = 250; c.Sweep.Lease = lease }
	replicas := []*handlers.Service{e.replica(t, srv.Addr(), tune), e.replica(t, srv.Addr(), tune)}
	run := func() {
		var wg sync.WaitGroup
		for i, svc := range replicas {
			wg.Go(func() {
				ds, err := svc.Sweep(context.Background())
				if err != nil {
					t.Errorf("instance %d: %v", i, err)
				}
				ta.add(ds)
			})
		}
		wg.Wait()
	}
	run()
	// The first run does at least everything the dead replica did not claim
	// (and its batch too if the run outlasted the lease, as under -race).
	if got, want := ta.total(), onceN-claimed; got < want {
		t.Fatalf("first run reminded %d, want at least the %d not claimed by the dead replica", got, want)
	}
	// Its claims come back when their lease ends (Redis's clock): keep running.
	deadline := time.Now().Add(30 * time.Second)
	for ta.total() < onceN && time.Now().Before(deadline) {
		time.Sleep(lease / 4)
		run()
	}
	ta.check(t, e, ids)
}

// TestClaimAndHangHelper is the doomed replica of the test above; it does
// nothing unless USHER_CLAIM_AND_HANG is set. It sweeps as a normal replica
// whose queue, once it has claimed a batch, says so and hangs there until
// the process is killed.
func TestClaimAndHangHelper(t *testing.T) {
	arg := os.Getenv("USHER_CLAIM_AND_HANG")
	if arg == "" {
		return
	}
	f := strings.Fields(arg)
	now, err := time.Parse(time.RFC3339Nano, f[2])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: f[0]})
	st, err := storage.New(rdb, org.ID(f[1]))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := handlers.New(handlers.Config{Store: st, Clock: func() time.Time { return now },
		Sweep: handlers.SweepConfig{Due: hangAfterClaim{st}, Batch: 2000, Lease: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	svc.Sweep(context.Background())
	t.Fatal("the helper replica went on after claiming")
}

type hangAfterClaim struct{ *storage.Store }

func (h hangAfterClaim) Claim(ctx context.Context, now time.Time, lease time.Duration, max int) ([]org.DueItem, error) {
	items, err := h.Store.Claim(ctx, now, lease, max)
	if err != nil {
		return nil, err
	}
	fmt.Printf("claimed %d\n", len(items))
	select {} // killed here, holding the claims
}

// TestRemindersExactlyOnceUnderLeaseStorm: with leases so short that every
// claim runs out while its replica still works on it, the instances keep
// taking each other's items; the version check on each commit still lets
// exactly one reminder through per invitation.
func TestRemindersExactlyOnceUnderLeaseStorm(t *testing.T) {
	srv := redistest.Shared(t)
	e := newSchedEnv(t, srv.Client(t), nil)
	ids := seedPending(t, e, 2000, e.clock.Now())
	e.at(time.Minute)

	ta := &tally{n: map[string]int{}}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		svc := e.replica(t, srv.Addr(), func(c *handlers.Config) { c.Sweep.Batch = 50; c.Sweep.Lease = time.Millisecond })
		wg.Go(func() {
			<-start
			for range 3 {
				ds, err := svc.Sweep(context.Background())
				if err != nil {
					t.Errorf("instance %d: %v", i, err)
				}
				ta.add(ds)
			}
		})
	}
	close(start)
	wg.Wait()
	// Claims that outlived their replica's ack (they ran out first) are
	// reaped by the next claim; one more run finds nothing left to do.
	ds, err := e.svc.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ta.add(ds)
	ta.check(t, e, ids)
}

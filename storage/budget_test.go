package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestBudgetsSharedAcrossClients: three clients (three replicas) reserving
// from one budget get slots one interval apart, never two in one interval,
// and a reservation past max takes nothing.
func TestBudgetsSharedAcrossClients(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Shared(t)
	b := storage.Budget{Name: "slack:T1:chat.postMessage", Every: 20 * time.Millisecond, Burst: 1}
	var mu sync.Mutex
	var slots []time.Duration
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		bs := storage.NewBudgets(srv.Client(t))
		wg.Go(func() {
			for range 10 {
				wait, ok, err := bs.Reserve(ctx, "budgets1", []storage.Budget{b}, time.Second)
				if err != nil || !ok {
					t.Errorf("reserve: %v %v", ok, err)
					return
				}
				mu.Lock()
				slots = append(slots, time.Since(start)+wait)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(slots) != 30 {
		t.Fatalf("%d slots", len(slots))
	}
	// 30 calls at one per 20 ms: the last slot is ~580 ms out.
	last := time.Duration(0)
	for _, s := range slots {
		last = max(last, s)
	}
	if last < 550*time.Millisecond {
		t.Fatalf("30 reservations end %s from the start, want >= 580 ms (one per 20 ms)", last)
	}
	bs := storage.NewBudgets(srv.Client(t))
	wait, ok, err := bs.Reserve(ctx, "budgets1", []storage.Budget{b}, 10*time.Millisecond)
	if err != nil || ok || wait < 500*time.Millisecond {
		t.Fatalf("reserve beyond max: wait %s ok %v err %v, want nothing taken", wait, ok, err)
	}
}

// TestBudgetsSlow: a 429 holds every caller for Retry-After, and the
// interval is doubled afterwards.
func TestBudgetsSlow(t *testing.T) {
	ctx := context.Background()
	bs := storage.NewBudgets(redistest.Shared(t).Client(t))
	b := storage.Budget{Name: "slack:T1:users.list", Every: 10 * time.Millisecond, Burst: 3}
	wait, f, err := bs.Slow(ctx, "budgets2", b, 300*time.Millisecond, time.Minute)
	if err != nil || f != 2 || wait < 290*time.Millisecond || wait > 300*time.Millisecond {
		t.Fatalf("slow: wait %s factor %d err %v", wait, f, err)
	}
	// A second 429 within the first's Retry-After (a call already in
	// flight) does not slow it down twice.
	if _, f, err := bs.Slow(ctx, "budgets2", b, 300*time.Millisecond, time.Minute); err != nil || f != 2 {
		t.Fatalf("second 429: factor %d err %v, want 2 still", f, err)
	}
	w1, ok, err := bs.Reserve(ctx, "budgets2", []storage.Budget{b}, time.Second)
	if err != nil || !ok || w1 < 280*time.Millisecond {
		t.Fatalf("first call after a 429 in %s (ok %v, err %v), want after Retry-After", w1, ok, err)
	}
	w2, _, _ := bs.Reserve(ctx, "budgets2", []storage.Budget{b}, time.Second)
	if gap := w2 - w1; gap < 19*time.Millisecond {
		t.Fatalf("gap after a 429: %s, want the doubled interval (20 ms), no burst", gap)
	}
}

// TestBudgetsTakeAllOrNothing: a call needing two budgets (a method's and
// a conversation's) takes the later slot of both, in one step.
func TestBudgetsTakeAllOrNothing(t *testing.T) {
	ctx := context.Background()
	bs := storage.NewBudgets(redistest.Shared(t).Client(t))
	method := storage.Budget{Name: "m", Every: time.Millisecond, Burst: 1}
	channel := storage.Budget{Name: "ch:U1", Every: 200 * time.Millisecond, Burst: 1}
	if _, ok, err := bs.Reserve(ctx, "budgets3", []storage.Budget{method, channel}, time.Second); !ok || err != nil {
		t.Fatal(ok, err)
	}
	wait, ok, err := bs.Reserve(ctx, "budgets3", []storage.Budget{method, channel}, time.Second)
	if ok || err != nil || wait < 190*time.Millisecond {
		t.Fatalf("second post to one channel: wait %s ok %v err %v, want ~200 ms and nothing taken", wait, ok, err)
	}
	// The method's budget is free at once: the channel's wait holds up
	// nobody else's calls.
	if wait, ok, _ := bs.Reserve(ctx, "budgets3", []storage.Budget{method}, time.Second); !ok || wait > 5*time.Millisecond {
		t.Fatalf("method slot in %s", wait)
	}
	time.Sleep(wait)
	if wait, ok, _ := bs.Reserve(ctx, "budgets3", []storage.Budget{method, channel}, time.Second); !ok || wait > 10*time.Millisecond {
		t.Fatalf("post after the channel's wait: in %s, ok %v", wait, ok)
	}
	if _, _, err := bs.Reserve(ctx, "budgets3", []storage.Budget{{Name: "bad name}", Every: time.Second, Burst: 1}}, time.Second); err == nil {
		t.Fatal("a name with a brace was accepted")
	}
}

func TestSlackDirectory(t *testing.T) {
	ctx := context.Background()
	d := storage.NewSlackDirectory(redistest.Shared(t).Client(t))
	const o = "slackdir1"
	e, err := d.Lookup(ctx, o, "T1", "Bob@Example.com")
	if err != nil || e.UserID != "" || !e.Built.IsZero() || e.Missing {
		t.Fatalf("empty: %+v %v", e, err)
	}
	if ok, err := d.Lock(ctx, o, "T1", "r1", time.Minute); !ok || err != nil {
		t.Fatalf("lock: %v %v", ok, err)
	}
	if ok, _ := d.Lock(ctx, o, "T1", "r2", time.Minute); ok {
		t.Fatal("a second replica took the build")
	}
	err = d.Put(ctx, o, "T1", []storage.SlackDirUser{{ID: "UB", Email: "bob@example.com", Reachable: true}, {ID: "UBOT", Email: "", Reachable: false}})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := d.Lookup(ctx, o, "T1", "BOB@example.com"); e.UserID != "UB" || !e.Building || time.Until(e.Until) < 50*time.Second || time.Until(e.Until) > time.Minute {
		t.Fatalf("bob, while the build's lock (a minute) lasts: %+v", e)
	}
	if err := d.Built(ctx, o, "T1", "r1", time.Now()); err != nil {
		t.Fatal(err)
	}
	// A changed email moves; a deactivated account leaves.
	d.Put(ctx, o, "T1", []storage.SlackDirUser{{ID: "UB", Email: "robert@example.com", Reachable: true}})
	if e, _ := d.Lookup(ctx, o, "T1", "bob@example.com"); e.UserID != "" || e.Built.IsZero() || e.Building {
		t.Fatalf("old email: %+v", e)
	}
	if e, _ := d.Lookup(ctx, o, "T1", "robert@example.com"); e.UserID != "UB" {
		t.Fatalf("new email: %+v", e)
	}
	d.Put(ctx, o, "T1", []storage.SlackDirUser{{ID: "UB", Email: "robert@example.com", Reachable: false}})
	if e, _ := d.Lookup(ctx, o, "T1", "robert@example.com"); e.UserID != "" {
		t.Fatalf("deactivated: %+v", e)
	}
	d.Miss(ctx, o, "T1", "nobody@example.com", time.Minute)
	if e, _ := d.Lookup(ctx, o, "T1", "Nobody@example.com"); !e.Missing {
		t.Fatalf("miss: %+v", e)
	}
	// Another workspace, another organization: apart.
	if e, _ := d.Lookup(ctx, o, "T2", "robert@example.com"); e.UserID != "" || !e.Built.IsZero() {
		t.Fatalf("T2: %+v", e)
	}
	if _, err := d.Lookup(ctx, o, "t}1", "x@example.com"); err == nil {
		t.Fatal("bad workspace accepted")
	}
}

// TestBudgetsReserveMany: a batch's calls take their slots in one script
// call, in order, as one Reserve each would: the shared budget spaced, each
// conversation's own, a conversation busy from before not taken (and not
// holding up the calls after it), and a call past max not taken.
func TestBudgetsReserveMany(t *testing.T) {
	ctx := context.Background()
	bs := storage.NewBudgets(redistest.Shared(t).Client(t))
	method := storage.Budget{Name: "many:m", Every: 10 * time.Millisecond, Burst: 1}
	ch := func(u string) storage.Budget {
		return storage.Budget{Name: "many:ch:" + u, Every: time.Second, Burst: 1}
	}
	if _, ok, err := bs.Reserve(ctx, "budgets4", []storage.Budget{ch("busy")}, time.Second); !ok || err != nil {
		t.Fatal(ok, err)
	}
	calls := [][]storage.Budget{{method, ch("U1")}, {method, ch("U2")}, {method, ch("busy")}, {method, ch("U3")}}
	for range 100 {
		calls = append(calls, []storage.Budget{method, ch(fmt.Sprintf("V%d", len(calls)))})
	}
	rs, err := bs.ReserveMany(ctx, "budgets4", calls, 500*time.Millisecond)
	if err != nil || len(rs) != len(calls) {
		t.Fatal(len(rs), err)
	}
	if !rs[0].Reserved || rs[0].Wait > 5*time.Millisecond {
		t.Fatalf("first call: %+v", rs[0])
	}
	if !rs[1].Reserved || rs[1].Wait < 8*time.Millisecond || rs[1].Wait > 15*time.Millisecond {
		t.Fatalf("second call not one method interval later: %+v", rs[1])
	}
	if rs[2].Reserved || rs[2].Wait < 900*time.Millisecond {
		t.Fatalf("a busy conversation's call was taken: %+v", rs[2])
	}
	if !rs[3].Reserved || rs[3].Wait > 25*time.Millisecond {
		t.Fatalf("the call after a busy conversation was held up: %+v", rs[3])
	}
	taken := 0
	for i, r := range rs[4:] {
		if r.Reserved {
			taken++
			if r.Wait > 500*time.Millisecond {
				t.Fatalf("call %d reserved %s away, past max", i+4, r.Wait)
			}
		}
	}
	// 500 ms at one call every 10 ms: about 50 in all.
	if taken < 40 || taken > 50 {
		t.Fatalf("%d of 100 later calls taken within 500 ms at 10 ms apart", taken)
	}
	// What the batch took is taken: a single call now goes after them.
	wait, _, err := bs.Reserve(ctx, "budgets4", []storage.Budget{method}, time.Second)
	if err != nil || wait < 450*time.Millisecond {
		t.Fatalf("after the batch: wait %s, err %v", wait, err)
	}
}

// TestBudgetsSlidingLog: a budget with a window lets its whole quota go at
// once, then the next call only when the oldest of the window's calls is a
// window old; after a 429 it lets half as many a window (not the same
// number in a longer one: the limit hit was the burst).
func TestBudgetsSlidingLog(t *testing.T) {
	ctx := context.Background()
	bs := storage.NewBudgets(redistest.Shared(t).Client(t))
	const window = 400 * time.Millisecond
	log := storage.Budget{Name: "log:m", Every: window / 10, Burst: 10, Window: window}
	calls := make([][]storage.Budget, 12)
	for i := range calls {
		calls[i] = []storage.Budget{log}
	}
	rs, err := bs.ReserveMany(ctx, "budgets5", calls, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs[:10] {
		if !r.Reserved || r.Wait > 20*time.Millisecond {
			t.Fatalf("call %d of the first 10: %+v, want at once", i, r)
		}
	}
	for i, r := range rs[10:] {
		if !r.Reserved || r.Wait < window-20*time.Millisecond || r.Wait > window+20*time.Millisecond {
			t.Fatalf("call %d: %+v, want a window later", 10+i, r)
		}
	}
	if _, f, err := bs.Slow(ctx, "budgets5", log, 10*time.Millisecond, time.Minute); err != nil || f != 2 {
		t.Fatalf("slow: factor %d, %v", f, err)
	}
	time.Sleep(2 * window)
	rs, err = bs.ReserveMany(ctx, "budgets5", calls, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := 0
	for _, r := range rs {
		if r.Reserved && r.Wait < 50*time.Millisecond {
			now++
		}
	}
	if now != 5 {
		t.Fatalf("%d calls at once after a 429, want 10/2", now)
	}
}

// TestBudgetsOwnBudgetMayIdle: a post whose method slot is later than its
// own conversation's interval takes it at once (the conversation idles,
// nobody waits on it), rather than being refused and asking again.
func TestBudgetsOwnBudgetMayIdle(t *testing.T) {
	ctx := context.Background()
	bs := storage.NewBudgets(redistest.Shared(t).Client(t))
	method := storage.Budget{Name: "idle:m", Every: 100 * time.Millisecond, Burst: 1}
	ch := func(u string) storage.Budget {
		return storage.Budget{Name: "idle:ch:" + u, Every: 10 * time.Millisecond, Burst: 1}
	}
	if _, ok, err := bs.Reserve(ctx, "budgets6", []storage.Budget{method, ch("U1")}, time.Second); !ok || err != nil {
		t.Fatal(ok, err)
	}
	wait, ok, err := bs.Reserve(ctx, "budgets6", []storage.Budget{method, ch("U2")}, time.Second)
	if err != nil || !ok || wait < 80*time.Millisecond {
		t.Fatalf("second post: wait %s, reserved %v, err %v; want the method's next slot, taken", wait, ok, err)
	}
}

package storage_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestMarkOnceSurvivesItsOwnRetry: go-redis re-sends a command whose reply
// timed out, so the replay guard's SET NX may run twice for one request.
// The second run of the same call still reports the first use; another
// call (a replay) does not.
func TestMarkOnceSurvivesItsOwnRetry(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	key := "usher:test:mark:" + t.Name()
	for i, want := range []bool{true, true} {
		if got, err := storage.MarkOnceWith(ctx, rdb, key, "nonce-a", time.Minute); err != nil || got != want {
			t.Fatalf("run %d of one call: %v %v, want %v", i+1, got, err, want)
		}
	}
	if got, err := storage.MarkOnceWith(ctx, rdb, key, "nonce-b", time.Minute); err != nil || got {
		t.Fatalf("another call: %v %v, want false", got, err)
	}
	// Marks through SlackState still say first use once.
	st, err := storage.NewSlackState(rdb, "marktest")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := st.SetNX(ctx, "req", "same-body", time.Minute)
	again, _ := st.SetNX(ctx, "req", "same-body", time.Minute)
	if !first || again {
		t.Fatalf("slack marks: %v then %v", first, again)
	}
}

// TestGroupedMarksKeepTheirOwnOutcome: with one round trip at a time,
// concurrent marks share pipelines, and each still gets its own answer:
// of four marks of one request arriving together (a request and its
// replays), exactly one is its first use.
func TestGroupedMarksKeepTheirOwnOutcome(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	rt := &storage.RoundTrips{}
	rdb.AddHook(rt)
	st, err := storage.NewSlackState(rdb, "groupedmarks")
	if err != nil {
		t.Fatal(err)
	}
	st.GroupMarks(1, 16)
	const requests, tries = 50, 4
	firsts := make([]atomic.Int32, requests)
	var wg sync.WaitGroup
	for r := range requests {
		for range tries {
			wg.Go(func() {
				first, err := st.SetNX(ctx, "req", fmt.Sprintf("%s-%d", t.Name(), r), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if first {
					firsts[r].Add(1)
				}
			})
		}
	}
	wg.Wait()
	for r := range requests {
		if n := firsts[r].Load(); n != 1 {
			t.Fatalf("request %d was a first use %d times, want once", r, n)
		}
	}
	// The replays' own checks (a GET each, requests*(tries-1)) go one by
	// one; alone, the SET NXs would take requests*tries more.
	if n, checks := rt.Count(), int64(requests*(tries-1)); n-checks >= requests*tries/2 {
		t.Fatalf("%d marks took %d round trips besides %d checks: few or none were grouped", requests*tries, n-checks, checks)
	} else {
		t.Logf("%d marks in %d round trips", requests*tries, n)
	}
}

package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestGroupedCommitsKeepTheirOwnOutcome: with one script call at a time,
// concurrent commits share calls, and each still gets its own outcome: two
// commits creating the same user in one batch, one wins and one is refused,
// and a change with nothing to write succeeds without a call of its own.
func TestGroupedCommitsKeepTheirOwnOutcome(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	rt := &storage.RoundTrips{}
	rdb.AddHook(rt)
	s := newStore(t, rdb, "grouped")
	s.GroupCommits(1, 16)
	ctx := context.Background()
	const users, tries = 50, 4
	var wg sync.WaitGroup
	errs := make([][]error, users)
	for u := range users {
		errs[u] = make([]error, tries)
		for i := range tries {
			wg.Go(func() {
				email := fmt.Sprintf("u%d@example.com", u)
				errs[u][i] = s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin(email)}}, Now: now,
					Audit: []org.AuditEntry{{At: now, Action: "user.create", Target: email}}})
			})
		}
		wg.Go(func() {
			if err := s.Commit(ctx, org.Change{Now: now}); err != nil {
				t.Errorf("an empty change: %v", err)
			}
		})
	}
	wg.Wait()
	for u := range users {
		won := 0
		for _, err := range errs[u] {
			var stale *org.PreconditionError
			switch {
			case err == nil:
				won++
			case !errors.As(err, &stale):
				t.Fatalf("u%d: %v, want a precondition error for the losers", u, err)
			}
		}
		if won != 1 {
			t.Fatalf("u%d was created %d times", u, won)
		}
	}
	snap, err := s.Load(ctx, org.Query{AuditLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Audit) != users {
		t.Fatalf("%d audit entries, want one per user created (%d)", len(snap.Audit), users)
	}
	if n := rt.Count() - 1; n >= users*tries { // -1: the Load
		t.Fatalf("%d commits took %d script calls: none were grouped", users*tries, n)
	} else {
		t.Logf("%d commits in %d script calls", users*tries, n)
	}
}

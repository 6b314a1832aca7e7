package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

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

// faultyStore is a store on its own redis-server whose client, with chat
// timeouts, carries a fault the test arms just before a commit.
func faultyStore(t *testing.T, orgID string) (*storage.Store, *storage.Outbox, *redistest.Server, *redistest.Fault) {
	t.Helper()
	srv, rdb, fault := redistest.FaultyClient(t, storage.ChatTimeouts)
	ob, err := storage.NewOutbox(srv.Client(t), org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return newStore(t, rdb, orgID), ob, srv, fault
}

// withMessage is a change creating email's user that also queues a message
// (a DM) in the same commit.
func withMessage(email string) org.Change {
	return org.Change{Users: []org.UserWrite{{User: admin(email)}}, Now: now,
		Messages: []org.QueuedMessage{{Platform: "slack", Channel: "slack:" + email, Payload: []byte(`{"to":"` + email + `"}`)}}}
}

// state reads, on a connection of its own, whether email's user exists and
// how many messages wait in the outbox.
func state(t *testing.T, srv *redistest.Server, ob *storage.Outbox, orgID, email string) (exists bool, queued int) {
	t.Helper()
	st := newStore(t, srv.Client(t), orgID)
	snap, err := st.Load(context.Background(), org.Query{Users: []string{email}})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ob.Claim(context.Background(), "test", 10, 10*time.Millisecond, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Users[email] != nil, len(jobs)
}

// TestFencedCommitNeverApplies: a commit lost on the way is reported as not
// applied (org.ErrUnavailable, not ErrMaybeApplied) and its commit id is
// fenced off: when the lost call arrives after all, neither the change nor
// its message is written.
func TestFencedCommitNeverApplies(t *testing.T) {
	s, ob, srv, fault := faultyStore(t, "fenced")
	fault.Arm(redistest.DropCommand)
	err := s.Commit(context.Background(), withMessage("a@example.com"))
	if org.ErrorCode(err) != org.CodeUnavailable || errors.Is(err, org.ErrMaybeApplied) {
		t.Fatalf("commit lost on the way: %v, want unavailable and known not applied", err)
	}
	if err := srv.Client(t).Do(context.Background(), fault.Caught()...).Err(); err != nil {
		t.Fatalf("the late call: %v", err)
	}
	if exists, queued := state(t, srv, ob, "fenced", "a@example.com"); exists || queued != 0 {
		t.Fatalf("after the late call: user exists %v, %d messages queued; want neither", exists, queued)
	}
}

// TestCommitWithLostReplyIsDone: a commit that ran but whose reply was lost
// is reported done, and its message was queued with it, once.
func TestCommitWithLostReplyIsDone(t *testing.T) {
	s, ob, srv, fault := faultyStore(t, "lostreply")
	fault.Arm(redistest.LoseReply)
	if err := s.Commit(context.Background(), withMessage("a@example.com")); err != nil {
		t.Fatalf("commit whose reply was lost: %v, want done", err)
	}
	if exists, queued := state(t, srv, ob, "lostreply", "a@example.com"); !exists || queued != 1 {
		t.Fatalf("user exists %v, %d messages queued; want the user and one message", exists, queued)
	}
}

// TestStalledCommitMayHaveApplied: with Redis stopped (SIGSTOP) while the
// commit waits in its input buffer, nothing can be known in time: the commit
// is reported as maybe applied, never as not applied. After the thaw the
// change and its message are there together, or neither is.
func TestStalledCommitMayHaveApplied(t *testing.T) {
	s, ob, srv, fault := faultyStore(t, "stalled")
	fault.Arm(redistest.FreezeServer)
	start := time.Now()
	err := s.Commit(context.Background(), withMessage("a@example.com"))
	took := time.Since(start)
	srv.Thaw()
	t.Logf("answered after %v: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, org.ErrMaybeApplied) {
		t.Fatalf("stalled commit: %v, want org.ErrMaybeApplied", err)
	}
	exists, queued := state(t, srv, ob, "stalled", "a@example.com")
	t.Logf("after the thaw: user exists %v, %d messages queued", exists, queued)
	if exists != (queued == 1) || queued > 1 {
		t.Fatalf("user exists %v with %d messages queued: the change and its message must go together", exists, queued)
	}
}

package storage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func newSessions(t *testing.T, rdb redis.UniversalClient, orgID string) *storage.Sessions {
	t.Helper()
	s, err := storage.NewSessions(rdb, org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// member stores an active member and returns their stored version.
func member(t *testing.T, st *storage.Store, email string) int64 {
	t.Helper()
	u := &org.User{Email: email, Role: org.RoleMember, Status: org.StatusActive, Created: now, Updated: now}
	if err := st.Commit(context.Background(), org.Change{Users: []org.UserWrite{{User: u}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(context.Background(), org.Query{Users: []string{email}})
	if err != nil {
		t.Fatal(err)
	}
	return snap.Users[email].Version
}

func hashOf(c byte) string { return strings.Repeat(string(c), 64) }

func TestSessionLifecycle(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	st, ses := newStore(t, rdb, "sess-life"), newSessions(t, rdb, "sess-life")
	v := member(t, st, "bob@example.com")

	in := storage.Session{Email: "bob@example.com", Stamp: "s1", Created: now, Version: v}
	if err := ses.Create(ctx, hashOf('a'), in, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := ses.Lookup(ctx, hashOf('a'))
	if err != nil || got == nil || *got != in {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if ttl := rdb.PTTL(ctx, "usher:{sess-life}:session:"+hashOf('a')).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("session TTL %v", ttl)
	}
	if ttl := rdb.PTTL(ctx, "usher:{sess-life}:sessions:bob@example.com").Val(); ttl <= 59*time.Minute {
		t.Fatalf("index TTL %v", ttl)
	}
	if got, err := ses.Lookup(ctx, hashOf('b')); got != nil || err != nil {
		t.Fatalf("unknown session: %+v %v", got, err)
	}
	if err := ses.End(ctx, hashOf('a'), "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if got, _ := ses.Lookup(ctx, hashOf('a')); got != nil {
		t.Fatal("an ended session is found")
	}
	if n := rdb.SCard(ctx, "usher:{sess-life}:sessions:bob@example.com").Val(); n != 0 {
		t.Fatalf("%d sessions still indexed", n)
	}
}

// TestEndSessionsEndsWebSessions is the contract between the web sessions
// and Commit: a change with EndSessions (reset, deactivation, password
// change) deletes every session of that user, and only theirs.
func TestEndSessionsEndsWebSessions(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	st, ses := newStore(t, rdb, "sess-end"), newSessions(t, rdb, "sess-end")
	vb, vc := member(t, st, "bob@example.com"), member(t, st, "carol@example.com")
	for _, c := range []byte("ab") {
		if err := ses.Create(ctx, hashOf(c), storage.Session{Email: "bob@example.com", Version: vb}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := ses.Create(ctx, hashOf('c'), storage.Session{Email: "carol@example.com", Version: vc}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx, org.Change{EndSessions: []string{"bob@example.com"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []byte("ab") {
		if got, _ := ses.Lookup(ctx, hashOf(c)); got != nil {
			t.Fatalf("session %c survived EndSessions", c)
		}
	}
	if got, _ := ses.Lookup(ctx, hashOf('c')); got == nil {
		t.Fatal("another user's session ended")
	}
}

func TestSessionCreateRefusesAChangedUser(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	st, ses := newStore(t, rdb, "sess-stale"), newSessions(t, rdb, "sess-stale")
	v := member(t, st, "bob@example.com")
	gone := &org.User{Email: "bob@example.com", Role: org.RoleMember, Status: org.StatusDeactivated, Created: now, Updated: now}
	for name, c := range map[string]struct {
		email   string
		version int64
	}{
		"unknown user":  {"nobody@example.com", 1},
		"older version": {"bob@example.com", v - 1},
		"newer version": {"bob@example.com", v + 1},
	} {
		err := ses.Create(ctx, hashOf('a'), storage.Session{Email: c.email, Version: c.version}, time.Hour)
		var stale *org.PreconditionError
		if !errors.As(err, &stale) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := st.Commit(ctx, org.Change{Users: []org.UserWrite{{User: gone, Version: v}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	var stale *org.PreconditionError
	if err := ses.Create(ctx, hashOf('a'), storage.Session{Email: "bob@example.com", Version: v + 1}, time.Hour); !errors.As(err, &stale) {
		t.Fatalf("deactivated user: %v", err)
	}
	if n := rdb.Exists(ctx, "usher:{sess-stale}:session:"+hashOf('a'), "usher:{sess-stale}:sessions:bob@example.com").Val(); n != 0 {
		t.Fatal("a refused session left keys behind")
	}
}

func TestSessionIndexForgetsExpiredSessions(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	st, ses := newStore(t, rdb, "sess-prune"), newSessions(t, rdb, "sess-prune")
	v := member(t, st, "bob@example.com")
	for _, c := range []byte("abc") {
		if err := ses.Create(ctx, hashOf(c), storage.Session{Email: "bob@example.com", Version: v}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// Two sessions expire on their own (Redis drops the keys).
	rdb.Del(ctx, "usher:{sess-prune}:session:"+hashOf('a'), "usher:{sess-prune}:session:"+hashOf('b'))
	if err := ses.Create(ctx, hashOf('d'), storage.Session{Email: "bob@example.com", Version: v}, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	members := rdb.SMembers(ctx, "usher:{sess-prune}:sessions:bob@example.com").Val()
	slices.Sort(members)
	if strings.Join(members, ",") != hashOf('c')+","+hashOf('d') {
		t.Fatalf("index: %v", members)
	}
	if ttl := rdb.PTTL(ctx, "usher:{sess-prune}:sessions:bob@example.com").Val(); ttl <= time.Hour {
		t.Fatalf("the index expires before its longest session: %v", ttl)
	}
}

func TestAttemptLimits(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	ses := newSessions(t, rdb, "sess-limit")
	limits := []storage.Limit{{Key: "email:bob@example.com", Max: 3, Window: time.Minute}, {Key: "ip:192.0.2.1", Max: 5, Window: 10 * time.Minute}}
	for i := 1; i <= 3; i++ {
		if wait, err := ses.Attempt(ctx, time.Now(), limits); err != nil || wait != 0 {
			t.Fatalf("attempt %d: %v %v", i, wait, err)
		}
	}
	wait, err := ses.Attempt(ctx, time.Now(), limits)
	if err != nil || wait <= 55*time.Second || wait > time.Minute {
		t.Fatalf("attempt 4: %v %v", wait, err)
	}
	if err := ses.Forget(ctx, "email:bob@example.com"); err != nil {
		t.Fatal(err)
	}
	// The email's window restarts; the address has seen 5 and stops the 6th.
	if wait, _ := ses.Attempt(ctx, time.Now(), limits); wait != 0 {
		t.Fatalf("after Forget: %v", wait)
	}
	if wait, _ := ses.Attempt(ctx, time.Now(), limits); wait <= 9*time.Minute {
		t.Fatalf("the address's limit: %v", wait)
	}
	if _, err := ses.Attempt(ctx, time.Now(), []storage.Limit{{Key: "x", Max: 0, Window: time.Minute}}); err == nil {
		t.Fatal("a limit without a max accepted")
	}
	for _, k := range rdb.Keys(ctx, "*sess-limit*").Val() {
		if !strings.HasPrefix(k, "usher:{sess-limit}:signin:") {
			t.Errorf("key %s", k)
		}
	}
}

// TestAttemptsAreCountedAtomically: parallel attempts cannot slip past a limit.
func TestAttemptsAreCountedAtomically(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ses := newSessions(t, rdb, "sess-atomic")
	const tries, max = 60, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range tries {
		wg.Go(func() {
			wait, err := ses.Attempt(context.Background(), time.Now(), []storage.Limit{{Key: "email:x@example.com", Max: max, Window: time.Minute}})
			if err != nil {
				t.Error(err)
				return
			}
			if wait == 0 {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != max {
		t.Fatalf("%d of %d parallel attempts allowed, want %d", allowed, tries, max)
	}
}

// TestAttemptBackoff: past its free attempts a backoff limit makes each next
// attempt wait twice as long, measured by the caller's clock; an attempt it
// refuses counts nowhere; Forget starts it over.
func TestAttemptBackoff(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	ses := newSessions(t, rdb, "sess-backoff")
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	pair := storage.Limit{Key: "pair:bob@example.com|192.0.2.1", Max: 2, Window: time.Hour, Backoff: 10 * time.Second}
	ceiling := storage.Limit{Key: "email:bob@example.com", Max: 100, Window: time.Hour}
	limits := []storage.Limit{pair, ceiling}
	for i := 1; i <= 3; i++ { // two free, and the third allowed but starting the delay
		if wait, err := ses.Attempt(ctx, now, limits); err != nil || wait != 0 {
			t.Fatalf("attempt %d: %v %v", i, wait, err)
		}
	}
	for _, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second} {
		if wait, err := ses.Attempt(ctx, now, limits); err != nil || wait != want {
			t.Fatalf("while delayed: %v %v, want %v", wait, err, want)
		}
		if wait, _ := ses.Attempt(ctx, now.Add(want-time.Millisecond), limits); wait != time.Millisecond {
			t.Fatalf("a millisecond early: %v", wait)
		}
		now = now.Add(want)
		if wait, err := ses.Attempt(ctx, now, limits); err != nil || wait != 0 {
			t.Fatalf("after %v: %v %v", want, wait, err)
		}
	}
	// 7 attempts got through; the refused ones were not counted.
	if n := rdb.Get(ctx, "usher:{sess-backoff}:signin:email:bob@example.com").Val(); n != "7" {
		t.Errorf("the email's ceiling counted %s attempts, want the 7 allowed", n)
	}
	if ttl := rdb.PTTL(ctx, "usher:{sess-backoff}:signin:"+pair.Key).Val(); ttl <= 59*time.Minute {
		t.Errorf("the backoff is forgotten after %v, want a window after its last attempt", ttl)
	}
	// The delay never exceeds the window.
	for range 50 {
		now = now.Add(time.Hour)
		if _, err := ses.Attempt(ctx, now, limits); err != nil {
			t.Fatal(err)
		}
	}
	if wait, _ := ses.Attempt(ctx, now, limits); wait != time.Hour {
		t.Errorf("capped delay %v, want the window", wait)
	}
	if err := ses.Forget(ctx, pair.Key); err != nil {
		t.Fatal(err)
	}
	if wait, _ := ses.Attempt(ctx, now, limits); wait != 0 {
		t.Fatalf("after Forget: %v", wait)
	}
}

package storage_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestRequireReplicasWaits: with RequireReplicas(1) a commit is reported
// done only once a replica has it; with no replica answering it fails as
// org.ErrMaybeApplied (after the wait timeout), never silently: the master
// holds the write, which may or may not survive a failover.
func TestRequireReplicasWaits(t *testing.T) {
	master := redistest.Start(t)
	replica := redistest.Start(t, redistest.WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(master.Port())))
	ctx := context.Background()
	rdb := master.Client(t)
	rep := replica.Client(t)
	waitFor(t, func() bool {
		info, _ := rep.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	s := newStore(t, rdb, "waits")
	s.RequireReplicas(1, 300*time.Millisecond)

	if err := s.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: admin("a@example.com")}}}); err != nil {
		t.Fatal(err)
	}
	// Acknowledged means on the replica already: read it there at once.
	if n, err := rep.Exists(ctx, "usher:{waits}:user:a@example.com").Result(); err != nil || n != 1 {
		t.Fatalf("acknowledged write not on the replica: %d, %v", n, err)
	}

	// The replica goes away: the next commit cannot be confirmed.
	replica.Stop()
	start := time.Now()
	err := s.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: admin("b@example.com")}}})
	if !errors.Is(err, org.ErrMaybeApplied) {
		t.Fatalf("commit without a replica: %v, want org.ErrMaybeApplied", err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("gave up after %v, before the wait timeout", waited)
	}
	// A refused change (a guard failed) is a refusal, not a WAIT problem.
	replica.Restart(t)
	waitFor(t, func() bool {
		info, _ := rep.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	err = s.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: admin("a@example.com")}}})
	var pe *org.PreconditionError
	if !errors.As(err, &pe) {
		t.Fatalf("stale write: %v, want a PreconditionError", err)
	}
	// NOSCRIPT in the pipeline falls back to EVAL.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: admin("c@example.com")}}}); err != nil {
		t.Fatalf("commit after SCRIPT FLUSH: %v", err)
	}
}

// TestReadyReloadsScripts: Ready answers while Redis does, loads scripts a
// restarted master lost, and reports an outage as org.ErrUnavailable.
func TestReadyReloadsScripts(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	rdb := srv.Client(t)
	s := newStore(t, rdb, "ready")
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	have, err := rdb.ScriptExists(ctx, storage.ScriptHashes()...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range have {
		if !ok {
			t.Errorf("script %d not reloaded", i)
		}
	}
	srv.Stop()
	quick := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	storage.ChatTimeouts(quick.Options())
	defer quick.Close()
	s2, _ := storage.New(quick, "ready")
	if err := s2.Ready(ctx); !errors.Is(err, org.ErrUnavailable) {
		t.Fatalf("Ready with Redis down: %v", err)
	}
}

// TestRequireReplicasOnCluster: on a ClusterClient WAIT goes to the master
// of the organization's slot (not a random node, which would answer for
// the wrong writes): with no replicas in this cluster the commit is
// reported as maybe applied rather than done, for orgs on every master.
func TestRequireReplicasOnCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	ctx := context.Background()
	rdb := cl.Client(t)
	for _, o := range []string{"a", "b", "c", "d", "e", "f"} {
		s := newStore(t, rdb, "wait-"+o)
		if err := s.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: admin("x@example.com")}}}); err != nil {
			t.Fatalf("org %s without waiting: %v", o, err)
		}
		s.RequireReplicas(1, 50*time.Millisecond)
		err := s.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: admin("y@example.com")}}})
		if !errors.Is(err, org.ErrMaybeApplied) {
			t.Fatalf("org %s: %v, want org.ErrMaybeApplied (no replica to wait for)", o, err)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

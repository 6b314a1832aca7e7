package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// oldReplicaRead is exactly what the worker of versions before outbox2 did
// to take new jobs (git show 8dd4a5e:storage/outbox.go, Claim): XREADGROUP
// on usher:{org}:outbox in group "senders". It promotes nothing and reclaims
// nothing: the point is which jobs that consumer can ever be handed.
func oldReplicaRead(t *testing.T, rdb redis.UniversalClient, orgID string) []redis.XMessage {
	t.Helper()
	streams, err := rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: "senders", Consumer: "old-replica", Streams: []string{"usher:{" + orgID + "}:outbox", ">"}, Count: 100, Block: -1,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("old replica's read: %v", err)
	}
	var msgs []redis.XMessage
	for _, s := range streams {
		msgs = append(msgs, s.Messages...)
	}
	return msgs
}

// TestOutboxRollingDeploy: during a rolling deploy old and new replicas share
// one Redis. The old worker dead-letters a job whose platform it has no
// sender for ("deliver", the router's), so no job this version queues, by Add
// or inside a commit, may reach the legacy stream an old replica reads. The
// new worker still takes the old replicas' jobs from the legacy stream, in
// the same claims as its own (a long queue of new jobs does not starve
// them), retries them where they were, and Stats counts both streams.
func TestOutboxRollingDeploy(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	orgID := "rolling-" + hex.EncodeToString(suffix)
	secret := "rolling-secret-0123456789abcdef0123456789abcdef"
	ob := newOutbox(t, orgID, secret)
	s := newStore(t, rdb, orgID)
	key, err := storage.NewSealKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	s.SealWith(key)

	// This version queues: ten router jobs by Add, one inside a commit.
	for i := range 10 {
		if _, err := ob.Add(ctx, storage.Job{Platform: "deliver", Channel: fmt.Sprintf("to:p%d@example.com", i), Payload: []byte(`{"v":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	msg := org.QueuedMessage{Platform: "deliver", Channel: "to:bob@example.com", Payload: []byte(`{"v":1,"key":"k"}`)}
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("a@example.com")}}, Messages: []org.QueuedMessage{msg}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if got := oldReplicaRead(t, rdb, orgID); len(got) != 0 {
		t.Fatalf("an old replica was handed %d of this version's jobs (it dead-letters them), the first %v", len(got), got[0].Values["platform"])
	}

	// An old replica queues a job of its own, in the legacy stream.
	if _, err := ob.AddLegacy(ctx, storage.Job{Platform: "slack", Channel: "slack:bob@example.com", Payload: []byte(`{"kind":"dm"}`)}); err != nil {
		t.Fatal(err)
	}
	st, err := ob.Stats(ctx)
	if err != nil || st.Waiting != 12 || st.Pending != 0 || st.Dead != 0 {
		t.Fatalf("stats of both streams: %+v, %v; want 12 waiting", st, err)
	}

	// The new worker's first claim of four holds the legacy job, though ten
	// of its own were queued before it.
	jobs, err := ob.Claim(ctx, "new", 4, 10*time.Millisecond, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var legacy *storage.Job
	for i, j := range jobs {
		if j.Stream == storage.LegacyStream {
			legacy = &jobs[i]
		} else if j.Platform != "deliver" {
			t.Fatalf("claimed %+v from outbox2", j)
		}
	}
	if legacy == nil || legacy.Platform != "slack" || string(legacy.Payload) != `{"kind":"dm"}` {
		t.Fatalf("first claim %+v: want the legacy job in it", jobs)
	}
	st, _ = ob.Stats(ctx)
	if st.Pending != int64(len(jobs)) || st.Waiting != 12-int64(len(jobs)) {
		t.Fatalf("after the claim: %+v, %d claimed", st, len(jobs))
	}

	// A legacy job retried goes back to the legacy stream (either version
	// can send it); its retry is still never an outbox2 job's.
	if err := ob.Later(ctx, *legacy, time.Now().Add(-time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.ZCard(ctx, "usher:{"+orgID+"}:outbox:later").Result(); err != nil || n != 1 {
		t.Fatalf("legacy retry set: %d, %v", n, err)
	}
	for _, j := range jobs {
		if j.Stream != storage.LegacyStream {
			if err := ob.Done(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Drain: everything comes out once, the legacy job with it.
	seen := map[string]int{}
	for range 10 {
		more, err := ob.Claim(ctx, "new", 4, 10*time.Millisecond, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range more {
			seen[j.Stream+"/"+j.Channel]++
			if err := ob.Done(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	if seen["legacy/slack:bob@example.com"] != 1 || len(seen) != 12-len(jobs)+1 {
		t.Fatalf("drained %v", seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", k, n)
		}
	}
	st, err = ob.Stats(ctx)
	if err != nil || st != (storage.OutboxStats{}) {
		t.Fatalf("stats after draining: %+v, %v", st, err)
	}
	if got := oldReplicaRead(t, rdb, orgID); len(got) != 0 {
		t.Fatalf("old replica handed %v", got)
	}
}

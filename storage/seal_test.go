package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// rawOutbox is every value stored in an organization's outbox keys (the
// stream, the delayed set, the dead letters), as Redis holds them.
func rawOutbox(t *testing.T, orgID string) string {
	t.Helper()
	rdb := redistest.Shared(t).Client(t)
	ctx := context.Background()
	var all strings.Builder
	for _, stream := range []string{"usher:{" + orgID + "}:outbox2", "usher:{" + orgID + "}:outbox", "usher:{" + orgID + "}:outbox:dead"} {
		msgs, err := rdb.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			for k, v := range m.Values {
				all.WriteString(k + "=" + v.(string) + "\n")
			}
		}
	}
	for _, zset := range []string{"usher:{" + orgID + "}:outbox2:later", "usher:{" + orgID + "}:outbox:later"} {
		later, err := rdb.ZRange(ctx, zset, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		all.WriteString(strings.Join(later, "\n") + "\n")
	}
	return all.String()
}

func newOutbox(t *testing.T, orgID string, secret string) *storage.Outbox {
	t.Helper()
	o, err := storage.NewOutbox(redistest.Shared(t).Client(t), org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		key, err := storage.NewSealKey([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		o.SealWith(key)
	}
	if err := o.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestOutboxPayloadsAreSealedAtRest: a queued message may carry an invitation
// link or a temporary password, and Redis keeps those only as hashes. Every
// way a payload reaches Redis (Add, a commit's queued messages, Later, Dead)
// stores it sealed, and a worker gets it back as it was queued.
func TestOutboxPayloadsAreSealedAtRest(t *testing.T) {
	ctx := context.Background()
	const secret = "deployment-secret-0123456789abcdef0123456789"
	const orgID = "sealed"
	link := "https://usher.test/invitations/SECRET-TOKEN-AAAAAAAAAAAAAAAAAAAAAAAAA"
	password := "temporary-password-Zq9"
	o := newOutbox(t, orgID, secret)

	if _, err := o.Add(ctx, storage.Job{Platform: "slack", Channel: "c1", Payload: []byte(`{"link":"` + link + `"}`)}); err != nil {
		t.Fatal(err)
	}
	st := newStore(t, redistest.Shared(t).Client(t), orgID)
	key, _ := storage.NewSealKey([]byte(secret))
	st.SealWith(key)
	err := st.Commit(ctx, org.Change{Settings: map[string]string{"name": "Acme"},
		Messages: []org.QueuedMessage{{Platform: "slack", Channel: "c2", Payload: []byte(`{"password":"` + password + `"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawOutbox(t, orgID)
	if strings.Contains(raw, "SECRET-TOKEN") || strings.Contains(raw, password) || strings.Count(raw, "payload=sealed1:") != 2 {
		t.Fatalf("the outbox stream holds a payload in the clear:\n%s", raw)
	}

	jobs, err := o.Claim(ctx, "w1", 10, 10*time.Millisecond, time.Minute)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	got := map[string]string{}
	for _, j := range jobs {
		got[j.Channel] = string(j.Payload)
	}
	if !strings.Contains(got["c1"], link) || !strings.Contains(got["c2"], password) {
		t.Fatalf("claimed payloads are not what was queued: %q", got)
	}

	// A retry later and a dead letter keep it sealed too, and a retried job
	// opens again when it comes back.
	byChannel := map[string]storage.Job{}
	for _, j := range jobs {
		byChannel[j.Channel] = j
	}
	if err := o.Later(ctx, byChannel["c1"], time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := o.Dead(ctx, byChannel["c2"], "test"); err != nil {
		t.Fatal(err)
	}
	raw = rawOutbox(t, orgID)
	if strings.Contains(raw, "SECRET-TOKEN") || strings.Contains(raw, password) {
		t.Fatalf("a delayed or dead job is stored in the clear:\n%s", raw)
	}
	jobs, err = o.Claim(ctx, "w1", 10, 10*time.Millisecond, time.Minute)
	if err != nil || len(jobs) != 1 || !strings.Contains(string(jobs[0].Payload), link) {
		t.Fatalf("the retried job: %+v, %v", jobs, err)
	}
}

// TestOutboxJobSealedWithAnotherKeyIsDeadLettered: replicas configured with
// different secrets (or one without any) cannot open each other's messages.
// Such a job cannot ever be sent by this replica, so it goes to the dead
// letters, still sealed, with a reason naming the fix, instead of coming back
// forever; and a payload copied into another organization does not open.
func TestOutboxJobSealedWithAnotherKeyIsDeadLettered(t *testing.T) {
	ctx := context.Background()
	a := newOutbox(t, "sealkeys", "secret-one-0123456789abcdef0123456789abcdef")
	b := newOutbox(t, "sealkeys", "secret-two-0123456789abcdef0123456789abcdef")
	if _, err := a.Add(ctx, storage.Job{Platform: "slack", Channel: "c1", Payload: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	jobs, err := b.Claim(ctx, "w1", 10, 10*time.Millisecond, time.Minute)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("another key's job was handed out: %+v, %v", jobs, err)
	}
	stats, err := b.Stats(ctx)
	if err != nil || stats.Dead != 1 || stats.Waiting != 0 || stats.Pending != 0 {
		t.Fatalf("stats %+v, %v: want the job dead", stats, err)
	}
	dead, err := redistest.Shared(t).Client(t).XRange(ctx, "usher:{sealkeys}:outbox:dead", "-", "+").Result()
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Values["reason"].(string), "USHER_SECRET") ||
		!strings.HasPrefix(dead[0].Values["payload"].(string), "sealed1:") {
		t.Fatalf("dead letter: %+v, %v", dead, err)
	}

	// Same key, another organization: the organization is bound in.
	other := newOutbox(t, "sealkeys-2", "secret-one-0123456789abcdef0123456789abcdef")
	msgs, _ := redistest.Shared(t).Client(t).XRange(ctx, "usher:{sealkeys}:outbox:dead", "-", "+").Result()
	rdb := redistest.Shared(t).Client(t)
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "usher:{sealkeys-2}:outbox", Values: msgs[0].Values}).Err(); err != nil {
		t.Fatal(err)
	}
	jobs, err = other.Claim(ctx, "w1", 10, 10*time.Millisecond, time.Minute)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("a payload copied from another organization opened: %+v, %v", jobs, err)
	}
}

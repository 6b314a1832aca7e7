package storage

import (
	"context"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage/redistest"
)

// TestTeamsState: references and profiles round-trip with TTLs, the email
// index finds the object id, and writing again clears an unreachable mark.
func TestTeamsState(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	st, err := NewTeamsState(rdb, "teamsstate")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ref, err := st.Reference(ctx, "aad1"); err != nil || ref != nil {
		t.Fatalf("missing reference: %q %v", ref, err)
	}
	if aad, err := st.UserByEmail(ctx, "bob@example.com"); err != nil || aad != "" {
		t.Fatalf("unknown email: %q %v", aad, err)
	}
	if err := st.SaveProfile(ctx, "aad1", "Bob@Example.com", []byte(`{"email":"bob@example.com"}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	if aad, _ := st.UserByEmail(ctx, "bob@example.com"); aad != "aad1" {
		t.Fatalf("email index: %q", aad)
	}
	if p, _ := st.Profile(ctx, "aad1"); string(p) != `{"email":"bob@example.com"}` {
		t.Fatalf("profile: %s", p)
	}
	if err := st.MarkUnreachable(ctx, "aad1", "MessageWritesBlocked"); err != nil {
		t.Fatal(err)
	}
	if u, _ := st.Unreachable(ctx, "aad1"); !u {
		t.Fatal("not unreachable")
	}
	if err := st.SaveReference(ctx, "aad1", []byte(`{"serviceUrl":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if u, _ := st.Unreachable(ctx, "aad1"); u {
		t.Fatal("still unreachable after the user wrote again")
	}
	for _, key := range []string{"usher:{teamsstate}:teams:ref:aad1", "usher:{teamsstate}:teams:profile:aad1", "usher:{teamsstate}:teams:email:bob@example.com"} {
		if ttl := rdb.TTL(ctx, key).Val(); ttl <= 0 {
			t.Errorf("%s has no TTL (%v)", key, ttl)
		}
	}
}

// TestTeamsFirstSeen: an activity mark is new once, carries its TTL, and
// lives in the organization's hash tag (one Cluster slot).
func TestTeamsFirstSeen(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	st, err := NewTeamsState(rdb, "teamsseen")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rdb.Del(ctx, "usher:{teamsseen}:teams:seen:abc")
	if first, err := st.FirstSeen(ctx, "abc", time.Minute); err != nil || !first {
		t.Fatalf("first: %v %v", first, err)
	}
	if first, err := st.FirstSeen(ctx, "abc", time.Minute); err != nil || first {
		t.Fatalf("second: %v %v", first, err)
	}
	if ttl := rdb.TTL(ctx, "usher:{teamsseen}:teams:seen:abc").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("ttl %v", ttl)
	}
}

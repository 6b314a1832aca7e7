package storage

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// TestTeamsRecipientOneRoundTrip: a delivery's look-up (the email's object
// id, its unreachable mark, its reference) is one round trip to Redis and
// answers what the three separate reads did, on one redis-server and on a
// cluster (every key under the organization's hash tag).
func TestTeamsRecipientOneRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
	}{{"redis", redistest.Shared(t).Client(t)}, {"cluster", redistest.StartCluster(t, 3).Client(t)}} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &RoundTrips{}
			tc.rdb.AddHook(rt)
			st, err := NewTeamsState(tc.rdb, "teamsrcpt")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := teamsRecipientScript.Load(ctx, tc.rdb).Err(); err != nil {
				t.Fatal(err)
			}
			look := func(email, aad string) (string, bool, []byte) {
				t.Helper()
				rt.Reset()
				id, un, ref, err := st.Recipient(ctx, email, aad)
				if err != nil {
					t.Fatal(err)
				}
				if n := rt.Count(); n != 1 {
					t.Fatalf("%d round trips, want 1", n)
				}
				// The same as the separate reads.
				if aad == "" {
					if old, _ := st.UserByEmail(ctx, email); old != id {
						t.Fatalf("object id %q, UserByEmail says %q", id, old)
					}
				}
				if id != "" {
					oldUn, _ := st.Unreachable(ctx, id)
					oldRef, _ := st.Reference(ctx, id)
					if oldUn != un || string(oldRef) != string(ref) {
						t.Fatalf("unreachable %v ref %q, the separate reads say %v %q", un, ref, oldUn, oldRef)
					}
				}
				return id, un, ref
			}
			if id, un, ref := look("nobody@example.com", ""); id != "" || un || ref != nil {
				t.Fatalf("unknown email: %q %v %q", id, un, ref)
			}
			if err := st.SaveProfile(ctx, "aad9", "Zoe@Example.com", []byte(`{}`), time.Hour); err != nil {
				t.Fatal(err)
			}
			if id, un, ref := look("zoe@example.com", ""); id != "aad9" || un || ref != nil {
				t.Fatalf("indexed, no reference: %q %v %q", id, un, ref)
			}
			if err := st.SaveReference(ctx, "aad9", []byte(`{"serviceUrl":"x"}`)); err != nil {
				t.Fatal(err)
			}
			if id, un, ref := look("ZOE@example.com", ""); id != "aad9" || un || string(ref) != `{"serviceUrl":"x"}` {
				t.Fatalf("with a reference: %q %v %q", id, un, ref)
			}
			if err := st.MarkUnreachable(ctx, "aad9", "MessageWritesBlocked"); err != nil {
				t.Fatal(err)
			}
			if id, un, _ := look("zoe@example.com", ""); id != "aad9" || !un {
				t.Fatalf("marked: %q %v", id, un)
			}
			// The object id the origin knows, whatever the email.
			if id, un, ref := look("", "aad9"); id != "aad9" || !un || ref == nil {
				t.Fatalf("by object id: %q %v %q", id, un, ref)
			}
			if id, un, ref := look("zoe@example.com", "aad-other"); id != "aad-other" || un || ref != nil {
				t.Fatalf("by another object id: %q %v %q", id, un, ref)
			}
		})
	}
}

package handlers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// benchEnv is an organization whose Redis client counts round trips.
func benchEnv(b *testing.B) (*env, *storage.RoundTrips) {
	rdb := redistest.Shared(b).Client(b)
	rt := &storage.RoundTrips{}
	rdb.AddHook(rt)
	return newEnvOn(b, rdb), rt
}

// pingNanos is the baseline every benchmark reports against: the cost of one
// round trip to the same Redis, measured in the same run (these machines are
// noisy, so absolute times mean little).
func pingNanos(b *testing.B, e *env) float64 {
	ctx := context.Background()
	const n = 2000
	start := time.Now()
	for range n {
		if err := e.rdb.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / n
}

func report(b *testing.B, rt *storage.RoundTrips, ping float64, elapsed time.Duration) {
	b.ReportMetric(float64(rt.Count())/float64(b.N), "roundtrips/op")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)/ping, "x-ping")
}

func BenchmarkInvite(b *testing.B) {
	e, rt := benchEnv(b)
	ping := pingNanos(b, e)
	rt.Reset()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if r := e.run(boss, fmt.Sprintf("invite user%d@example.com --role member --force", i)); r.Code != "" {
			b.Fatalf("%s: %s", r.Code, r.Text)
		}
	}
	report(b, rt, ping, time.Since(start))
}

func BenchmarkAccept(b *testing.B) {
	e, rt := benchEnv(b)
	ids := make([]string, b.N)
	for i := range b.N {
		ids[i], _ = e.invite(boss, fmt.Sprintf("user%d@example.com", i), "--force")
	}
	ping := pingNanos(b, e)
	rt.Reset()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if r := e.run(fmt.Sprintf("user%d@example.com", i), "accept "+ids[i]); r.Code != "" {
			b.Fatalf("%s: %s", r.Code, r.Text)
		}
	}
	report(b, rt, ping, time.Since(start))
}

func BenchmarkMembers1000(b *testing.B) {
	e, rt := benchEnv(b)
	ctx := context.Background()
	for i := range 999 {
		u := &org.User{Email: fmt.Sprintf("member%04d@example.com", i), Role: org.RoleMember, Status: org.StatusActive,
			Workspaces: org.Grants{{Workspace: "ml", Role: org.WorkspaceEditor}}, Created: e.clock.Now()}
		if err := e.store.Commit(ctx, org.Change{Users: []org.UserWrite{{User: u}}, Now: e.clock.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	if r := e.ok(boss, "members"); len(r.Items) != 1000 {
		b.Fatalf("%d members listed, want 1000", len(r.Items))
	}
	ping := pingNanos(b, e)
	rt.Reset()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if r := e.run(boss, "members"); len(r.Items) != 1000 {
			b.Fatalf("%d members", len(r.Items))
		}
	}
	report(b, rt, ping, time.Since(start))
}

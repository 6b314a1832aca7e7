package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers"
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

// meter reports a benchmark's figures against a baseline measured in the same
// run, interleaved with the operations so that both see the same noise: one
// PING round trip to the same Redis, timed with the benchmark timer stopped.
type meter struct {
	b     *testing.B
	e     *env
	rt    *storage.RoundTrips
	op    time.Duration
	ping  time.Duration
	since time.Time
}

func newMeter(b *testing.B, e *env, rt *storage.RoundTrips) *meter {
	b.ResetTimer()
	rt.Reset()
	return &meter{b: b, e: e, rt: rt}
}

func (m *meter) start() { m.since = time.Now() }

// stop ends one operation and times one baseline round trip after it.
func (m *meter) stop() {
	m.op += time.Since(m.since)
	m.b.StopTimer()
	n := m.rt.Count()
	t := time.Now()
	if err := m.e.rdb.Ping(context.Background()).Err(); err != nil {
		m.b.Fatal(err)
	}
	m.ping += time.Since(t)
	m.rt.Add(n - m.rt.Count()) // the baseline's round trip is not the command's
	m.b.StartTimer()
}

func (m *meter) report() {
	m.b.ReportMetric(float64(m.rt.Count())/float64(m.b.N), "roundtrips/op")
	m.b.ReportMetric(float64(m.op)/float64(m.ping), "x-roundtrip")
}

func BenchmarkInvite(b *testing.B) {
	e, rt := benchEnv(b)
	m := newMeter(b, e, rt)
	for i := range b.N {
		m.start()
		r := e.run(boss, fmt.Sprintf("invite user%d@example.com --role member --force", i))
		m.stop()
		if r.Code != "" {
			b.Fatalf("%s: %s", r.Code, r.Text)
		}
	}
	m.report()
}

func BenchmarkAccept(b *testing.B) {
	e, rt := benchEnv(b)
	ids := make([]string, b.N)
	for i := range b.N {
		ids[i], _ = e.invite(boss, fmt.Sprintf("user%d@example.com", i), "--force")
	}
	m := newMeter(b, e, rt)
	for i := range b.N {
		m.start()
		r := e.run(fmt.Sprintf("user%d@example.com", i), "accept "+ids[i])
		m.stop()
		if r.Code != "" {
			b.Fatalf("%s: %s", r.Code, r.Text)
		}
	}
	m.report()
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
	// A page of them, read from all 1,000 (the count and the search need
	// every row; README "Lists that page").
	if r := e.ok(boss, "members"); len(r.Items) != handlers.MembersPerPage || !strings.Contains(r.Text, "Page 1 of 50") {
		b.Fatalf("%d members listed (%q), want a page of %d of 1000", len(r.Items), r.Text, handlers.MembersPerPage)
	}
	m := newMeter(b, e, rt)
	for range b.N {
		m.start()
		r := e.run(boss, "members")
		m.stop()
		if len(r.Items) != handlers.MembersPerPage {
			b.Fatalf("%d members", len(r.Items))
		}
	}
	m.report()
}

package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

const day = 24 * time.Hour

func dueKey(orgID string) string     { return "usher:{" + orgID + "}:due" }
func claimedKey(orgID string) string { return "usher:{" + orgID + "}:claimed" }

func pendingInvitation(id string, next time.Time) *org.Invitation {
	return &org.Invitation{ID: id, Email: id + "@example.com", Role: org.RoleMember, Inviter: "a@example.com",
		Created: now, Expires: now.Add(7 * day), Status: org.InvitationPending, Updated: now, NextRemind: next}
}

func score(t *testing.T, rdb *redis.Client, key, member string) (float64, bool) {
	t.Helper()
	s, err := rdb.ZScore(context.Background(), key, member).Result()
	if errors.Is(err, redis.Nil) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return s, true
}

func msOf(t time.Time) float64 { return float64(t.UnixMilli()) }

// TestCommitKeepsTheDueQueueInStep: a pending invitation has one due entry,
// at its next reminder or its expiry, whichever comes first; a request has
// none; a settled invitation's entry goes.
func TestCommitKeepsTheDueQueueInStep(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "dueq")
	ctx := context.Background()
	commit := func(ws ...org.InvitationWrite) {
		t.Helper()
		if err := s.Commit(ctx, org.Change{Invitations: ws, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	a := pendingInvitation("aaaa", now.Add(2*day))
	b := pendingInvitation("bbbb", time.Time{})
	c := pendingInvitation("cccc", now.Add(8*day)) // after its expiry
	r := pendingInvitation("rrrr", time.Time{})
	r.Status = org.InvitationRequested
	commit(org.InvitationWrite{Invitation: a}, org.InvitationWrite{Invitation: b}, org.InvitationWrite{Invitation: c}, org.InvitationWrite{Invitation: r})
	for id, want := range map[string]time.Time{"aaaa": now.Add(2 * day), "bbbb": now.Add(7 * day), "cccc": now.Add(7 * day)} {
		if got, ok := score(t, rdb, dueKey("dueq"), "inv:"+id); !ok || got != msOf(want) {
			t.Errorf("%s due at %v (%v), want %v", id, got, ok, want)
		}
	}
	// A request is due at its expiry, for the sweep to close it; never for a reminder.
	if got, ok := score(t, rdb, dueKey("dueq"), "inv:rrrr"); !ok || got != msOf(now.Add(7*day)) {
		t.Errorf("a request due at %v (%v), want its expiry", got, ok)
	}
	// A reminder sent: the entry moves to the next one.
	a2 := a.Clone()
	a2.Reminders, a2.NextRemind = 1, now.Add(4*day)
	commit(org.InvitationWrite{Invitation: a2, Expect: org.InvitationPending, Version: 1})
	if got, _ := score(t, rdb, dueKey("dueq"), "inv:aaaa"); got != msOf(now.Add(4*day)) {
		t.Errorf("after a reminder: due at %v", got)
	}
	// Settled: gone.
	a3 := a2.Clone()
	a3.Status = org.InvitationAccepted
	commit(org.InvitationWrite{Invitation: a3, Expect: org.InvitationPending, Version: 2})
	if _, ok := score(t, rdb, dueKey("dueq"), "inv:aaaa"); ok {
		t.Error("an accepted invitation is still due")
	}
}

func ids(items []org.DueItem) string {
	var out []string
	for _, it := range items {
		out = append(out, it.Kind+":"+it.InvitationID)
	}
	return strings.Join(out, ",")
}

// TestClaimAndAck: a claim takes what is due, oldest first, up to its limit;
// nobody else gets a claimed item; an acknowledged claim is gone, and an
// abandoned one comes back when its lease ends, unless the item was planned
// anew meanwhile.
func TestClaimAndAck(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "claims")
	other := newStore(t, redistest.Shared(t).Client(t), "claims") // another replica
	ctx := context.Background()
	var ws []org.InvitationWrite
	for i, at := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour, 5 * day} {
		ws = append(ws, org.InvitationWrite{Invitation: pendingInvitation(fmt.Sprintf("inv%d", i), now.Add(at))})
	}
	if err := s.Commit(ctx, org.Change{Invitations: ws, Now: now}); err != nil {
		t.Fatal(err)
	}
	t1 := now.Add(4 * time.Hour)

	got, err := s.Claim(ctx, t1, time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ids(got) != "inv:inv1,inv:inv2" || !got[0].At.Equal(now.Add(time.Hour)) || got[0].Claim == "" {
		t.Fatalf("first claim %+v", got)
	}
	rest, err := other.Claim(ctx, t1, time.Minute, 10)
	if err != nil || ids(rest) != "inv:inv0" {
		t.Fatalf("the other replica claimed %q (%v), want only inv0", ids(rest), err)
	}
	if more, _ := other.Claim(ctx, t1, time.Minute, 10); len(more) != 0 {
		t.Fatalf("claimed twice: %q", ids(more))
	}
	if err := s.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, got); err != nil { // twice: harmless
		t.Fatal(err)
	}
	if n, _ := rdb.ZCard(ctx, claimedKey("claims")).Result(); n != 1 {
		t.Fatalf("%d claims held, want the other replica's one", n)
	}

	// A replica claims with a short lease and dies.
	inv3 := ws[3].Invitation
	short, err := s.Claim(ctx, now.Add(6*day), 20*time.Millisecond, 10)
	if err != nil || ids(short) != "inv:inv3" {
		t.Fatalf("short claim %q, %v", ids(short), err)
	}
	if again, _ := other.Claim(ctx, now.Add(6*day), time.Minute, 10); len(again) != 0 {
		t.Fatalf("taken during the lease: %q", ids(again))
	}
	time.Sleep(60 * time.Millisecond) // Redis's clock passes the lease end
	back, err := other.Claim(ctx, now.Add(6*day), time.Minute, 10)
	if err != nil || ids(back) != "inv:inv3" || !back[0].At.Equal(inv3.NextRemind) {
		t.Fatalf("after the lease: %+v, %v; want inv3 back at its due time", back, err)
	}
	// The dead replica's late ack cannot drop the new holder's claim.
	if err := s.Ack(ctx, short); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.ZScore(ctx, claimedKey("claims"), back[0].Claim).Result(); n == 0 {
		t.Fatal("a stale ack dropped another replica's claim")
	}

	// Planned anew while claimed: a lease that runs out keeps the new time.
	short, _ = other.Claim(ctx, now.Add(6*day), time.Minute, 10) // nothing due; claim the next one:
	if len(short) != 0 {
		t.Fatalf("%q", ids(short))
	}
	next := inv3.Clone()
	next.Reminders, next.NextRemind = 1, now.Add(6*day+time.Hour)
	if err := s.Commit(ctx, org.Change{Invitations: []org.InvitationWrite{{Invitation: next, Expect: org.InvitationPending, Version: 1}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, claimedKey("claims"), redis.Z{Score: 1, Member: back[0].Claim}).Err(); err != nil { // its lease ends now
		t.Fatal(err)
	}
	if got, _ := s.Claim(ctx, now.Add(6*day), time.Minute, 10); len(got) != 0 {
		t.Fatalf("the reaped claim came back due: %q", ids(got))
	}
	if sc, _ := score(t, rdb, dueKey("claims"), "inv:inv3"); sc != msOf(next.NextRemind) {
		t.Fatalf("inv3 due at %v, want the new plan %v", sc, next.NextRemind)
	}
}

// TestDigestSlotIsGuarded: of two replicas moving the digest from the same
// slot, one wins; the other is told the state moved.
func TestDigestSlotIsGuarded(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "digestslot")
	ctx := context.Background()
	slot, next := now.Add(7*day), now.Add(14*day)
	plan := func(expect, to time.Time) error {
		return s.Commit(ctx, org.Change{Digest: &org.DigestWrite{ExpectNext: expect, Next: to, Schedule: "0 9 * * MON in UTC"}, Now: now})
	}
	if err := plan(time.Time{}, slot); err != nil {
		t.Fatal(err)
	}
	if err := plan(time.Time{}, slot); err == nil {
		t.Fatal("planned twice from nothing")
	}
	snap, err := s.Load(ctx, org.Query{Digest: true})
	if err != nil || !snap.Digest.Next.Equal(slot) || snap.Digest.Schedule != "0 9 * * MON in UTC" {
		t.Fatalf("digest state %+v, %v", snap.Digest, err)
	}
	if sc, _ := score(t, rdb, dueKey("digestslot"), org.DueDigest); sc != msOf(slot) {
		t.Fatalf("digest due at %v", sc)
	}
	if err := plan(slot, next); err != nil {
		t.Fatal(err)
	}
	var stale *org.PreconditionError
	if err := plan(slot, next); !errors.As(err, &stale) {
		t.Fatalf("second replica: %v, want a precondition error", err)
	}
	if err := plan(next, time.Time{}); err != nil { // off
		t.Fatal(err)
	}
	if _, ok := score(t, rdb, dueKey("digestslot"), org.DueDigest); ok {
		t.Fatal("digest still due after being turned off")
	}
}

// inviters is how many people sent the seeded invitations.
const inviters = 10

// seedInvitations writes n pending invitations as the invite command does
// (link token, indexes, a planned reminder; no audit entry), batch per
// commit, and returns their ids.
func seedInvitations(tb testing.TB, s *storage.Store, n, batch int) []string {
	tb.Helper()
	ctx := context.Background()
	var ids []string
	for start := 0; start < n; start += batch {
		var ch org.Change
		for i := start; i < min(n, start+batch); i++ {
			id := fmt.Sprintf("%08x", i)
			ids = append(ids, id)
			inv := &org.Invitation{ID: id, Email: fmt.Sprintf("firstname.lastname%07d@example.com", i), Role: org.RoleMember,
				Workspaces: org.Grants{{Workspace: "fraud-models", Role: org.WorkspaceEditor}},
				Inviter:    fmt.Sprintf("inviter%02d@example.com", i%inviters), Created: now, Expires: now.Add(7 * day),
				Status: org.InvitationPending, Delivery: "slack:dm", NextRemind: now.Add(2 * day), Updated: now}
			ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: inv, NewTokenHash: fmt.Sprintf("%064x", i+1)})
		}
		ch.Now = now
		if err := s.Commit(ctx, ch); err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}

// memoryPerInvitation measures, on a server of its own, what n pending
// invitations cost in Redis: INFO used_memory before and after, per
// invitation, and MEMORY USAGE of each kind of key.
func memoryPerInvitation(tb testing.TB, n int) (perInvitation float64, report string) {
	tb.Helper()
	srv := redistest.Start(tb)
	rdb := srv.Client(tb)
	ctx := context.Background()
	s, err := storage.New(rdb, "default") // the org id cmd/usher uses unless told otherwise
	if err != nil {
		tb.Fatal(err)
	}
	used := func() int64 {
		info, err := rdb.Info(ctx, "memory").Result()
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		tb.Fatal("no used_memory in INFO memory")
		return 0
	}
	// Warm up first (scripts cached, client buffers grown), so that what
	// is measured is what the invitations cost.
	warm, err := storage.New(rdb, "warmup")
	if err != nil {
		tb.Fatal(err)
	}
	seedInvitations(tb, warm, 500, 500)
	before := used()
	ids := seedInvitations(tb, s, n, 500)
	after := used()
	perInvitation = float64(after-before) / float64(n)

	usage := func(key string) int64 {
		v, err := rdb.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			tb.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		return v
	}
	p := "usher:{default}:"
	share := func(key string, keys int) float64 { return float64(usage(key)) * float64(keys) / float64(n) }
	var b strings.Builder
	fmt.Fprintf(&b, "Redis memory per pending invitation over %d: %.0f bytes (INFO used_memory delta / %d)\n", n, perInvitation, n)
	fmt.Fprintf(&b, "  MEMORY USAGE: its hash %d; its share of: tokens %.0f, open %.0f, pending %.0f, by (%d inviters) %.0f, due %.0f",
		usage(p+"inv:"+ids[n/2]), share(p+"tokens", 1), share(p+"open", 1), share(p+"pending", 1), inviters, share(p+"by:inviter00@example.com", inviters), share(p+"due", 1))
	return perInvitation, b.String()
}

// TestMemoryPerPendingInvitation is the quick version of
// BenchmarkPendingInvitationMemory: 2,000 invitations stay under 1 KiB each.
func TestMemoryPerPendingInvitation(t *testing.T) {
	per, report := memoryPerInvitation(t, 2000)
	t.Log(report)
	if per > 1024 {
		t.Errorf("%.0f bytes per pending invitation, want at most 1 KiB:\n%s", per, report)
	}
}

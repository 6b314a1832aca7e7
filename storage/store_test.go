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

func TestMain(m *testing.M) { redistest.Main(m) }

var now = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func newStore(t *testing.T, rdb redis.UniversalClient, orgID string) *storage.Store {
	t.Helper()
	s, err := storage.New(rdb, org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func admin(email string) *org.User {
	return &org.User{Email: email, Role: org.RoleAdmin, Status: org.StatusActive, Created: now, Updated: now}
}

func TestOrgIDIsValidated(t *testing.T) {
	for _, bad := range []string{"", "Acme", "a{b}", "a:b", strings.Repeat("a", 33), "-x"} {
		if _, err := storage.New(nil, org.ID(bad)); err == nil {
			t.Errorf("org id %q accepted", bad)
		}
	}
}

// TestEveryKeyCarriesTheOrgHashTag walks a whole flow and then checks that
// every key written lives in the org's hash slot: {org} is each key's first
// hash tag, so Redis Cluster keeps an org in one slot and the Lua scripts may
// touch all of its keys.
func TestEveryKeyCarriesTheOrgHashTag(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "tagcheck")
	ctx := context.Background()
	inv := &org.Invitation{ID: "abcdefgh", Email: "b}{x@example.com", Role: org.RoleMember, Inviter: "a@example.com",
		Created: now, Expires: now.Add(time.Hour), Status: org.InvitationPending, Updated: now}
	steps := []org.Change{
		{Users: []org.UserWrite{{User: admin("a@example.com")}}, Workspace: &org.Workspace{Name: "ml", Creator: "a@example.com", Created: now},
			Settings: map[string]string{"name": "Acme"}, Links: []org.IdentityLink{{Identity: "slack:T1:U1", Email: "a@example.com"}}},
		{Invitations: []org.InvitationWrite{{Invitation: inv, NewTokenHash: strings.Repeat("ab", 32)}},
			Quota: &org.QuotaUse{Email: "a@example.com", Day: "20260105", N: 1, Limit: 50},
			Audit: []org.AuditEntry{{At: now, Actor: "a@example.com", Action: "invitation.create", Target: inv.Email}}},
		{EndSessions: []string{"a@example.com"}},
	}
	for i, ch := range steps {
		ch.Now = now
		if err := s.Commit(ctx, ch); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, k := range keys {
		if !strings.HasPrefix(k, "usher:{tagcheck}:") {
			continue
		}
		seen++
		open := strings.IndexByte(k, '{')
		end := strings.IndexByte(k[open+1:], '}')
		if tag := k[open+1 : open+1+end]; tag != "tagcheck" {
			t.Errorf("key %q hashes by %q, not the org", k, tag)
		}
	}
	if seen < 10 {
		t.Fatalf("only %d keys written: %v", seen, keys)
	}
}

// A refused change writes nothing: guards run before any write.
func TestRefusedChangeWritesNothing(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "atomic")
	ctx := context.Background()
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("a@example.com")}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	// Stale version for a, plus other writes that must not happen.
	b := admin("b@example.com")
	err := s.Commit(ctx, org.Change{
		Users:    []org.UserWrite{{User: b}, {User: admin("a@example.com"), Version: 7}},
		Settings: map[string]string{"name": "Changed"},
		Audit:    []org.AuditEntry{{At: now, Action: "test"}},
		Now:      now,
	})
	var stale *org.PreconditionError
	if !errors.As(err, &stale) {
		t.Fatalf("stale commit: %v", err)
	}
	snap, err := s.Load(ctx, org.Query{Users: []string{"b@example.com"}, AuditLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Users["b@example.com"] != nil || snap.Settings.Name == "Changed" || len(snap.Audit) != 0 {
		t.Fatalf("a refused change left writes behind: %+v", snap)
	}
	// Creating a user that exists is refused too (version 0 means "must not exist").
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("a@example.com")}}, Now: now}); !errors.As(err, &stale) {
		t.Fatalf("re-creating a user: %v", err)
	}
}

func TestOneOpenInvitationPerEmail(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "openidx")
	ctx := context.Background()
	mk := func(id string) *org.Invitation {
		return &org.Invitation{ID: id, Email: "bob@example.com", Role: org.RoleMember, Inviter: "a@example.com",
			Created: now, Expires: now.Add(time.Hour), Status: org.InvitationPending, Updated: now}
	}
	if err := s.Commit(ctx, org.Change{Invitations: []org.InvitationWrite{{Invitation: mk("first111")}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(ctx, org.Change{Invitations: []org.InvitationWrite{{Invitation: mk("second22")}}, Now: now})
	var stale *org.PreconditionError
	if !errors.As(err, &stale) || stale.Actual != "first111" {
		t.Fatalf("second open invitation for the same email: %v", err)
	}
}

func TestQuotaGuard(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "quota")
	ctx := context.Background()
	use := func(n, limit int) error {
		return s.Commit(ctx, org.Change{Quota: &org.QuotaUse{Email: "a@example.com", Day: "20260105", N: n, Limit: limit}, Now: now})
	}
	if err := use(3, 5); err != nil {
		t.Fatal(err)
	}
	if err := use(3, 5); org.ErrorCode(err) != org.CodeLimit {
		t.Fatalf("over the limit: %v", err)
	}
	if err := use(2, 5); err != nil {
		t.Fatalf("up to the limit: %v", err)
	}
	if err := use(10, 0); err != nil {
		t.Fatalf("limit 0 means unlimited: %v", err)
	}
	ttl := rdb.PTTL(ctx, "usher:{quota}:quota:a@example.com:20260105").Val()
	if ttl <= 0 || ttl > 48*time.Hour {
		t.Fatalf("quota counter ttl %v, want it to expire within 48h", ttl)
	}
}

// TestRedisOutage: a stopped Redis is reported as org.ErrUnavailable (so the
// user is told to try again), and the same store recovers once it is back.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: 0})
	t.Cleanup(func() { rdb.Close() })
	s := newStore(t, rdb, "outage")
	ctx := context.Background()
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("a@example.com")}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, err := s.Load(ctx, org.Query{Actor: "a@example.com"})
	if org.ErrorCode(err) != org.CodeUnavailable {
		t.Fatalf("load with Redis down: %v, want unavailable", err)
	}
	err = s.Commit(ctx, org.Change{Settings: map[string]string{"name": "X"}, Now: now})
	if org.ErrorCode(err) != org.CodeUnavailable {
		t.Fatalf("commit with Redis down: %v, want unavailable", err)
	}
	srv.Restart(t)
	// A restarted server has no scripts loaded: Run falls back to EVAL.
	snap, err := s.Load(ctx, org.Query{Actor: "a@example.com"})
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	_ = snap // persistence is off, so the data is gone; reachability is the point
}

// Scripts flushed from Redis (a failover to a replica without them) are
// reloaded transparently.
func TestScriptFlushIsSurvived(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "flush")
	ctx := context.Background()
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("a@example.com")}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load(ctx, org.Query{Actor: "a@example.com", AllUsers: true, Admins: true})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Actor.IsActiveAdmin() || len(snap.AllUsers) != 1 || len(snap.Admins) != 1 || snap.Actor.Version != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
}

// TestRoundTripOfEveryField writes a user and an invitation with every field
// set and reads them back unchanged.
func TestRoundTripOfEveryField(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "fields")
	ctx := context.Background()
	u := &org.User{Email: "a@example.com", Name: "Ada L.", Role: org.RoleMember, Status: org.StatusDeactivated,
		Workspaces:   org.Grants{{Workspace: "ml", Role: org.WorkspaceManager}, {Workspace: "web", Role: org.WorkspaceReader}},
		PasswordHash: "$argon2id$x", MustChangePassword: true, PasswordExpires: now.Add(time.Hour), Created: now, Updated: now.Add(time.Minute)}
	inv := &org.Invitation{ID: "abcdefgh", Email: "b@example.com", Role: org.RoleViewer, Workspaces: org.Grants{{Workspace: "ml", Role: org.WorkspaceReader}},
		Note: "hi, there | ok", Inviter: "a@example.com", Created: now, Expires: now.Add(time.Hour), Status: org.InvitationPending,
		Delivery: "slack dm", Reminders: 2, NextRemind: now.Add(30 * time.Minute), Updated: now}
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: u}}, Invitations: []org.InvitationWrite{{Invitation: inv}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load(ctx, org.Query{Users: []string{u.Email}, Invitation: inv.ID, OpenFor: []string{inv.Email}, Pending: true, PendingBy: ""})
	if err != nil {
		t.Fatal(err)
	}
	got := snap.Users[u.Email]
	u.Version = 1
	if got.Email != u.Email || got.Name != u.Name || got.Role != u.Role || got.Status != u.Status || got.Workspaces.Encode() != u.Workspaces.Encode() ||
		got.PasswordHash != u.PasswordHash || !got.MustChangePassword || !got.PasswordExpires.Equal(u.PasswordExpires) ||
		!got.Created.Equal(u.Created) || !got.Updated.Equal(u.Updated) || got.Version != 1 {
		t.Errorf("user read back as %+v\nwant %+v", got, u)
	}
	gi := snap.Invitation
	if gi.Note != inv.Note || gi.Delivery != inv.Delivery || gi.Reminders != 2 || !gi.NextRemind.Equal(inv.NextRemind) || gi.Workspaces.Encode() != inv.Workspaces.Encode() || gi.Version != 1 {
		t.Errorf("invitation read back as %+v", gi)
	}
	if snap.Open[inv.Email] == nil || len(snap.Pending) != 1 || snap.PendingTotal != 1 {
		t.Errorf("indexes: open=%v pending=%d total=%d", snap.Open[inv.Email], len(snap.Pending), snap.PendingTotal)
	}
}

// One open invitation per email: a change may open a new one only while the
// open index is free, or when it closes, in the same step, the one it points
// at (an invitation found past its expiry, replaced).
func TestOpenInvitationReplacedInOneStep(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "replace"+strconv.FormatInt(time.Now().UnixNano(), 36))
	ctx := context.Background()
	mk := func(id string) *org.Invitation {
		return &org.Invitation{ID: id, Email: "x@example.com", Role: org.RoleMember, Inviter: "a@example.com",
			Created: now, Expires: now.Add(time.Hour), Status: org.InvitationPending, Updated: now}
	}
	old := mk("oldoldol")
	if err := s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: old}}}); err != nil {
		t.Fatal(err)
	}
	var stale *org.PreconditionError
	if err := s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: mk("newnewne")}}}); !errors.As(err, &stale) {
		t.Fatalf("a second open invitation without closing the first: %v", err)
	}
	closed := old.Clone()
	closed.Status = org.InvitationExpired
	err := s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{
		{Invitation: closed, Expect: org.InvitationPending, Version: 1}, {Invitation: mk("newnewne")}}})
	if err != nil {
		t.Fatalf("replace: %v", err)
	}
	snap, err := s.Load(ctx, org.Query{OpenFor: []string{"x@example.com"}, Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	if inv := snap.Open["x@example.com"]; inv == nil || inv.ID != "newnewne" || len(snap.Pending) != 1 {
		t.Fatalf("after replacing: open %+v, pending %d", inv, len(snap.Pending))
	}
}

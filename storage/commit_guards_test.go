package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestEveryGuardRefusesWithItsOwnError: each guard of a commit, made to
// fail, refuses the change with the error its op declares: a stale read
// becomes a *org.PreconditionError naming what moved and what it holds now
// (handlers re-read and decide again; the name reaches only the log), an
// invariant a coded error the user is shown. Either way nothing is written.
// The same on the embedded store (miniredis), which runs the same scripts
// for `usher shell` and whose Lua replies are converted by its own code.
func TestEveryGuardRefusesWithItsOwnError(t *testing.T) {
	mr := miniredis.RunT(t)
	embedded := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { embedded.Close() })
	for _, backend := range []struct {
		name string
		rdb  redis.UniversalClient
	}{{"redis", redistest.Shared(t).Client(t)}, {"miniredis", embedded}} {
		t.Run(backend.name, func(t *testing.T) { testGuards(t, backend.rdb) })
	}
}

func testGuards(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	a := func() *org.User { return admin("a@example.com") }
	inv := func(id, email string) *org.Invitation {
		return &org.Invitation{ID: id, Email: email, Role: org.RoleMember, Inviter: "a@example.com",
			Created: now, Expires: now.Add(time.Hour), Status: org.InvitationPending, Updated: now}
	}
	withAdmin := []org.Change{{Users: []org.UserWrite{{User: a()}}, Now: now}}
	withInvitation := append(withAdmin, org.Change{Invitations: []org.InvitationWrite{{Invitation: inv("first111", "Bob@Example.com")}}, Now: now})
	deactivated := a()
	deactivated.Status = org.StatusDeactivated

	for i, tc := range []struct {
		name   string
		before []org.Change
		change org.Change
		// a precondition error with What and Actual, or a coded error
		what, actual string
		code         org.Code
		message      string
	}{
		{name: "actor pinned", before: withAdmin,
			change: org.Change{Actor: "a@example.com", ActorVersion: 5},
			what:   "actor a@example.com", actual: "1"},
		{name: "settings revision pinned",
			change: org.Change{PinRevision: true, Revision: 3},
			what:   "settings revision", actual: ""},
		{name: "no user yet", before: withAdmin,
			change: org.Change{NoUsers: []string{"A@example.com"}},
			what:   "user A@example.com", actual: "exists"},
		{name: "new user exists", before: withAdmin,
			change: org.Change{Users: []org.UserWrite{{User: a()}}},
			what:   "user a@example.com", actual: "exists"},
		{name: "user version", before: withAdmin,
			change: org.Change{Users: []org.UserWrite{{User: a(), Version: 7}}},
			what:   "user a@example.com", actual: "1"},
		{name: "last admin", before: withAdmin,
			change:  org.Change{Users: []org.UserWrite{{User: deactivated, Version: 1}}},
			code:    org.CodeLastAdmin,
			message: "a@example.com is the last active admin; usher never leaves the organization without one. Make someone else an admin first."},
		{name: "new invitation exists", before: withInvitation,
			change: org.Change{Invitations: []org.InvitationWrite{{Invitation: inv("first111", "carol@example.com")}}},
			what:   "invitation first111", actual: "exists"},
		{name: "invitation status", before: withInvitation,
			change: org.Change{Invitations: []org.InvitationWrite{{Invitation: inv("first111", "Bob@Example.com"), Expect: org.InvitationRequested, Version: 1}}},
			what:   "invitation first111 status", actual: "pending"},
		{name: "invitation version", before: withInvitation,
			change: org.Change{Invitations: []org.InvitationWrite{{Invitation: inv("first111", "Bob@Example.com"), Expect: org.InvitationPending, Version: 4}}},
			what:   "invitation first111", actual: "1"},
		{name: "one open invitation per person", before: withInvitation,
			change: org.Change{Invitations: []org.InvitationWrite{{Invitation: inv("second22", "bob@example.com")}}},
			what:   "open:bob@example.com", actual: "first111"},
		{name: "workspace exists",
			before:  []org.Change{{Workspace: &org.Workspace{Name: "ml", Creator: "a@example.com", Created: now}, Now: now}},
			change:  org.Change{Workspace: &org.Workspace{Name: "ml", Creator: "b@example.com", Created: now}},
			code:    org.CodeConflict,
			message: "Workspace ml already exists."},
		{name: "workspace renamed from what was read",
			before: []org.Change{{Workspace: &org.Workspace{Name: "ml", Creator: "a@example.com", Created: now}, Now: now}},
			change: org.Change{RenameWorkspace: &org.WorkspaceRename{From: org.Workspace{Name: "ml", Creator: "b@example.com", Created: now}, To: "ai"}},
			what:   "workspace ml", actual: "a@example.com|" + strconv.FormatInt(now.UnixMilli(), 10)},
		{name: "workspace renamed onto another",
			before: []org.Change{
				{Workspace: &org.Workspace{Name: "ml", Creator: "a@example.com", Created: now}, Now: now},
				{Workspace: &org.Workspace{Name: "ai", Creator: "a@example.com", Created: now}, Now: now}},
			change:  org.Change{RenameWorkspace: &org.WorkspaceRename{From: org.Workspace{Name: "ml", Creator: "a@example.com", Created: now}, To: "ai"}},
			code:    org.CodeConflict,
			message: "Workspace ai already exists."},
		{name: "workspace deleted already",
			change: org.Change{DeleteWorkspace: &org.Workspace{Name: "ml", Creator: "a@example.com", Created: now}},
			what:   "workspace ml", actual: ""},
		{name: "digest slot",
			change: org.Change{Digest: &org.DigestWrite{ExpectNext: now, Next: now.Add(time.Hour)}},
			what:   "digest", actual: ""},
		{name: "daily quota",
			before:  []org.Change{{Quota: &org.QuotaUse{Email: "a@example.com", Day: "20260105", N: 1, Limit: 2}, Now: now}},
			change:  org.Change{Quota: &org.QuotaUse{Email: "a@example.com", Day: "20260105", N: 2, Limit: 2}},
			code:    org.CodeLimit,
			message: "You have reached today's invitation limit (1 sent). Try again tomorrow, or ask an admin."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, rdb, fmt.Sprintf("guard-%d", i))
			for _, ch := range tc.before {
				if err := s.Commit(ctx, ch); err != nil {
					t.Fatalf("before: %v", err)
				}
			}
			ch := tc.change
			ch.Now = now
			ch.Audit = []org.AuditEntry{{At: now, Action: "refused"}}
			err := s.Commit(ctx, ch)
			if tc.code != "" {
				var e *org.Error
				if !errors.As(err, &e) || e.Code != tc.code || e.Error() != tc.message {
					t.Fatalf("got %v, want %s: %s", err, tc.code, tc.message)
				}
			} else {
				var stale *org.PreconditionError
				if !errors.As(err, &stale) || stale.What != tc.what || stale.Actual != tc.actual {
					t.Fatalf("got %v, want a precondition error on %s, now %q", err, tc.what, tc.actual)
				}
			}
			snap, err := s.Load(ctx, org.Query{AuditLimit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Audit) != 0 {
				t.Fatalf("the refused change wrote its audit entry: %+v", snap.Audit)
			}
		})
	}
}

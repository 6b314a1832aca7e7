package handlers_test

import (
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// TestEnsureAdminLeavesChatChangesAlone: EnsureAdmin creates a missing admin,
// writes nothing for an active one, leaves someone demoted in chat as they
// are unless forced, and a forced restore is audited as the operator's.
func TestEnsureAdminLeavesChatChangesAlone(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, tc := range []struct {
		email string
		force bool
		want  handlers.AdminOutcome
	}{
		{"ann@example.com", false, handlers.AdminCreated},
		{"ann@example.com", false, handlers.AdminAlready},
	} {
		if got, _, err := e.svc.EnsureAdmin(ctx, tc.email, tc.force); err != nil || got != tc.want {
			t.Fatalf("EnsureAdmin(%s, %v) = %s, %v; want %s", tc.email, tc.force, got, err, tc.want)
		}
	}
	e.ok(boss, "role ann@example.com viewer --confirm")
	got, u, err := e.svc.EnsureAdmin(ctx, "ann@example.com", false)
	if err != nil || got != handlers.AdminSkipped || u.Role != org.RoleViewer {
		t.Fatalf("EnsureAdmin of a demoted admin = %s, %+v, %v; want skipped, viewer", got, u, err)
	}
	snap, err := e.store.Load(ctx, org.Query{Users: []string{"ann@example.com"}, AuditLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r := snap.Users["ann@example.com"].Role; r != org.RoleViewer || snap.Audit[0].Actor != boss {
		t.Fatalf("after a skip: ann is %s, last audit %+v; want viewer, by %s", r, snap.Audit[0], boss)
	}
	if got, _, err := e.svc.EnsureAdmin(ctx, "ann@example.com", true); err != nil || got != handlers.AdminRestored {
		t.Fatalf("forced: %s, %v", got, err)
	}
	snap, err = e.store.Load(ctx, org.Query{Users: []string{"ann@example.com"}, AuditLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Users["ann@example.com"].IsActiveAdmin() || snap.Audit[0].Actor != "operator" {
		t.Fatalf("after force: %+v, audit %+v", snap.Users["ann@example.com"], snap.Audit[0])
	}
}

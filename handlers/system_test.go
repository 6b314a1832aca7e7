package handlers_test

import (
	"slices"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
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

// TestCreateOrganization: a new organization's name and first admin are
// one commit, audited as the operator's; a bad name writes nothing; an
// admin already there keeps their record and the name is still written.
func TestCreateOrganization(t *testing.T) {
	ctx := t.Context()
	rdb := redistest.Shared(t).Client(t)
	st, err := storage.New(rdb, org.ID("create-org"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := handlers.New(handlers.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateOrganization(ctx, "  ", "ann@example.com"); org.ErrorCode(err) != org.CodeInvalid {
		t.Fatalf("blank name: %v", err)
	}
	if _, err := svc.CreateOrganization(ctx, "Acme", "not an email"); org.ErrorCode(err) != org.CodeInvalid {
		t.Fatalf("bad admin: %v", err)
	}
	if n, _ := st.UserCount(ctx); n != 0 {
		t.Fatalf("refused creates wrote %d users", n)
	}
	got, err := svc.CreateOrganization(ctx, " Acme   Corp ", "Ann@Example.com")
	if err != nil || got != handlers.AdminCreated {
		t.Fatalf("CreateOrganization = %s, %v", got, err)
	}
	snap, err := st.Load(ctx, org.Query{Users: []string{"ann@example.com"}, AuditLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Settings.Name != "Acme Corp" || !snap.Users["ann@example.com"].IsActiveAdmin() {
		t.Fatalf("name %q, ann %+v", snap.Settings.Name, snap.Users["ann@example.com"])
	}
	var actions []string
	for _, a := range snap.Audit {
		if a.Actor != "operator" {
			t.Errorf("audit %+v not by the operator", a)
		}
		actions = append(actions, a.Action)
	}
	if !slices.Equal(actions, []string{"org.create", "user.bootstrap_admin"}) && !slices.Equal(actions, []string{"user.bootstrap_admin", "org.create"}) {
		t.Fatalf("audit %v", actions)
	}
	if got, err := svc.CreateOrganization(ctx, "Acme Renamed", "ann@example.com"); err != nil || got != handlers.AdminAlready {
		t.Fatalf("again = %s, %v", got, err)
	}
	if snap, _ := st.Load(ctx, org.Query{}); snap.Settings.Name != "Acme Renamed" {
		t.Fatalf("name %q", snap.Settings.Name)
	}
}

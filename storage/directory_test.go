package storage_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// The directory is deployment-wide, so these tests start a server of their
// own rather than share one with tests that might see its counts.

func TestDirectoryCreateLinkResolve(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	d := storage.NewDirectory(rdb)
	if err := d.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	acme := storage.Organization{ID: "acme", Name: "Acme Corp", Created: created}
	if err := d.Create(ctx, acme, org.SlackTenant("", "T0ACME"), org.TeamsTenant("AAAA-1111")); err != nil {
		t.Fatal(err)
	}
	// The same create re-sent (its reply lost) is done, not refused.
	if err := d.Create(ctx, acme, org.SlackTenant("", "T0ACME"), org.TeamsTenant("AAAA-1111")); err != nil {
		t.Fatalf("re-sent create: %v", err)
	}
	if err := d.Create(ctx, storage.Organization{ID: "acme", Name: "Other"}); org.ErrorCode(err) != org.CodeConflict {
		t.Fatalf("second acme: %v, want CodeConflict", err)
	}
	if err := d.Create(ctx, storage.Organization{ID: "acme-2", Name: "Acme Two", Created: created}, org.SlackTenant("E0GRID", "")); err != nil {
		t.Fatal(err)
	}

	// A tenant another organization has is refused, naming it, and the
	// whole call changes nothing (the free tenant in it is not linked).
	err := d.Link(ctx, "acme-2", org.SlackTenant("", "T0FREE"), org.SlackTenant("E0GRID", "T0ACME"))
	var taken *storage.TenantTakenError
	if !errors.As(err, &taken) || taken.Owner != "acme" || org.ErrorCode(err) != org.CodeConflict {
		t.Fatalf("link a taken team: %v", err)
	}
	if _, found, _ := d.Resolve(ctx, org.SlackTenant("", "T0FREE")); found {
		t.Fatal("a refused link linked part of its tenants")
	}
	if err := d.Create(ctx, storage.Organization{ID: "beta", Name: "Beta"}, org.TeamsTenant("aaaa-1111")); !errors.As(err, &taken) {
		t.Fatalf("create with a taken tenant (other case): %v", err)
	}
	if _, found, _ := d.Get(ctx, "beta"); found {
		t.Fatal("a refused create registered the organization")
	}
	if err := d.Link(ctx, "nobody", org.SlackTenant("", "T0X")); org.ErrorCode(err) != org.CodeNotFound {
		t.Fatalf("link to a missing org: %v", err)
	}
	if err := d.Link(ctx, "acme"); org.ErrorCode(err) != org.CodeInvalid {
		t.Fatalf("link nothing: %v", err)
	}
	if err := d.Link(ctx, "acme", org.SlackTenant("", "bad|id")); org.ErrorCode(err) != org.CodeInvalid {
		t.Fatalf("link a bad id: %v", err)
	}
	// Linking what the org has already is a no-op; a new tenant adds its platform.
	if err := d.Link(ctx, "acme-2", org.SlackTenant("E0GRID", ""), org.TeamsTenant("bbbb-2222")); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		t     org.Tenant
		want  org.ID
		found bool
	}{
		{org.SlackTenant("", "T0ACME"), "acme", true},
		{org.SlackTenant("E0GRID", "T0ACME"), "acme", true}, // the workspace's own entry beats its enterprise's
		{org.SlackTenant("E0GRID", "T0OTHER"), "acme-2", true},
		{org.SlackTenant("", "T0OTHER"), "", false},
		{org.SlackTenant("E0ELSE", "T0OTHER"), "", false},
		{org.TeamsTenant("AAAA-1111"), "acme", true},
		{org.TeamsTenant("bbbb-2222"), "acme-2", true},
		{org.TeamsTenant("cccc"), "", false},
		{org.TeamsTenant(""), "", false},
	} {
		id, found, err := d.Resolve(ctx, c.t)
		if err != nil || id != c.want || found != c.found {
			t.Errorf("Resolve(%s) = %q, %v, %v; want %q, %v", c.t, id, found, err, c.want, c.found)
		}
	}

	got, found, err := d.Get(ctx, "acme-2")
	if err != nil || !found {
		t.Fatal(found, err)
	}
	want := storage.Organization{ID: "acme-2", Name: "Acme Two", Created: created, Platforms: []string{"slack", "teams"},
		Tenants: []org.Tenant{org.SlackTenant("E0GRID", ""), org.TeamsTenant("bbbb-2222")}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Get(acme-2) = %+v\nwant %+v", got, want)
	}

	// USHER_ORG's registration at every start: once, then left alone.
	for i, wantCreated := range []bool{true, false} {
		c, err := d.Ensure(ctx, storage.Organization{ID: "default", Name: fmt.Sprint("default ", i)})
		if err != nil || c != wantCreated {
			t.Fatalf("Ensure #%d = %v, %v", i, c, err)
		}
	}
	if c, err := d.Ensure(ctx, storage.Organization{ID: "acme", Name: "renamed?"}); err != nil || c {
		t.Fatalf("Ensure an existing org = %v, %v", c, err)
	}
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids, names []string
	for _, o := range list {
		ids, names = append(ids, string(o.ID)), append(names, o.Name)
	}
	if !slices.Equal(ids, []string{"acme", "acme-2", "default"}) || !slices.Equal(names, []string{"Acme Corp", "Acme Two", "default 0"}) {
		t.Fatalf("List: %v %v", ids, names)
	}
	if dep, err := d.Deployment(ctx, "default"); err != nil || dep != (org.Deployment{Default: "default", Orgs: 3, HasDefault: true}) {
		t.Fatalf("Deployment = %+v, %v", dep, err)
	}

	// Removing acme drops its entries only; acme-2's stay resolvable.
	if found, err := d.Remove(ctx, "acme"); err != nil || !found {
		t.Fatalf("Remove = %v, %v", found, err)
	}
	if found, err := d.Remove(ctx, "acme"); err != nil || found {
		t.Fatalf("Remove again = %v, %v", found, err)
	}
	for tn, want := range map[org.Tenant]org.ID{org.SlackTenant("E0GRID", "T0ACME"): "acme-2", org.TeamsTenant("aaaa-1111"): "", org.TeamsTenant("bbbb-2222"): "acme-2"} {
		if id, _, _ := d.Resolve(ctx, tn); id != want {
			t.Errorf("after removing acme, %s resolves to %q, want %q", tn, id, want)
		}
	}
	// Its tenants are free again.
	if err := d.Link(ctx, "default", org.SlackTenant("", "T0ACME")); err != nil {
		t.Fatal(err)
	}
	if dep, _ := d.Deployment(ctx, "default"); dep.Orgs != 2 {
		t.Fatalf("Deployment after remove: %+v", dep)
	}
}

// seedOrg writes a little of everything an organization keeps: users,
// an invitation with its indexes and schedule, the audit stream, the outbox
// stream, a web session and Slack state.
func seedOrg(t *testing.T, rdb redis.UniversalClient, id string) {
	t.Helper()
	ctx := context.Background()
	s := newStore(t, rdb, id)
	inv := &org.Invitation{ID: "inv1", Email: "bob@example.com", Role: org.RoleMember, Inviter: "ann@example.com",
		Status: org.InvitationPending, Created: now, Expires: now.Add(7 * 24 * time.Hour), TokenHash: "h-" + id, NextRemind: now.Add(time.Hour)}
	if err := s.Commit(ctx, org.Change{Now: now, Users: []org.UserWrite{{User: admin("ann@example.com")}},
		Invitations: []org.InvitationWrite{{Invitation: inv}},
		Audit:       []org.AuditEntry{{Actor: "ann@example.com", Action: "invitation.create", Target: "bob@example.com", At: now}}}); err != nil {
		t.Fatalf("seed %s: %v", id, err)
	}
	ob, err := storage.NewOutbox(rdb, org.ID(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Add(ctx, storage.Job{Platform: "slack", Channel: "C1", Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	ss, _ := storage.NewSlackState(rdb, org.ID(id))
	if err := ss.Set(ctx, "user", "T1:U1", []byte("{}"), time.Hour); err != nil {
		t.Fatal(err)
	}
}

// orgKeys counts an organization's keys on every master, independently of
// the code under test: by each key's hash tag.
func orgKeys(t *testing.T, rdb redis.UniversalClient) map[string]int {
	t.Helper()
	ctx := context.Background()
	counts := map[string]int{}
	scan := func(c redis.UniversalClient) {
		iter := c.Scan(ctx, 0, "usher:*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			if i, j := len("usher:{"), indexByte(k, '}'); j > i {
				counts[k[i:j]]++
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if cl, ok := rdb.(*redis.ClusterClient); ok {
		var (
			mu    sync.Mutex // ForEachMaster calls back from a goroutine per master
			nodes []*redis.Client
		)
		cl.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			nodes = append(nodes, c)
			return nil
		})
		for _, c := range nodes {
			scan(c)
		}
	} else {
		scan(rdb)
	}
	return counts
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

// TestDeleteOrganizationKeys: deleting acme deletes all of acme's keys and
// nothing of acme-2, a-cme or ac (ids that share a prefix with it), nor the
// directory.
func TestDeleteOrganizationKeys(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	d := storage.NewDirectory(rdb)
	ids := []string{"acme", "acme-2", "acme2", "ac", "a-cme"}
	for _, id := range ids {
		seedOrg(t, rdb, id)
		if err := d.Create(ctx, storage.Organization{ID: org.ID(id), Name: id}, org.TeamsTenant("tenant-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	before := orgKeys(t, rdb)
	for _, id := range ids {
		if before[id] < 8 {
			t.Fatalf("seeded %s with %d keys only: %v", id, before[id], before)
		}
	}
	n, err := storage.DeleteOrganizationKeys(ctx, rdb, "acme")
	if err != nil || n != before["acme"] {
		t.Fatalf("DeleteOrganizationKeys = %d, %v; want %d", n, err, before["acme"])
	}
	after := orgKeys(t, rdb)
	if after["acme"] != 0 {
		t.Errorf("%d acme keys left", after["acme"])
	}
	for id, c := range before {
		if id != "acme" && after[id] != c {
			t.Errorf("%s: %d keys before, %d after deleting acme", id, c, after[id])
		}
	}
	if _, err := storage.DeleteOrganizationKeys(ctx, rdb, "acme*"); org.ErrorCode(err) != org.CodeInvalid {
		t.Fatalf("a pattern as an id: %v", err)
	}
	if n, err := storage.DeleteOrganizationKeys(ctx, rdb, "acme"); n != 0 || err != nil {
		t.Fatalf("delete again = %d, %v", n, err)
	}
}

// TestDirectoryAndDeleteOnCluster: on a 3-master cluster the directory's
// scripts run (one slot, no CROSSSLOT) and deleting organizations spread
// over every master removes exactly theirs.
func TestDirectoryAndDeleteOnCluster(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.StartCluster(t, 3).Client(t)
	d := storage.NewDirectory(rdb)
	if err := d.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	masters := map[string]bool{}
	for i := range 12 {
		for _, id := range []string{fmt.Sprintf("org%d", i), fmt.Sprintf("org%d-2", i)} {
			ids = append(ids, id)
			seedOrg(t, rdb, id)
			if err := d.Create(ctx, storage.Organization{ID: org.ID(id), Name: id}, org.SlackTenant("", fmt.Sprintf("T%s", upper(id)))); err != nil {
				t.Fatal(err)
			}
			slot, err := rdb.ClusterKeySlot(ctx, "usher:{"+id+"}:settings").Result()
			if err != nil {
				t.Fatal(err)
			}
			masters[masterOf(t, rdb, slot)] = true
		}
	}
	if len(masters) != 3 {
		t.Fatalf("the organizations live on %d masters, want all 3", len(masters))
	}
	before := orgKeys(t, rdb)
	var gone []string
	for i, id := range ids {
		if i%2 == 0 { // orgN goes, orgN-2 stays
			if found, err := d.Remove(ctx, org.ID(id)); err != nil || !found {
				t.Fatalf("remove %s: %v, %v", id, found, err)
			}
			if _, err := storage.DeleteOrganizationKeys(ctx, rdb, org.ID(id)); err != nil {
				t.Fatal(err)
			}
			gone = append(gone, id)
		}
	}
	after := orgKeys(t, rdb)
	for _, id := range ids {
		want := before[id]
		if slices.Contains(gone, id) {
			want = 0
		}
		if after[id] != want {
			t.Errorf("%s: %d keys, want %d", id, after[id], want)
		}
		_, found, err := d.Resolve(ctx, org.SlackTenant("", "T"+upper(id)))
		if err != nil || found == slices.Contains(gone, id) {
			t.Errorf("%s: resolves %v, %v", id, found, err)
		}
	}
	if dep, err := d.Deployment(ctx, "default"); err != nil || dep.Orgs != len(ids)-len(gone) {
		t.Fatalf("Deployment = %+v, %v", dep, err)
	}
}

func upper(id string) string {
	b := []byte(id)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		case c == '-':
			b[i] = 'X'
		}
	}
	return string(b)
}

// masterOf names the master serving slot.
func masterOf(t *testing.T, rdb *redis.ClusterClient, slot int64) string {
	t.Helper()
	slots, err := rdb.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) {
			return s.Nodes[0].Addr
		}
	}
	t.Fatalf("no master for slot %d", slot)
	return ""
}

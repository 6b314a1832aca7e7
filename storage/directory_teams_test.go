package storage_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestDirectoryTeamsInstalls: a tenant's installations keep it linked; the
// removal of the last recorded one unlinks it and keeps its organization,
// which the next installation links back; retries change nothing; an
// installation for a tenant the directory does not know records nothing.
func TestDirectoryTeamsInstalls(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	d := storage.NewDirectory(rdb)
	if err := d.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	const tenant, own = "72F988BF-86F1-41AF-91AB-2D7CD011DB47", org.ID("teams-72f988bf-86f1-41af-91ab-2d")
	want := func(what string, gotID org.ID, got storage.TeamsInstall, err error, id org.ID, outcome storage.TeamsInstall) {
		t.Helper()
		if err != nil || gotID != id || got != outcome {
			t.Fatalf("%s: %q %q %v, want %q %q", what, gotID, got, err, id, outcome)
		}
	}
	id, got, err := d.TeamsInstalled(ctx, tenant, "a:ann", own)
	want("unknown tenant", id, got, err, "", storage.TeamsNone)

	// The install's own organization (as cmd/usher creates it).
	if err := d.Create(ctx, storage.Organization{ID: own, Name: "Fabrikam"}, org.TeamsTenant(tenant)); err != nil {
		t.Fatal(err)
	}
	id, got, err = d.TeamsInstalled(ctx, tenant, "a:ann", own)
	want("first install", id, got, err, own, storage.TeamsLinked)
	id, got, err = d.TeamsInstalled(ctx, tenant, "a:ann", own) // the channel retrying
	want("install again", id, got, err, own, storage.TeamsLinked)
	id, got, err = d.TeamsInstalled(ctx, tenant, "19:team@thread.tacv2", own)
	want("a team install", id, got, err, own, storage.TeamsLinked)

	id, got, err = d.TeamsRemoved(ctx, tenant, "a:never-recorded")
	want("unknown removal", id, got, err, own, storage.TeamsLinked)
	id, got, err = d.TeamsRemoved(ctx, tenant, "a:ann")
	want("one of two removed", id, got, err, own, storage.TeamsLinked)
	id, got, err = d.TeamsRemoved(ctx, tenant, "19:team@thread.tacv2")
	want("last removed", id, got, err, own, storage.TeamsUnlinked)
	if _, found, _ := d.Resolve(ctx, org.TeamsTenant(tenant)); found {
		t.Fatal("the tenant is still linked after its last installation went")
	}
	o, found, err := d.Get(ctx, own)
	if err != nil || !found || len(o.Tenants) != 0 || len(o.Platforms) != 0 {
		t.Fatalf("the organization after the uninstall: %+v %v %v (kept, with no tenant)", o, found, err)
	}
	id, got, err = d.TeamsRemoved(ctx, tenant, "19:team@thread.tacv2")
	want("removed again", id, got, err, "", storage.TeamsNone)

	id, got, err = d.TeamsInstalled(ctx, tenant, "a:ann", own)
	want("reinstall", id, got, err, own, storage.TeamsRelinked)
	if id, found, _ := d.Resolve(ctx, org.TeamsTenant(tenant)); !found || id != own {
		t.Fatalf("reinstalled tenant resolves to %q %v", id, found)
	}
	if o, _, _ := d.Get(ctx, own); len(o.Platforms) != 1 || o.Platforms[0] != "teams" {
		t.Fatalf("platforms after the reinstall: %v", o.Platforms)
	}

	// Unlinked, then its organization deleted: a reinstall finds nothing
	// (a new organization is the caller's to create).
	if _, got, _ := d.TeamsRemoved(ctx, tenant, "a:ann"); got != storage.TeamsUnlinked {
		t.Fatalf("remove: %q", got)
	}
	if _, err := d.Remove(ctx, own); err != nil {
		t.Fatal(err)
	}
	id, got, err = d.TeamsInstalled(ctx, tenant, "a:ann", own)
	want("install after the organization was deleted", id, got, err, "", storage.TeamsNone)

	// A tenant an operator linked stays linked when its installations go:
	// some may be older than their recording.
	const other = "0b7f3266-7e06-4dd9-b25d-7969801541f4"
	if err := d.Create(ctx, storage.Organization{ID: "contoso", Name: "Contoso"}, org.TeamsTenant(other)); err != nil {
		t.Fatal(err)
	}
	id, got, err = d.TeamsInstalled(ctx, other, "a:bob", "teams-0b7f3266-7e06-4dd9-b25d-79")
	want("install in an operator's tenant", id, got, err, "contoso", storage.TeamsLinked)
	id, got, err = d.TeamsRemoved(ctx, other, "a:bob")
	want("its last removal", id, got, err, "contoso", storage.TeamsLinked)
	if id, found, _ := d.Resolve(ctx, org.TeamsTenant(other)); !found || id != "contoso" {
		t.Fatalf("an operator's tenant after its installs went: %q %v", id, found)
	}

	if _, _, err := d.TeamsInstalled(ctx, "a|b", "a:ann", own); err == nil {
		t.Fatal("a malformed tenant id was accepted")
	}
}

// TestDirectoryTeamsInstallLock: of many installs at once one holds the
// lock; it is free again once released, and only its holder releases it.
func TestDirectoryTeamsInstallLock(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	d := storage.NewDirectory(rdb)
	if err := d.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	const tenant = "0b7f3266-7e06-4dd9-b25d-7969801541f4"
	var wg sync.WaitGroup
	var mu sync.Mutex
	var unlocks []func()
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, ok, err := d.LockTeamsInstall(ctx, tenant, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				unlocks = append(unlocks, unlock)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(unlocks) != 1 {
		t.Fatalf("%d installs hold the lock, want 1", len(unlocks))
	}
	unlocks[0]()
	unlock, ok, err := d.LockTeamsInstall(ctx, tenant, time.Minute)
	if err != nil || !ok {
		t.Fatalf("lock after release: %v %v", ok, err)
	}
	unlocks[0]() // a stale holder's release leaves the new lock alone
	if _, ok, _ := d.LockTeamsInstall(ctx, tenant, time.Minute); ok {
		t.Fatal("a stale release freed someone else's lock")
	}
	unlock()
}

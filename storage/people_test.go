package storage_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// peopleAndTags runs the person index and the link tags on rdb; the cluster
// run proves that none of it is a cross-slot operation.
func peopleAndTags(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	p := storage.NewPeople(rdb)
	a := newStore(t, rdb, "ppl-a")
	if err := p.Note(ctx, "ppl-b", "Ann@Example.com", "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := p.Note(ctx, "ppl-a", "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	got, err := p.Orgs(ctx, "ANN@example.com")
	if err != nil || !slices.Equal(got, []org.ID{"ppl-a", "ppl-b"}) {
		t.Fatalf("ann's organizations = %v, %v; want both, whatever the spelling", got, err)
	}
	if got, _ := p.Orgs(ctx, "nobody@example.com"); len(got) != 0 {
		t.Fatalf("nobody's organizations = %v", got)
	}

	// Reindex: a user and an open invitation written without the index.
	if err := a.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("cy@example.com")}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	inv := &org.Invitation{ID: "reidx111", Email: "dee@example.com", Role: org.RoleMember, Inviter: "cy@example.com",
		Created: now, Expires: now.Add(time.Hour), Status: org.InvitationPending, Updated: now}
	if err := a.Commit(ctx, org.Change{Invitations: []org.InvitationWrite{{Invitation: inv}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reindex(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"cy@example.com", "dee@example.com"} {
		if got, _ := p.Orgs(ctx, e); !slices.Equal(got, []org.ID{"ppl-a"}) {
			t.Errorf("after reindex %s is in %v, want ppl-a", e, got)
		}
	}

	d := storage.NewDirectory(rdb)
	if err := d.RegisterTag(ctx, "tagA", "ppl-a"); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterTag(ctx, "tagA", "ppl-a"); err != nil {
		t.Fatalf("registering again: %v", err)
	}
	if err := d.RegisterTag(ctx, "tagA", "ppl-b"); err == nil {
		t.Fatal("a tag another organization holds was registered")
	}
	if id, ok, err := d.ResolveTag(ctx, "tagA"); err != nil || !ok || id != "ppl-a" {
		t.Fatalf("resolve tagA = %v %v %v", id, ok, err)
	}
	if _, ok, err := d.ResolveTag(ctx, "nope"); err != nil || ok {
		t.Fatalf("resolve unknown = %v %v", ok, err)
	}
}

func TestPeopleAndTags(t *testing.T) { peopleAndTags(t, redistest.Start(t).Client(t)) }

func TestPeopleAndTagsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	peopleAndTags(t, redistest.StartCluster(t, 3).Client(t))
}

func logins(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	l := storage.NewLogins(rdb)
	ses := storage.NewPersonSessions(rdb)
	for _, load := range []func(context.Context) error{l.LoadScripts, ses.LoadScripts} {
		if err := load(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const eve = "Eve@Example.com"
	if got, err := l.Get(ctx, eve); got != nil || err != nil {
		t.Fatalf("no login yet: %+v %v", got, err)
	}
	if err := l.Set(ctx, org.Login{Email: eve, PasswordHash: "h1"}, 0, false); err != nil {
		t.Fatal(err)
	}
	var stale *org.PreconditionError
	if err := l.Set(ctx, org.Login{Email: eve, PasswordHash: "h2"}, 0, false); !errors.As(err, &stale) {
		t.Fatalf("creating it again: %v", err)
	}
	got, err := l.Get(ctx, "eve@example.com")
	if err != nil || got.PasswordHash != "h1" || got.Version != 1 || got.MustChangePassword {
		t.Fatalf("login = %+v, %v", got, err)
	}
	// A session is opened against the credential's version, in its slot.
	if err := ses.Create(ctx, "sid1", storage.Session{Email: eve, Stamp: "s", Created: now, Version: 1}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := ses.Create(ctx, "sid2", storage.Session{Email: eve, Stamp: "s", Created: now, Version: 0}, time.Hour); !errors.As(err, &stale) {
		t.Fatalf("a session at an old version: %v", err)
	}
	exp := now.Add(24 * time.Hour)
	if err := l.Set(ctx, org.Login{Email: eve, PasswordHash: "tmp", MustChangePassword: true, PasswordExpires: exp}, 1, true); err != nil {
		t.Fatal(err)
	}
	if s, err := ses.Lookup(ctx, "sid1"); s != nil || err != nil {
		t.Fatalf("session survives a reset: %+v %v", s, err)
	}
	if got, _ := l.Get(ctx, eve); !got.MustChangePassword || !got.PasswordExpires.Equal(exp) || got.Version != 2 {
		t.Fatalf("after reset: %+v", got)
	}
}

func TestLogins(t *testing.T) { logins(t, redistest.Start(t).Client(t)) }

func TestLoginsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	logins(t, redistest.StartCluster(t, 3).Client(t))
}

package storage_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func linkHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// resetLinks: a link is stored by its hash only, a new one replaces the
// old, using one sets the password and ends every session in one step, and
// of concurrent uses exactly one wins.
func resetLinks(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	l := storage.NewLogins(rdb)
	ses := storage.NewPersonSessions(rdb)
	for _, load := range []func(context.Context) error{l.LoadScripts, ses.LoadScripts} {
		if err := load(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const fay = "Fay@Example.com"
	if err := l.Set(ctx, org.Login{Email: fay, PasswordHash: "old"}, 0, false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2"} {
		if err := ses.Create(ctx, id, storage.Session{Email: fay, Stamp: "s", Created: now, Version: 1}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	first, second := linkHash("first"), linkHash("second")
	if err := l.IssueReset(ctx, fay, first, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := l.ResetEmail(ctx, first); got != fay || err != nil {
		t.Fatalf("first link: %q %v", got, err)
	}
	// Nothing of the secret itself is stored, and the link expires.
	if n, _ := rdb.Exists(ctx, "usher:{_people}:reset:first").Result(); n != 0 {
		t.Fatal("a key named by the secret")
	}
	if ttl, _ := rdb.PTTL(ctx, "usher:{_people}:reset:"+first).Result(); ttl <= 29*time.Minute || ttl > 30*time.Minute {
		t.Fatalf("ttl = %v, want 30 minutes", ttl)
	}
	if err := l.IssueReset(ctx, "fay@example.com", second, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.ResetEmail(ctx, first); got != "" {
		t.Fatalf("the replaced link still opens %q", got)
	}
	if ok, err := l.UseReset(ctx, first, fay, "nope"); ok || err != nil {
		t.Fatalf("using the replaced link: %v %v", ok, err)
	}
	if got, _ := l.ResetEmail(ctx, second); got != "fay@example.com" {
		t.Fatalf("second link opens %q", got)
	}

	var wg sync.WaitGroup
	wins := make(chan string, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := "new" + string(rune('a'+i))
			ok, err := l.UseReset(ctx, second, "fay@example.com", h)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins <- h
			}
		}()
	}
	wg.Wait()
	close(wins)
	var won []string
	for h := range wins {
		won = append(won, h)
	}
	if len(won) != 1 {
		t.Fatalf("%d concurrent uses won, want 1", len(won))
	}
	got, err := l.Get(ctx, fay)
	if err != nil || got.PasswordHash != won[0] || got.MustChangePassword || got.Version != 2 {
		t.Fatalf("credential after the reset: %+v %v", got, err)
	}
	for _, id := range []string{"s1", "s2"} {
		if s, err := ses.Lookup(ctx, id); s != nil || err != nil {
			t.Fatalf("session %s survives the reset: %+v %v", id, s, err)
		}
	}
	// A sign-in verified before the reset opens nothing.
	var stale *org.PreconditionError
	if err := ses.Create(ctx, "s3", storage.Session{Email: fay, Stamp: "s", Created: now, Version: 1}, time.Hour); !errors.As(err, &stale) {
		t.Fatalf("a session at the old version: %v", err)
	}
	if got, _ := l.ResetEmail(ctx, second); got != "" {
		t.Fatal("a used link still opens")
	}
	if n, _ := rdb.Exists(ctx, "usher:{_people}:reset_of:fay@example.com").Result(); n != 0 {
		t.Fatal("the person's link index outlives its link")
	}

	// Someone who never had a password (chat only) gets their first one.
	const gus = "gus@example.com"
	if err := l.IssueReset(ctx, gus, linkHash("gus"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := l.UseReset(ctx, linkHash("gus"), gus, "first"); !ok || err != nil {
		t.Fatalf("first password: %v %v", ok, err)
	}
	if got, _ := l.Get(ctx, gus); got == nil || got.PasswordHash != "first" || got.Version != 1 {
		t.Fatalf("gus: %+v", got)
	}
	// A link issued for one person sets no other's password.
	if err := l.IssueReset(ctx, gus, linkHash("gus2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, _ := l.UseReset(ctx, linkHash("gus2"), fay, "hijack"); ok {
		t.Fatal("a link of gus set fay's password")
	}
}

func TestResetLinks(t *testing.T) { resetLinks(t, redistest.Start(t).Client(t)) }

func TestResetLinksOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	resetLinks(t, redistest.StartCluster(t, 3).Client(t))
}

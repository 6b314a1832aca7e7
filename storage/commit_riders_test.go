package storage_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// commitWithRiders commits an invitation with a queued message through a
// store that indexes people and rings the fleet, on rdb, and checks what
// rides with it: the person index names the invitee's organization, both
// rings went (and were told to the process), and with trips set, that it
// all took one round trip.
func commitWithRiders(t *testing.T, rdb redis.UniversalClient, trips *callCount) {
	ctx := context.Background()
	f := storage.NewFleet(rdb)
	if err := f.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	notified := map[storage.FleetKind]int{}
	f.Notify = func(kind storage.FleetKind, id org.ID) { notified[kind]++ }
	s := newStore(t, rdb, "riders")
	s.UseFleet(f)
	s.IndexPeople()
	inv := pendingInvitation("rideinv1", now.Add(24*time.Hour))
	if trips != nil {
		trips.Reset()
	}
	err := s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: inv}},
		Messages: []org.QueuedMessage{{Platform: "slack", Channel: "D1", Payload: []byte("hi")}}})
	if err != nil {
		t.Fatal(err)
	}
	if trips != nil && trips.Count() != 1 {
		t.Errorf("the commit, its person index entry and its rings took %d round trips, want 1", trips.Count())
	}
	if got, err := storage.NewPeople(rdb).Orgs(ctx, inv.Email); err != nil || !slices.Equal(got, []org.ID{"riders"}) {
		t.Errorf("the invitee's organizations = %v, %v; want riders", got, err)
	}
	if got := next(t, f, storage.FleetSchedule, "riders"); !got.Equal(now) {
		t.Errorf("schedule rung at %v, want now", got)
	}
	if got := next(t, f, storage.FleetOutbox, "riders"); got.IsZero() {
		t.Error("the queued message did not ring the outbox")
	}
	if notified[storage.FleetSchedule] != 1 || notified[storage.FleetOutbox] != 1 {
		t.Errorf("the process was told of rings %v, want each once", notified)
	}
}

// callCount counts round trips, but not a new connection's handshake
// (HELLO, CLIENT SETINFO), which belongs to no commit.
type callCount struct{ n atomic.Int64 }

func (c *callCount) Reset()                                      { c.n.Store(0) }
func (c *callCount) Count() int64                                { return c.n.Load() }
func (c *callCount) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *callCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); n != "hello" && n != "client" {
			c.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (c *callCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if n := cmds[0].Name(); n != "hello" && n != "client" {
			c.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

func TestCommitCarriesItsRiders(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	trips := &callCount{}
	rdb.AddHook(trips)
	commitWithRiders(t, rdb, trips)
}

// On a cluster the entry and the rings are other slots: they go on their
// own, with the same outcome.
func TestCommitCarriesItsRidersOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	commitWithRiders(t, redistest.StartCluster(t, 3).Client(t), nil)
}

// A rider refused by Redis (here a person key of the wrong type) does not
// fail the commit it rode with: the commit applied.
func TestRiderRefusedCommitStands(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	s := newStore(t, rdb, "riders")
	s.IndexPeople()
	inv := pendingInvitation("rideinv2", now.Add(24*time.Hour))
	if err := rdb.Set(ctx, storage.PersonOrgsKey(inv.Email), "not a set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: inv}}}); err != nil {
		t.Fatalf("a refused person index entry failed the commit: %v", err)
	}
	snap, err := s.Load(ctx, org.Query{Invitations: []string{inv.ID}})
	if err != nil || snap.Invitations[inv.ID] == nil {
		t.Fatalf("the invitation after the commit: %v, %v", snap, err)
	}
}

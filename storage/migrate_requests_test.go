package storage_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

// A request written before requests expired has no due entry; the start-up
// migration gives it one at its expiry, once, and leaves existing ones alone.
func TestScheduleRequests(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "schedreq")
	ctx := context.Background()
	old, fresh := pendingInvitation("oooo", now.Add(3*day)), pendingInvitation("ffff", now.Add(5*day))
	old.Status, fresh.Status = org.InvitationRequested, org.InvitationRequested
	if err := s.Commit(ctx, org.Change{Invitations: []org.InvitationWrite{{Invitation: old}, {Invitation: fresh}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	// As an older version left it: no due entry for one, another time for the other.
	rdb.ZRem(ctx, dueKey("schedreq"), "inv:oooo")
	rdb.ZAdd(ctx, dueKey("schedreq"), redis.Z{Score: msOf(now.Add(day)), Member: "inv:ffff"})

	if n, err := s.ScheduleRequests(ctx); err != nil || n != 1 {
		t.Fatalf("first run: %d, %v; want 1", n, err)
	}
	if got, ok := score(t, rdb, dueKey("schedreq"), "inv:oooo"); !ok || got != msOf(old.Expires) {
		t.Errorf("old request due at %v (%v), want its expiry %v", got, ok, msOf(old.Expires))
	}
	if got, _ := score(t, rdb, dueKey("schedreq"), "inv:ffff"); got != msOf(now.Add(day)) {
		t.Errorf("a request already due was moved to %v", got)
	}
	if n, err := s.ScheduleRequests(ctx); err != nil || n != 0 {
		t.Errorf("second run: %d, %v; want 0", n, err)
	}
}

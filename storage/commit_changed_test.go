package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestInvitationWriteOfWhatChanged: an invitation written with the
// version it was read at (InvitationWrite.Was) has only its changed fields
// written (a delivery recorded: the delivery and the version), and keeps
// its place in every index; one whose reminder moves is written whole and
// moves in the due index; a stale one writes nothing.
func TestInvitationWriteOfWhatChanged(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "changed")
	ctx := context.Background()
	key := "usher:{changed}:inv:abcdefgh"
	inv := &org.Invitation{ID: "abcdefgh", Email: "b@example.com", Role: org.RoleMember, Inviter: "a@example.com",
		Created: now, Expires: now.Add(72 * time.Hour), NextRemind: now.Add(24 * time.Hour), Status: org.InvitationPending, Updated: now}
	if err := s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: inv, NewTokenHash: strings.Repeat("ab", 32)}}}); err != nil {
		t.Fatal(err)
	}
	load := func() *org.Invitation {
		t.Helper()
		snap, err := s.Load(ctx, org.Query{Invitations: []string{inv.ID}})
		if err != nil {
			t.Fatal(err)
		}
		return snap.Invitations[inv.ID]
	}
	read := load()
	// A field the write does not change, altered behind the store's back
	// (without a new version): only a write of the whole invitation puts
	// it back.
	if err := rdb.HSet(ctx, key, "note", "left alone").Err(); err != nil {
		t.Fatal(err)
	}
	next := read.Clone()
	next.Delivery = "slack:dm"
	if err := s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: next, Expect: org.InvitationPending,
		Version: read.Version, Was: read}}}); err != nil {
		t.Fatal(err)
	}
	got := load()
	if got.Delivery != "slack:dm" || got.Version != read.Version+1 || got.Note != "left alone" || got.TokenHash != read.TokenHash {
		t.Fatalf("after the delivery's write: delivery %q, version %d (read %d), note %q, token kept %v; want only the delivery and the version written",
			got.Delivery, got.Version, read.Version, got.Note, got.TokenHash == read.TokenHash)
	}
	pending, err := s.Load(ctx, org.Query{Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending.Pending) != 1 || pending.Pending[0].ID != inv.ID {
		t.Fatalf("pending list %v, want the invitation still in it", pending.Pending)
	}
	dueAt := func() float64 {
		t.Helper()
		score, err := rdb.ZScore(ctx, "usher:{changed}:due", org.DueInvitation+":"+inv.ID).Result()
		if err != nil {
			t.Fatal(err)
		}
		return score
	}
	if want := float64(inv.NextRemind.UnixMilli()); dueAt() != want {
		t.Fatalf("due at %v, want %v", dueAt(), want)
	}

	// A reminder sent: its next one moves, so the due index must too.
	read = got
	next = read.Clone()
	next.Reminders, next.NextRemind = 1, now.Add(48*time.Hour)
	if err := s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: next, Expect: org.InvitationPending,
		Version: read.Version, Was: read}}}); err != nil {
		t.Fatal(err)
	}
	if want := float64(next.NextRemind.UnixMilli()); dueAt() != want {
		t.Fatalf("due at %v after the reminder, want %v", dueAt(), want)
	}
	if got := load(); got.Reminders != 1 || got.Note != read.Note {
		t.Fatalf("after the reminder: %+v", got)
	}

	// Stale: read before the reminder's write.
	next = read.Clone()
	next.Delivery = "teams"
	err = s.Commit(ctx, org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: next, Expect: org.InvitationPending,
		Version: read.Version, Was: read}}})
	var stale *org.PreconditionError
	if !errors.As(err, &stale) {
		t.Fatalf("stale write: %v, want a PreconditionError", err)
	}
	if got := load(); got.Delivery != "slack:dm" {
		t.Fatalf("a stale write wrote: delivery %q", got.Delivery)
	}
}

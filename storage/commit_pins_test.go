package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestRevisionPinsSettingsAndWorkspaces: every change to the settings or the
// workspaces moves the revision, and a change pinned to an older one is
// refused as stale and writes nothing.
func TestRevisionPinsSettingsAndWorkspaces(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "revision")
	ctx := context.Background()
	revision := func() int64 {
		t.Helper()
		snap, err := s.Load(ctx, org.Query{})
		if err != nil {
			t.Fatal(err)
		}
		return snap.Revision
	}
	if r := revision(); r != 0 {
		t.Fatalf("a new organization's revision is %d, want 0", r)
	}
	pinned := func(rev int64, audit string) error {
		return s.Commit(ctx, org.Change{PinRevision: true, Revision: rev, Now: now,
			Audit: []org.AuditEntry{{At: now, Action: audit}}})
	}
	if err := pinned(0, "at 0"); err != nil {
		t.Fatalf("pinned to the current revision 0: %v", err)
	}
	if err := s.Commit(ctx, org.Change{Settings: map[string]string{"name": "Acme"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if r := revision(); r != 1 {
		t.Fatalf("after a settings change the revision is %d, want 1", r)
	}
	if err := s.Commit(ctx, org.Change{Workspace: &org.Workspace{Name: "ml", Creator: "a@example.com", Created: now}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if r := revision(); r != 2 {
		t.Fatalf("after a workspace was created the revision is %d, want 2", r)
	}
	var stale *org.PreconditionError
	if err := pinned(1, "stale"); !errors.As(err, &stale) {
		t.Fatalf("pinned to an old revision: %v, want a precondition error", err)
	}
	if err := pinned(2, "at 2"); err != nil {
		t.Fatalf("pinned to the current revision: %v", err)
	}
	snap, err := s.Load(ctx, org.Query{AuditLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range snap.Audit {
		actions = append(actions, e.Action)
	}
	if len(actions) != 2 || actions[0] != "at 2" || actions[1] != "at 0" {
		t.Fatalf("audit %q: the refused change must have written nothing", actions)
	}
	if snap.Settings.Name != "Acme" {
		t.Fatalf("the revision field disturbed the settings: name %q", snap.Settings.Name)
	}
}

// TestNoUsersGuard: a change that names an email as having no account is
// refused once it has one.
func TestNoUsersGuard(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "nousers")
	ctx := context.Background()
	if err := s.Commit(ctx, org.Change{NoUsers: []string{"a@example.com"}, Audit: []org.AuditEntry{{At: now, Action: "x"}}, Now: now}); err != nil {
		t.Fatalf("no account yet: %v", err)
	}
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("a@example.com")}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	var stale *org.PreconditionError
	err := s.Commit(ctx, org.Change{NoUsers: []string{"a@example.com"}, Audit: []org.AuditEntry{{At: now, Action: "x"}}, Now: now})
	if !errors.As(err, &stale) || stale.What != "user a@example.com" {
		t.Fatalf("an account exists: %v, want a precondition error on user a@example.com", err)
	}
}

// TestMessagesAreQueuedWithTheCommit: messages in a change reach the outbox
// in the same step, are claimed like any other job, and a refused change
// queues none.
func TestMessagesAreQueuedWithTheCommit(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, "commitmsgs")
	ob, err := storage.NewOutbox(rdb, "commitmsgs")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ob.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	msg := org.QueuedMessage{Platform: "slack", Channel: "slack:U1", Payload: []byte(`{"kind":"dm","to":"bob@example.com","text":"a \"quoted\" line\nand more"}`)}
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("a@example.com")}}, Messages: []org.QueuedMessage{msg}, Now: now}); err != nil {
		t.Fatal(err)
	}
	// Refused (the user exists): its message must not be queued.
	refused := org.QueuedMessage{Platform: "slack", Payload: []byte(`{"refused":true}`)}
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("a@example.com")}}, Messages: []org.QueuedMessage{refused}, Now: now}); err == nil {
		t.Fatal("re-creating a user was accepted")
	}
	jobs, err := ob.Claim(ctx, "test", 10, 10*time.Millisecond, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Fatalf("claimed %d jobs, want the committed one only: %+v", len(jobs), jobs)
	}
	j := jobs[0]
	if j.Platform != msg.Platform || j.Channel != msg.Channel || string(j.Payload) != string(msg.Payload) || j.Attempt != 0 {
		t.Fatalf("claimed %+v, want %+v", j, msg)
	}
}

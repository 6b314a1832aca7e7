package storage_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage/redistest"
)

// The members set of each workspace follows every user write (grant,
// revoke, rename in the users' grants, delete), and ReindexWorkspaces
// rebuilds it from the users for what was written without it.
func TestWorkspaceMembersIndex(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	id := fmt.Sprintf("wsindex-%d", time.Now().UnixNano()%1e9)
	s := newStore(t, rdb, id)
	p := "usher:{" + id + "}:"
	members := func(name string) []string {
		t.Helper()
		snap, err := s.Load(ctx, org.Query{AccessTo: name})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range snap.AllUsers {
			if _, ok := u.Workspaces.Get(name); ok {
				out = append(out, u.Email)
			}
		}
		slices.Sort(out)
		return out
	}
	set := func(name string) []string {
		t.Helper()
		m, err := rdb.SMembers(ctx, p+"wsm:"+name).Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(m)
		return m
	}
	grants := func(ws ...string) org.Grants {
		var gs org.Grants
		for _, w := range ws {
			gs = append(gs, org.Grant{Workspace: w, Role: org.WorkspaceEditor})
		}
		return gs
	}
	write := func(email string, version int64, ws ...string) {
		t.Helper()
		u := &org.User{Email: email, Role: org.RoleMember, Status: org.StatusActive, Workspaces: grants(ws...), Created: now, Updated: now}
		if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: u, Version: version}}, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: admin("root@example.com")}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	write("a@example.com", 0, "red", "blue")
	write("b@example.com", 0, "blue")
	write("c@example.com", 0)
	if got := set("blue"); !slices.Equal(got, []string{"a@example.com", "b@example.com"}) {
		t.Fatalf("blue: %v", got)
	}
	write("a@example.com", 1, "green") // red and blue taken, green given
	write("c@example.com", 1, "red")
	for name, want := range map[string][]string{"red": {"c@example.com"}, "blue": {"b@example.com"}, "green": {"a@example.com"}} {
		if got := set(name); !slices.Equal(got, want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
		// Without the marker the members are found by reading every user,
		// with it from the set: the same answer.
		if got := members(name); !slices.Equal(got, want) {
			t.Fatalf("%s read by scan: %v, want %v", name, got, want)
		}
	}
	// A user written without the index (by an older version) is missing
	// from it; the reindex puts them in and marks the index complete.
	rdb.HSet(ctx, p+"user:old@example.com", "email", "old@example.com", "role", "member", "status", "active", "ws", "blue:reader", "ver", "1")
	rdb.ZAdd(ctx, p+"users", redis.Z{Member: "old@example.com"})
	rdb.SAdd(ctx, p+"wsm:gone", "a@example.com") // a stale set
	rdb.HSet(ctx, p+"workspaces", "gone", "x|0")
	if n, err := s.ReindexWorkspaces(ctx); err != nil || n != 5 {
		t.Fatalf("reindex: %d, %v", n, err)
	}
	if got := set("blue"); !slices.Equal(got, []string{"b@example.com", "old@example.com"}) {
		t.Fatalf("blue after reindex: %v", got)
	}
	if got := set("gone"); len(got) != 0 {
		t.Fatalf("stale set kept: %v", got)
	}
	if got := members("blue"); !slices.Equal(got, []string{"b@example.com", "old@example.com"}) {
		t.Fatalf("blue read from the index: %v", got)
	}
	// From the index: a user whose grant went is no longer read.
	write("b@example.com", 1)
	if got := members("blue"); !slices.Equal(got, []string{"old@example.com"}) {
		t.Fatalf("blue after b left: %v", got)
	}
}

// One member per provider id: a second member claiming one is refused in
// the commit, whatever was read before it.
func TestExternalIDGuard(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	s := newStore(t, rdb, fmt.Sprintf("xid-%d", time.Now().UnixNano()%1e9))
	user := func(email, xid string) *org.User {
		return &org.User{Email: email, ExternalID: xid, Role: org.RoleMember, Status: org.StatusActive, Created: now, Updated: now}
	}
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: user("a@example.com", "00u1")}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: user("b@example.com", "00u1")}}, Now: now})
	if org.ErrorCode(err) != org.CodeConflict || !strings.Contains(err.Error(), "a@example.com") {
		t.Fatalf("second claim: %v", err)
	}
	// The owner may write again, and give it up for another to take.
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: user("a@example.com", ""), Version: 1, OldExternalID: "00u1"}}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, org.Change{Users: []org.UserWrite{{User: user("b@example.com", "00u1")}}, Now: now}); err != nil {
		t.Fatalf("after a gave it up: %v", err)
	}
	snap, err := s.Load(ctx, org.Query{ExternalID: "00u1", Users: []string{"a@example.com"}})
	if err != nil || snap.External == nil || snap.External.Email != "b@example.com" || snap.Users["a@example.com"].ExternalID != "" {
		t.Fatalf("after: %+v %+v %v", snap.External, snap.Users, err)
	}
}

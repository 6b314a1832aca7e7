package handlers_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// TestConcurrentAccept: 100 clicks on Accept at once (double clicks, Slack
// retries, two devices) accept once; the other 99 are told it already was.
func TestConcurrentAccept(t *testing.T) {
	e := newEnv(t)
	id, _ := e.invite(boss, "bob@example.com", "--role", "member")

	const n = 100
	replies := make([]handlers.Reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i] = e.run("bob@example.com", "accept "+id)
		})
	}
	close(start)
	wg.Wait()

	accepted, already := 0, 0
	for _, r := range replies {
		switch {
		case r.Code == "":
			accepted++
		case r.Code == org.CodeConflict && strings.Contains(r.Text, "already accepted"):
			already++
		default:
			t.Errorf("unexpected reply %s: %s", r.Code, r.Text)
		}
	}
	if accepted != 1 || already != n-1 {
		t.Fatalf("accepted %d, already accepted %d; want 1 and %d", accepted, already, n-1)
	}
	u := e.user("bob@example.com")
	if u == nil || !u.Active() || u.Role != org.RoleMember || u.Version != 1 {
		t.Fatalf("bob after the race: %+v (want one write: version 1)", u)
	}
	if inv := e.invitation(id); inv.Status != org.InvitationAccepted {
		t.Fatalf("invitation is %s", inv.Status)
	}
	// One acceptance means one audit pair, not a hundred.
	entries, err := e.rdb.XLen(context.Background(), "usher:{"+e.org+"}:audit").Result()
	if err != nil {
		t.Fatal(err)
	}
	var accepts int
	msgs, _ := e.rdb.XRange(context.Background(), "usher:{"+e.org+"}:audit", "-", "+").Result()
	for _, m := range msgs {
		if m.Values["action"] == "invitation.accept" {
			accepts++
		}
	}
	if accepts != 1 {
		t.Fatalf("%d invitation.accept audit entries (of %d), want 1", accepts, entries)
	}
}

// TestConcurrentAdminRemoval: 50 admins demote and deactivate each other all
// at once; the organization never ends up without an active admin, and the
// admin index agrees with the users.
func TestConcurrentAdminRemoval(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			e := newEnv(t)
			const n = 50
			admins := joinAdmins(e, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			r := rand.New(rand.NewPCG(uint64(round), 7))
			for i, actor := range admins {
				victim := admins[(i+1+r.IntN(n-1))%n]
				cmd := "deactivate " + victim + " --confirm"
				if r.IntN(2) == 0 {
					cmd = "role " + victim + " " + []string{"member", "viewer"}[r.IntN(2)] + " --confirm"
				}
				wg.Go(func() {
					<-start
					rep := e.run(actor, cmd)
					switch rep.Code {
					case "", org.CodeLastAdmin, org.CodeForbidden, org.CodeDeactivated, org.CodeConflict:
					default:
						t.Errorf("%s: %s: unexpected %s: %s", actor, cmd, rep.Code, rep.Text)
					}
				})
			}
			close(start)
			wg.Wait()

			snap, err := e.store.Load(context.Background(), org.Query{AllUsers: true, Admins: true})
			if err != nil {
				t.Fatal(err)
			}
			var active []string
			for _, u := range snap.AllUsers {
				if u.IsActiveAdmin() {
					active = append(active, u.Email)
				}
			}
			if len(active) == 0 {
				t.Fatal("no active admin left")
			}
			if strings.Join(sorted(active), ",") != strings.Join(sorted(snap.Admins), ",") {
				t.Fatalf("admin index %v disagrees with users %v", snap.Admins, active)
			}
			t.Logf("%d active admins left of %d", len(active), n)
		})
	}
}

// Every admin demotes themselves at the same moment: without the atomic
// last-admin guard all 50 would succeed; with it exactly one stays.
func TestConcurrentSelfDemotionLeavesExactlyOneAdmin(t *testing.T) {
	e := newEnv(t)
	const n = 50
	admins := joinAdmins(e, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	codes := map[org.Code]int{}
	for _, a := range admins {
		wg.Go(func() {
			<-start
			r := e.run(a, "role "+a+" member --confirm")
			mu.Lock()
			codes[r.Code]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	snap, err := e.store.Load(context.Background(), org.Query{Admins: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Admins) != 1 || codes[""] != n-1 || codes[org.CodeLastAdmin] != 1 {
		t.Fatalf("admins left %v; outcomes %v (want 1 left, %d demoted, 1 refused as last admin)", snap.Admins, codes, n-1)
	}
}

// joinAdmins gives the organization n active admins: boss and n-1 more.
func joinAdmins(e *env, n int) []string {
	admins := []string{boss}
	for i := 1; i < n; i++ {
		email := fmt.Sprintf("admin%02d@example.com", i)
		e.join(email, org.RoleAdmin)
		admins = append(admins, email)
	}
	return admins
}

// TestLastAdminCannotLeave covers the single-admin cases one by one.
func TestLastAdminCannotLeave(t *testing.T) {
	e := newEnv(t)
	for _, cmd := range []string{"role " + boss + " member --confirm", "role " + boss + " member", "deactivate " + boss + " --confirm"} {
		r := e.run(boss, cmd)
		if r.Code != org.CodeLastAdmin && !(strings.HasPrefix(cmd, "deactivate") && r.Code == org.CodeForbidden) {
			t.Errorf("%s: got %s: %s", cmd, r.Code, r.Text)
		}
	}
	if u := e.user(boss); !u.IsActiveAdmin() {
		t.Fatalf("boss is %s %s", u.Role, u.Status)
	}
	// With a second admin, demoting oneself works.
	e.join("second@example.com", org.RoleAdmin)
	e.ok(boss, "role "+boss+" member --confirm")
	if r := e.run("second@example.com", "deactivate second@example.com --confirm"); r.Code != org.CodeForbidden {
		t.Fatalf("self-deactivation: %s %s", r.Code, r.Text)
	}
	if r := e.run("second@example.com", "role second@example.com viewer --confirm"); r.Code != org.CodeLastAdmin {
		t.Fatalf("last admin demoting themselves: %s %s", r.Code, r.Text)
	}
}

// A demoted admin's in-flight decision must not commit: the actor's version
// is part of every commit's precondition.
func TestDemotedAdminCannotCommitStaleDecision(t *testing.T) {
	e := newEnv(t)
	e.join("carol@example.com", org.RoleAdmin)
	e.join("dave@example.com", org.RoleMember)
	// carol reads, boss demotes carol, carol's commit must be refused and re-decided.
	snap, err := e.store.Load(context.Background(), org.Query{Actor: "carol@example.com", Users: []string{"dave@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	e.ok(boss, "role carol@example.com member --confirm")
	dave := snap.Users["dave@example.com"].Clone()
	dave.Role = org.RoleAdmin
	err = e.store.Commit(context.Background(), org.Change{
		Users: []org.UserWrite{{User: dave, Version: snap.Users["dave@example.com"].Version}},
		Actor: "carol@example.com", ActorVersion: snap.Actor.Version,
	})
	var stale *org.PreconditionError
	if !asPrecondition(err, &stale) {
		t.Fatalf("commit on a stale actor: %v, want a precondition failure", err)
	}
	if r := e.run("carol@example.com", "role dave@example.com admin --confirm"); r.Code != org.CodeForbidden {
		t.Fatalf("demoted carol: %s %s", r.Code, r.Text)
	}
}

func sorted(s []string) []string {
	return slices.Sorted(slices.Values(s))
}

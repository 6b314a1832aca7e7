package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestThreeReplicas runs 3 real `usher serve` processes (Slack HTTP mode,
// scheduler on in each) behind one redis-server, with Slack's Web API faked
// at its edge:
//
//   - 1,500 invitations, created two days ago, have a reminder due now; the
//     three replicas start at the same moment and each one's scheduler sweeps
//     at start (claims of 500, so the replicas share the work: the log shows
//     how much each sent): every invitee gets exactly one reminder DM, the
//     stored reminder count is 1 for each, no claim is left behind;
//   - meanwhile 6 admins send 60 signed `/usher invite` slash commands spread
//     round-robin over the replicas: all succeed, each invitee gets exactly
//     one invitation DM (whichever replica's outbox worker sends it);
//   - each invitee clicks Accept in that DM, the click going to another
//     replica than the invite: every invitation ends accepted and every
//     invitee is an active member.
func TestThreeReplicas(t *testing.T) {
	const (
		replicas = 3
		seeds    = 1500 // invitations with a reminder due
		invites  = 60   // invitations sent through the replicas
		admins   = 6
	)
	ctx := context.Background()
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	f := newWireSlack(t)
	orgID := prodOrg("rep")
	var adminEmails, adminIDs []string
	for i := range admins {
		adminEmails = append(adminEmails, fmt.Sprintf("boss%d@example.com", i))
		adminIDs = append(adminIDs, f.User(adminEmails[i]))
	}

	// Seed: invitations sent two days ago whose first reminder is due now.
	st, err := storage.New(rdb, org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: "https://usher.test", NextTime: scheduler.Next})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range adminEmails {
		if _, err := svc.BootstrapAdmin(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Truncate(time.Millisecond)
	created := now.Add(-49 * time.Hour)
	var seedIDs []string
	ch := org.Change{Now: created}
	for i := range seeds {
		id := fmt.Sprintf("seed%04d", i)
		seedIDs = append(seedIDs, id)
		ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: &org.Invitation{
			ID: id, Email: id + "@example.com", Role: org.RoleMember, Inviter: adminEmails[i%admins],
			Created: created, Expires: created.Add(7 * 24 * time.Hour), Status: org.InvitationPending, Updated: created,
			NextRemind: now.Add(-time.Minute), Delivery: "slack direct message"}})
	}
	if err := st.Commit(ctx, ch); err != nil {
		t.Fatal(err)
	}

	// Three replicas, started together.
	env := serveEnv(f, orgID, adminEmails, map[string]string{"REDIS_URL": rs.URL()})
	reps := make([]*replica, replicas)
	var wg sync.WaitGroup
	for i := range reps {
		wg.Go(func() { reps[i] = startReplica(t, fmt.Sprintf("usher-%d", i+1), env) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Invitations, spread round-robin over the replicas.
	c := newSlackClient(admins)
	emails := make([]string, invites)
	ids := make([]string, invites)
	served := make([]int, replicas)
	var mu sync.Mutex
	jobs := make(chan int)
	for w := range admins {
		wg.Go(func() {
			for i := range jobs {
				emails[i] = fmt.Sprintf("new%03d@example.com", i)
				status, body, err := c.command(ctx, reps[i%replicas].addr, adminIDs[w], "invite "+emails[i], f.ResponseURL(fmt.Sprintf("inv-%d", i)))
				if ids[i] = invitedID(body); err != nil || ids[i] == "" {
					t.Errorf("invite %s via %s: %d %v %s", emails[i], reps[i%replicas].name, status, err, body)
					continue
				}
				mu.Lock()
				served[i%replicas]++
				mu.Unlock()
			}
		})
	}
	for i := range invites {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	waitUntil := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, reps[0].log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Each invitee's DM, then Accept clicked through the next replica.
	waitUntil("every invitation DM", 30*time.Second, func() bool {
		for _, e := range emails {
			if n, _ := invitationDMs(f.Messages(f.DM(e))); n == 0 {
				return false
			}
		}
		return true
	})
	for i, e := range emails {
		dm := f.Messages(f.DM(e))
		var value string
		for _, m := range dm {
			if mm := acceptButton.FindStringSubmatch(m.Blocks); mm != nil && strings.HasPrefix(m.Text, "You're invited") {
				value = mm[1]
			}
		}
		if value != "accept "+ids[i] {
			t.Fatalf("%s: the invitation DM's Accept button is %q, want %q", e, value, "accept "+ids[i])
		}
		wg.Go(func() {
			status, body, err := c.click(ctx, reps[(i+1)%replicas].addr, f.User(e), f.DM(e), value, f.ResponseURL(fmt.Sprintf("acc-%d", i)))
			if err != nil || status != 200 {
				t.Errorf("%s clicks Accept via %s: %d %v %s", e, reps[(i+1)%replicas].name, status, err, body)
			}
		})
	}
	wg.Wait()
	waitUntil("every Accept answered", 30*time.Second, func() bool {
		for i := range emails {
			if len(f.Responses(fmt.Sprintf("acc-%d", i))) == 0 {
				return false
			}
		}
		return true
	})
	snap, err := st.Load(ctx, org.Query{Invitations: ids, Users: emails})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range emails {
		inv, u := snap.Invitations[ids[i]], snap.Users[e]
		if inv == nil || inv.Status != org.InvitationAccepted {
			t.Errorf("invitation %s for %s: %+v (answer: %q)", ids[i], e, inv, f.Responses(fmt.Sprintf("acc-%d", i)))
		}
		if u == nil || u.Status != org.StatusActive {
			t.Errorf("%s is not an active member: %+v", e, u)
		}
	}

	// Reminders: exactly one per seeded invitation, however many replicas swept.
	waitUntil("every reminder", 30*time.Second, func() bool {
		for _, id := range seedIDs {
			if _, n := invitationDMs(f.Messages(f.DM(id + "@example.com"))); n == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // room for a late duplicate to show up
	snap, err = st.Load(ctx, org.Query{Invitations: seedIDs})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range seedIDs {
		if inv, n := invitationDMs(f.Messages(f.DM(id + "@example.com"))); n != 1 || inv != 0 {
			t.Errorf("%s got %d reminders and %d invitations, want 1 reminder", id, n, inv)
		}
		if inv := snap.Invitations[id]; inv == nil || inv.Reminders != 1 {
			t.Errorf("invitation %s: %+v, want 1 reminder stored", id, inv)
		}
	}
	for _, e := range emails {
		if inv, n := invitationDMs(f.Messages(f.DM(e))); inv != 1 || n != 0 {
			t.Errorf("%s got %d invitation DMs and %d reminders, want 1 invitation", e, inv, n)
		}
	}
	if n, _ := rdb.ZCard(ctx, "usher:{"+orgID+"}:claimed").Result(); n != 0 {
		t.Errorf("%d scheduler claims left behind", n)
	}
	var perReplica []string
	for _, r := range reps {
		perReplica = append(perReplica, fmt.Sprintf("%s %d (usher_reminders_sent_total %.0f)", r.name, r.swept.Load(), r.metric(t, "usher_reminders_sent_total")))
	}
	t.Logf("invites served per replica %v, accepts through the next one; scheduler messages per replica: %s", served, strings.Join(perReplica, ", "))
}

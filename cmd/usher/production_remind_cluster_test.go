package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestRemindersExactlyOnceOnCluster is the reminders' exactly-once test on
// a 3-master Redis Cluster: organizations on every master, each with 1,500
// invitations due for a reminder; three scheduler instances (each with its
// own ClusterClient, as three replicas would have) sweep at the same moment;
// every invitation is reminded exactly once, counted once in storage, and
// no claim is left behind.
func TestRemindersExactlyOnceOnCluster(t *testing.T) {
	const perOrg = 1500
	cl := redistest.StartCluster(t, 3)
	ctx := context.Background()
	seedClient := cl.Client(t)
	clock := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }

	// One organization per master.
	var orgs []string
	seen := map[string]bool{}
	for len(orgs) < 3 {
		o := prodOrg("r")
		node, err := seedClient.MasterForKey(ctx, "usher:{"+o+"}:due")
		if err != nil {
			t.Fatal(err)
		}
		if a := node.Options().Addr; !seen[a] {
			seen[a] = true
			orgs = append(orgs, o)
		}
	}
	const boss = "boss@example.com"
	ids := map[string][]string{}
	for _, o := range orgs {
		st, err := storage.New(seedClient, org.ID(o))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.LoadScripts(ctx); err != nil {
			t.Fatal(err)
		}
		svc, err := handlers.New(handlers.Config{Store: st, Clock: now, PublicURL: "https://usher.test", NextTime: scheduler.Next})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.BootstrapAdmin(ctx, boss); err != nil {
			t.Fatal(err)
		}
		for start := 0; start < perOrg; start += 500 {
			ch := org.Change{Now: clock}
			for i := start; i < min(perOrg, start+500); i++ {
				id := fmt.Sprintf("c%07d", i)
				ids[o] = append(ids[o], id)
				ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: &org.Invitation{
					ID: id, Email: id + "@example.com", Role: org.RoleMember, Inviter: boss,
					Created: clock, Expires: clock.Add(7 * 24 * time.Hour), Status: org.InvitationPending, Updated: clock,
					NextRemind: clock, Delivery: "slack:dm"}})
			}
			if err := st.Commit(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock = clock.Add(time.Minute)

	var mu sync.Mutex
	count := map[string]int{} // org/id -> reminders
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
		t.Cleanup(func() { rdb.Close() })
		for _, o := range orgs {
			st, err := storage.New(rdb, org.ID(o))
			if err != nil {
				t.Fatal(err)
			}
			svc, err := handlers.New(handlers.Config{Store: st, Clock: now, PublicURL: "https://usher.test", NextTime: scheduler.Next,
				Sweep: handlers.SweepConfig{Batch: 250}})
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				<-start
				ds, err := svc.Sweep(ctx)
				if err != nil {
					t.Errorf("instance %d org %s: %v", i, o, err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, d := range ds {
					if d.Kind == handlers.DeliverInvitation && strings.HasPrefix(d.Message.Title, "Reminder") {
						count[o+"/"+d.InvitationID]++
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()

	for _, o := range orgs {
		for _, id := range ids[o] {
			if n := count[o+"/"+id]; n != 1 {
				t.Fatalf("org %s invitation %s reminded %d times", o, id, n)
			}
		}
		st, _ := storage.New(seedClient, org.ID(o))
		snap, err := st.Load(ctx, org.Query{Invitations: ids[o]})
		if err != nil {
			t.Fatal(err)
		}
		for id, inv := range snap.Invitations {
			if inv.Reminders != 1 {
				t.Fatalf("org %s invitation %s has %d reminders stored", o, id, inv.Reminders)
			}
		}
		if n, _ := seedClient.ZCard(ctx, "usher:{"+o+"}:claimed").Result(); n != 0 {
			t.Errorf("org %s: %d claims left behind", o, n)
		}
	}
	if len(count) != 3*perOrg {
		t.Fatalf("%d invitations reminded, want %d", len(count), 3*perOrg)
	}
}

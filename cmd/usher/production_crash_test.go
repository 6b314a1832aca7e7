package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestCrashMidLoad SIGKILLs a real `usher serve` (Slack HTTP mode, real
// redis-server, Slack's Web API faked at its edge) twice in the middle of a
// load of signed `/usher invite` slash commands from 8 admins at once, and
// restarts it on the same Redis and organization while the load goes on:
//
//   - kill 1: once 30 invitations have been acknowledged;
//   - kill 2: while the outbox worker holds claimed jobs and a
//     chat.postMessage is in flight at Slack (Slack answers slowly then: the
//     message is posted, the worker never hears so, the job stays claimed).
//
// After the outbox drains: every invitation that got a success answer
// exists, pending, with its delivery recorded; every invitee got exactly
// one invitation DM (none twice, also among invitations whose answer was
// lost in a crash), so the jobs reclaimed from the killed workers were
// recognised as already posted (message metadata + conversations.history);
// and nothing went to the dead letters.
func TestCrashMidLoad(t *testing.T) {
	const (
		total      = 120 // invitations sent
		clients    = 8   // concurrent admins
		killAfter  = 30  // acknowledged answers before kill 1
		killAfter2 = 60  // ... before kill 2 (with a message in flight)
	)
	rs := redistest.Start(t)
	f := newWireSlack(t)
	orgID := prodOrg("crash")
	var admins, adminIDs []string
	for i := range clients {
		admins = append(admins, fmt.Sprintf("admin%d@example.com", i))
		adminIDs = append(adminIDs, f.User(admins[i]))
	}
	env := serveEnv(f, orgID, admins, map[string]string{"REDIS_URL": rs.URL()})
	var cur atomic.Pointer[replica]
	cur.Store(startReplica(t, "usher-1", env))
	ctx := context.Background()
	c := newSlackClient(clients)

	// The Slack directory's first build is over before the load: a kill
	// between the builder taking the build's lock and finishing holds every
	// delivery waiting for that first build until the lock lapses
	// (buildLock, 30 s, and their back-off past it), and kill 1 came a few
	// milliseconds after the first delivery started it: usher-2 then posted
	// nothing within the 30 s that kill 2 waits for a post in flight
	// (TestDeadBuilderHoldsDeliveriesOnlyItsLock covers that crash). Every
	// invitee is a Slack user from the start, so the directory has them all;
	// one invitation (its delivery starts the build) goes first.
	for i := range total {
		f.User(fmt.Sprintf("crash%03d@example.com", i))
	}
	const warmup = "warmup@example.com"
	f.User(warmup)
	if status, body, err := c.command(ctx, cur.Load().addr, adminIDs[0], "invite "+warmup, f.ResponseURL("warmup")); err != nil || invitedID(body) == "" {
		t.Fatalf("invite %s: %d %s %v", warmup, status, body, err)
	}
	rdb := rs.Client(t)
	dir := storage.NewSlackDirectory(rdb)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		e, err := dir.Lookup(ctx, org.ID(orgID), "T1", warmup)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := invitationDMs(f.Messages(f.DM(warmup))); n > 0 && !e.Built.IsZero() && !e.Building {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the directory's first build and the first invitation's DM (%+v)\n%s", e, cur.Load().log())
		}
	}

	type result struct {
		email, id string
		err       error
		status    int
	}
	results := make([]result, total)
	var next, acked, refused atomic.Int64
	// down is set from a kill until its replacement listens: the admins
	// wait for it rather than spend invitations on a refused connection
	// (a restart takes longer than the whole load under -race on 2 cores,
	// and then no post is left to be in flight at kill 2). Requests in
	// flight at a kill are still lost with it.
	var down atomic.Bool
	var wg sync.WaitGroup
	var stop atomic.Bool
	defer func() { stop.Store(true); wg.Wait() }() // on a failure, too
	for w := range clients {
		wg.Go(func() {
			for !stop.Load() {
				if down.Load() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				email := fmt.Sprintf("crash%03d@example.com", i)
				f.User(email)
				status, body, err := c.command(ctx, cur.Load().addr, adminIDs[w], "invite "+email, f.ResponseURL(fmt.Sprint(i)))
				results[i] = result{email: email, id: invitedID(body), err: err, status: status}
				switch {
				case err != nil:
					time.Sleep(20 * time.Millisecond) // the process is down: wait for the restart
				case results[i].id != "":
					acked.Add(1)
				default:
					refused.Add(1)
					t.Logf("invite %s: %d %s", email, status, body)
				}
			}
		})
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, cur.Load().log())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// Kill 1: after killAfter acknowledged answers, with requests in flight.
	waitFor("the first answers", 30*time.Second, func() bool { return acked.Load() >= killAfter })
	host, _ := os.Hostname()
	dead := map[string]bool{} // the killed processes' outbox consumer names
	dead[fmt.Sprintf("%s-%d", host, cur.Load().cmd.Process.Pid)] = true
	down.Store(true)
	cur.Load().kill()
	t.Logf("kill -9 usher-1 after %d acknowledged answers", acked.Load())
	cur.Store(startReplica(t, "usher-2", env))
	down.Store(false)

	// Kill 2: Slack is slow to answer chat.postMessage; once a post is in
	// flight and the worker holds claimed jobs, kill -9.
	stream := "usher:{" + orgID + "}:outbox2"
	f.slowPost.Store(int64(2 * time.Second))
	waitFor("a post in flight", 30*time.Second, func() bool {
		return (acked.Load() >= killAfter2 || next.Load() >= total) && f.inFlight.Load() > 0
	})
	p2 := cur.Load()
	xp, err := rdb.XPending(ctx, stream, "senders").Result()
	if err != nil {
		t.Fatal(err)
	}
	consumer := fmt.Sprintf("%s-%d", host, p2.cmd.Process.Pid)
	held := xp.Consumers[consumer]
	dead[consumer] = true
	down.Store(true)
	p2.kill()
	f.slowPost.Store(0)
	if held == 0 {
		t.Fatalf("usher-2 held no claimed jobs when it was killed (pending: %v)", xp.Consumers)
	}
	t.Logf("kill -9 usher-2 after %d acknowledged answers, holding %d claimed jobs, a chat.postMessage in flight", acked.Load(), held)
	cur.Store(startReplica(t, "usher-3", env))
	down.Store(false)
	wg.Wait()

	// Let the outbox drain: the jobs the killed workers held come back when
	// their lease (30 s) ends.
	var ids []string
	byID := map[string]string{}
	for _, r := range results {
		if r.id != "" {
			ids = append(ids, r.id)
			byID[r.id] = r.email
		}
	}
	ob, err := storage.NewOutbox(rdb, org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.New(rdb, org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	delivered := func() bool {
		for _, id := range ids {
			if inv, _ := invitationDMs(f.Messages(f.DM(byID[id]))); inv == 0 {
				return false
			}
		}
		// Every job a killed worker held has been reclaimed and finished:
		// none is claimed by a dead consumer, none delivered twice is still
		// pending. (The sender follow-ups, paced on one channel, keep coming
		// back as new entries for a while; they are not DMs.)
		pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: "senders", Start: "-", End: "+", Count: 10000}).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pend {
			if p.RetryCount > 1 || dead[p.Consumer] {
				return false
			}
		}
		return true
	}
	waitFor("every acknowledged invitation's DM and every reclaimed job", 90*time.Second, delivered)
	// Delivery is recorded after posting: wait for the last ones.
	var snap *org.Snapshot
	waitFor("every delivery recorded", 10*time.Second, func() bool {
		snap, err = st.Load(ctx, org.Query{Invitations: ids})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if inv := snap.Invitations[id]; inv == nil || inv.Delivery == "" {
				return false
			}
		}
		return true
	})

	// Every acknowledged invitation exists, pending, delivered by DM.
	for _, id := range ids {
		inv := snap.Invitations[id]
		if inv == nil {
			t.Errorf("acknowledged invitation %s for %s is missing", id, byID[id])
			continue
		}
		if inv.Status != org.InvitationPending || inv.Email != byID[id] || !strings.Contains(inv.Delivery, "slack") {
			t.Errorf("invitation %s: status %s, email %s, delivery %q", id, inv.Status, inv.Email, inv.Delivery)
		}
	}
	// Exactly one invitation DM per acknowledged invitee; never two for anyone.
	dms := 0
	for _, r := range results {
		n, _ := invitationDMs(f.Messages(f.DM(r.email)))
		dms += n
		if n > 1 || (r.id != "" && n != 1) {
			t.Errorf("%s (acknowledged: %v) got %d invitation DMs", r.email, r.id != "", n)
		}
	}
	if n, _ := invitationDMs(f.Messages(f.DM(warmup))); n != 1 {
		t.Errorf("%s got %d invitation DMs", warmup, n)
	}
	stats, err := ob.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Dead != 0 {
		t.Errorf("%d jobs in the dead letters", stats.Dead)
	}
	if f.lost.Load() == 0 || f.Calls("conversations.history") == 0 {
		t.Errorf("%d messages posted without usher hearing back, %d conversations.history checks: the crash path was not exercised",
			f.lost.Load(), f.Calls("conversations.history"))
	}
	if refused.Load() != 0 {
		t.Errorf("%d invites refused", refused.Load())
	}
	failed := total - len(ids) - int(refused.Load())
	t.Logf("%d invites: %d acknowledged, %d lost with a killed process (%d of those delivered anyway); %d invitation DMs, %d chat.postMessage calls, %d posted while usher was killed, %d conversations.history checks by reclaimed jobs; %d sender follow-ups posted to response_urls so far",
		total, len(ids), failed, dms-len(ids), dms, f.Calls("chat.postMessage"), f.lost.Load(), f.Calls("conversations.history"), f.Calls("response_url"))
}

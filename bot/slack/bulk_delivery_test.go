package slack_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/bot/slack/slacktest"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// bulkAdmin sends the invitations; they are not in Slack, so their notices
// ("bob got the invitation") find nobody to go to: the bulk invite's
// progress message (issue 17, item 1) is what tells them, and is not
// measured here.
const bulkAdmin = "boss@hq.example"

// bulkDeployment is one organization served by several replicas, each an
// outbox worker with its own Redis client (as separate processes have),
// its own delivery router and Slack platform, on one redis-server and one
// rate-limited fake Slack.
type bulkDeployment struct {
	t        testing.TB
	srv      *redistest.Server
	fake     *slacktest.Server // in this process (nil: in a child, apiURL)
	apiURL   string
	orgID    org.ID
	svc      *handlers.Service
	store    *storage.Store
	routers  []*deliver.Router
	dms      []*slackbot.DM
	workers  []*outbox.Worker
	outbox   *storage.Outbox
	replicas int
	poll     time.Duration   // waitEmpty's; default 20 ms
	clients  []*redis.Client // each replica's
}

// bulkOptions shape a deployment: how fast Slack's limits run (Scale),
// the limits usher assumes (a factor of the published ones), and whether
// usher uses the directory and the shared budgets (the baseline does not:
// a users.lookupByEmail per message, and the outbox's own pacing only).
type bulkOptions struct {
	replicas  int
	users     int
	scale     float64 // Slack's limits run this many times faster (usher's budgets too)
	fake      slacktest.Config
	remote    *slacktest.Remote // the fake in a child process, instead of fake
	directory bool
	budgets   bool
	// pace is the outbox's own per-recipient pacing (default 1 s; without
	// budgets only).
	pace time.Duration
}

func newBulkDeployment(t testing.TB, o bulkOptions) *bulkDeployment {
	t.Helper()
	srv := redistest.Start(t)
	d := &bulkDeployment{t: t, srv: srv, replicas: o.replicas}
	if o.remote != nil {
		d.apiURL = o.remote.APIURL()
	} else {
		o.fake.Users, o.fake.Scale = o.users, o.scale
		d.fake = slacktest.New(o.fake)
		t.Cleanup(d.fake.Close)
		d.apiURL = d.fake.APIURL()
	}
	seed := srv.Client(t)
	h := handlerstest.NewOrg(t, seed, "bulk", bulkAdmin, handlers.Config{PublicURL: "https://usher.test"})
	d.orgID, d.svc, d.store = org.ID(h.ID), h.Service, h.Store
	limits := slackbot.DefaultLimits().Scaled(o.scale)
	for i := range o.replicas {
		rdb := srv.Client(t)
		d.clients = append(d.clients, rdb)
		st, err := storage.New(rdb, d.orgID)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := handlers.New(handlers.Config{Store: st, PublicURL: "https://usher.test"})
		if err != nil {
			t.Fatal(err)
		}
		ob, err := storage.NewOutbox(rdb, d.orgID)
		if err != nil {
			t.Fatal(err)
		}
		if err := ob.Setup(context.Background()); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			d.outbox = ob
		}
		cfg := slackbot.Config{BotToken: "xoxb-bulk", APIURL: d.apiURL, State: storage.NewEdgeSlackState(rdb),
			DirectoryConfig: slackbot.DirectoryConfig{Wait: time.Duration(float64(10*time.Second) / o.scale)}}
		if o.directory {
			cfg.Directory = storage.NewSlackDirectory(rdb)
		}
		if o.budgets {
			cfg.Budgets, cfg.Limits = storage.NewBudgets(rdb), &limits
		}
		dm, err := slackbot.NewDM(cfg)
		if err != nil {
			t.Fatal(err)
		}
		marks, err := storage.NewDeliveryMarks(rdb, d.orgID)
		if err != nil {
			t.Fatal(err)
		}
		q := redisqueue.New(ob)
		r, err := deliver.New(deliver.Config{Org: d.orgID, Platforms: []deliver.Platform{dm}, Service: svc, Queue: q, Marks: marks,
			PlatformsPace: o.budgets})
		if err != nil {
			t.Fatal(err)
		}
		d.routers, d.dms = append(d.routers, r), append(d.dms, dm)
		d.workers = append(d.workers, &outbox.Worker{Queue: q, Senders: map[string]outbox.Sender{deliver.JobPlatform: r.Send}, Prepare: r.Prepare,
			Consumer: fmt.Sprintf("replica-%d", i), Lease: 30 * time.Second, Pace: o.pace})
	}
	return d
}

// invitees are n distinct members of the workspace, picked at random.
func (d *bulkDeployment) invitees(n, users int) []string {
	perm := rand.New(rand.NewPCG(1, 2)).Perm(users)
	out := make([]string, n)
	for i := range out {
		out[i] = slacktest.Email(perm[i]+1, "corp.example")
	}
	return out
}

// invite sends the invitations as an admin would, 20 a command (today's
// limit), each command's messages queued in its own commit.
func (d *bulkDeployment) invite(emails []string) {
	d.t.Helper()
	actor := org.Identity{Platform: "shell", Email: bulkAdmin}
	for i := 0; i < len(emails); i += 20 {
		batch := emails[i:min(i+20, len(emails))]
		rep := d.svc.Handle(context.Background(), handlers.Request{Actor: actor, Text: "invite " + strings.Join(batch, " ") + " --force",
			Outbox: d.routers[i/20%len(d.routers)].Outbox(deliver.Origin{Platform: "shell", Email: bulkAdmin})})
		if rep.Code != "" || len(rep.Deliveries) != 0 {
			d.t.Fatalf("invite: %+v", rep)
		}
	}
}

// inviteAll sends the invitations in one bulk invite (issue 17's command).
func (d *bulkDeployment) inviteAll(emails []string) {
	d.t.Helper()
	actor := org.Identity{Platform: "shell", Email: bulkAdmin}
	rep := d.svc.Handle(context.Background(), handlers.Request{Actor: actor, Text: "invite " + strings.Join(emails, " ") + " --force",
		Outbox: d.routers[0].Outbox(deliver.Origin{Platform: "shell", Email: bulkAdmin})})
	if rep.Code != "" {
		d.t.Fatalf("bulk invite: %+v", rep)
	}
}

// run starts every replica's worker; stop ends them.
func (d *bulkDeployment) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { w.Run(ctx) })
	}
	return func() { cancel(); wg.Wait() }
}

// waitEmpty waits until the outbox holds nothing (every job sent or dead).
// poll is how often waitEmpty looks (default 20 ms): the CPU benchmark
// looks seldom, since each look (storage.Outbox.Stats) costs this process
// and redis-server about a millisecond, which is the harness's, not usher's.
func (d *bulkDeployment) waitEmpty(timeout time.Duration) storage.OutboxStats {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := d.outbox.Stats(context.Background())
		if err != nil {
			d.t.Fatal(err)
		}
		if st.Waiting == 0 && st.Pending == 0 && st.Delayed == 0 {
			return st
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("outbox not empty after %s: %+v", timeout, st)
		}
		time.Sleep(cmp.Or(d.poll, 20*time.Millisecond))
	}
}

// TestBulkDeliveryThreeReplicas: 1,000 invitations to a 10,000-person
// workspace, delivered by three replicas against a fake Slack that
// enforces the published tiers per method and per conversation, with a
// workspace-wide chat.postMessage limit (200 a minute) lower than the one
// usher assumes (300): Slack's first 429 slows the shared budget of every
// replica, and no call is over a limit after that first Retry-After. Every
// invitation is delivered exactly once and recorded, with at most 1.1 Web
// API calls per invitation (the directory's 50 users.list pages included).
func TestBulkDeliveryThreeReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("a 1,000-message delivery")
	}
	const n, users, scale = 1000, 10000, 20
	d := newBulkDeployment(t, bulkOptions{replicas: 3, users: users, scale: scale, directory: true, budgets: true,
		fake: slacktest.Config{PostsPerMinute: 200}})
	emails := d.invitees(n, users)
	start := time.Now()
	d.invite(emails)
	invited := time.Since(start)
	stop := d.run()
	d.waitEmpty(2 * time.Minute)
	stop()
	st := d.fake.Stats()
	t.Logf("invited in %s, delivered %s later", invited, time.Since(start)-invited)
	t.Logf("calls %v, 429s %v, 429s after the first Retry-After %d", st.Calls, st.Limited, st.LimitedAfterFirst)
	if st.Posts != n || st.Channels != n || st.Repeats != 0 {
		t.Fatalf("%d posts in %d conversations (%d repeats), want %d once each", st.Posts, st.Channels, st.Repeats, n)
	}
	for _, e := range emails[:50] {
		var id int
		fmt.Sscanf(e, "user%05d@", &id)
		if ps := d.fake.Posts(slacktest.UserID(id)); len(ps) != 1 || !strings.Contains(ps[0].Text, "invited you") {
			t.Fatalf("%s got %+v", e, ps)
		}
	}
	if st.LimitedAfterFirst != 0 {
		t.Fatalf("%d calls over a limit after the first Retry-After (%v)", st.LimitedAfterFirst, st.AfterBy)
	}
	if st.Limited["chat.postMessage"] == 0 {
		t.Fatal("no 429: the test did not exercise Slack's limit")
	}
	if per := float64(st.Total()) / n; per > 1.1 {
		t.Fatalf("%.3f Web API calls per delivered invitation (%v), want <= 1.1", per, st.Calls)
	}
	// Recorded, every one: where it went (in batches of a claim each).
	pending, recorded := recordedBySlack(t, d)
	if pending != n || recorded != n {
		t.Fatalf("%d of %d pending invitations recorded as delivered", recorded, pending)
	}
}

// TestBatchFindsAndPacesAtOnce: a claim of messages (up to 32) finds its
// recipients in the directory in one round trip and takes their rate slots
// in one script call (deliver.Router.Prepare, DM.Prefetch), not one each;
// every message is still posted once, to the right person.
func TestBatchFindsAndPacesAtOnce(t *testing.T) {
	const n, users = 48, 200
	d := newBulkDeployment(t, bulkOptions{replicas: 1, users: users, scale: 1000, directory: true, budgets: true})
	if err := d.dms[0].BuildDirectory(context.Background(), d.orgID, ""); err != nil {
		t.Fatal(err)
	}
	d.invite(d.invitees(n, users)) // queued before the worker runs: claims of up to 32 (outbox.Worker.Batch)
	var rc roundTrips
	d.clients[0].AddHook(&rc)
	stop := d.run()
	d.waitEmpty(time.Minute)
	stop()
	st := d.fake.Stats()
	if st.Posts != n || st.Repeats != 0 {
		t.Fatalf("%d posts (%d repeats), want %d once each", st.Posts, st.Repeats, n)
	}
	for i := 1; i <= users; i++ {
		for _, p := range d.fake.Posts(slacktest.UserID(i)) {
			if !strings.Contains(p.Text, slacktest.Email(i, "corp.example")) && !strings.Contains(p.Text, "invited you") {
				t.Fatalf("user %d got %q", i, p.Text)
			}
		}
	}
	budgets, lookups := rc.counts()
	t.Logf("%d messages: %d budget script calls, %d directory look-ups", n, budgets, lookups)
	// A claim may hold fewer than 32 (jobs are acknowledged while others
	// are claimed), and a job's first look-up of the sender's own address
	// is one more: at most twice the claims, not one per message.
	if budgets > n/8 || lookups > n/8 {
		t.Fatalf("%d budget calls and %d directory look-ups for %d messages in claims of up to 32: want about one of each per claim", budgets, lookups, n)
	}
}

// roundTrips counts a client's budget script calls, commits and Slack
// directory look-ups (each a round trip: a script call, a pipeline).
type roundTrips struct {
	mu                        sync.Mutex
	budgets, commits, lookups int
}

func (r *roundTrips) commitCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commits
}

func (r *roundTrips) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.budgets, r.lookups
}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if a := cmd.Args(); len(a) > 3 && strings.HasPrefix(cmd.Name(), "eval") {
			r.mu.Lock()
			switch key := fmt.Sprint(a[3]); {
			case strings.Contains(key, ":budget:"):
				r.budgets++
			case strings.Contains(key, ":commit:"):
				r.commits++
			}
			r.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if a := c.Args(); c.Name() == "hmget" && len(a) > 1 && strings.Contains(fmt.Sprint(a[1]), ":slackdir:") && !strings.HasSuffix(fmt.Sprint(a[1]), ":meta") {
				r.mu.Lock()
				r.lookups++
				r.mu.Unlock()
				break
			}
		}
		return next(ctx, cmds)
	}
}

// TestBulkRecordedPerClaim: a bulk invitation's deliveries are recorded on
// their invitations and counted on its progress record in one commit per
// claim, not one each; the count comes out right.
func TestBulkRecordedPerClaim(t *testing.T) {
	const n, users = 48, 200
	d := newBulkDeployment(t, bulkOptions{replicas: 1, users: users, scale: 1000, directory: true, budgets: true})
	if err := d.dms[0].BuildDirectory(context.Background(), d.orgID, ""); err != nil {
		t.Fatal(err)
	}
	d.inviteAll(d.invitees(n, users)) // one bulk, queued before the worker runs
	var rc roundTrips
	d.clients[0].AddHook(&rc)
	stop := d.run()
	d.waitEmpty(time.Minute)
	stop()
	if st := d.fake.Stats(); st.Posts != n || st.Repeats != 0 {
		t.Fatalf("%d posts (%d repeats), want %d once each", st.Posts, st.Repeats, n)
	}
	commits := rc.commitCount()
	t.Logf("%d bulk deliveries: %d commits", n, commits)
	if commits > n/8 {
		t.Fatalf("%d commits for %d deliveries in claims of up to 32: want about one per claim", commits, n)
	}
	_, recorded := recordedBySlack(t, d)
	if recorded != n {
		t.Fatalf("%d of %d invitations recorded as delivered", recorded, n)
	}
}

// recordedBySlack counts the organization's pending invitations, and those
// among them whose delivery is recorded as Slack's.
func recordedBySlack(t *testing.T, d *bulkDeployment) (pending, recorded int) {
	t.Helper()
	snap, err := d.store.Load(context.Background(), org.Query{Pending: true, Whole: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range snap.Pending {
		if inv.Delivery == slackbot.Where {
			recorded++
		}
	}
	return len(snap.Pending), recorded
}

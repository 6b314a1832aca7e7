package teams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	"github.com/usher-chat/usher/bot/teams"
	"github.com/usher-chat/usher/bot/teams/teamstest"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// bulkAdmin sends the invitations from the shell: no platform reaches
// them, so their notices go nowhere and only the invitees' messages count.
const bulkAdmin = "boss@hq.example"

// teamsDeployment is one organization served by several replicas, each an
// outbox worker with its own Redis client (as separate processes have),
// its own router and Teams platform, on one redis-server and one
// rate-limited fake Bot Connector.
type teamsDeployment struct {
	t       testing.TB
	srv     *redistest.Server
	fake    *teamstest.Fake
	orgID   org.ID
	svc     *handlers.Service
	store   *storage.Store
	routers []*deliver.Router
	chats   []*teams.Chat
	workers []*outbox.Worker
	outbox  *storage.Outbox
	state   *storage.TeamsState
	// reserves and slows count the budget script calls of every replica.
	reserves, slows atomic.Int64
}

// counted is storage.Budgets counting its script calls.
type counted struct {
	*storage.Budgets
	d *teamsDeployment
}

func (c counted) Reserve(ctx context.Context, orgID org.ID, bs []teams.Budget, max time.Duration) (time.Duration, bool, error) {
	c.d.reserves.Add(1)
	return c.Budgets.Reserve(ctx, orgID, bs, max)
}

func (c counted) Slow(ctx context.Context, orgID org.ID, b teams.Budget, retryAfter, hold time.Duration) (time.Duration, int, error) {
	c.d.slows.Add(1)
	return c.Budgets.Slow(ctx, orgID, b, retryAfter, hold)
}

func newTeamsDeployment(t testing.TB, replicas int, scale float64, budgets bool) *teamsDeployment {
	t.Helper()
	srv := redistest.Start(t)
	d := &teamsDeployment{t: t, srv: srv, fake: teamstest.New(t)}
	seed := srv.Client(t)
	h := handlerstest.NewOrg(t, seed, "tbulk", bulkAdmin, handlers.Config{PublicURL: "https://usher.test"})
	d.orgID, d.svc, d.store = org.ID(h.ID), h.Service, h.Store
	st, err := storage.NewTeamsState(seed, d.orgID)
	if err != nil {
		t.Fatal(err)
	}
	d.state = st
	limits := teams.DefaultLimits().Scaled(scale)
	for i := range replicas {
		rdb := srv.Client(t)
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
		ts, err := storage.NewTeamsState(rdb, d.orgID)
		if err != nil {
			t.Fatal(err)
		}
		chat := &teams.Chat{Connector: d.connector(), State: ts}
		if budgets {
			b := storage.NewBudgets(rdb)
			if err := b.Setup(context.Background()); err != nil {
				t.Fatal(err)
			}
			chat.Budgets, chat.Limits = counted{b, d}, &limits
		}
		marks, err := storage.NewDeliveryMarks(rdb, d.orgID)
		if err != nil {
			t.Fatal(err)
		}
		q := redisqueue.New(ob)
		r, err := deliver.New(deliver.Config{Org: d.orgID, Platforms: []deliver.Platform{chat}, Service: svc, Queue: q, Marks: marks,
			PlatformsPace: budgets})
		if err != nil {
			t.Fatal(err)
		}
		d.routers, d.chats = append(d.routers, r), append(d.chats, chat)
		d.workers = append(d.workers, &outbox.Worker{Queue: q, Senders: map[string]outbox.Sender{deliver.JobPlatform: r.Send},
			Consumer: fmt.Sprintf("replica-%d", i), Lease: 30 * time.Second})
	}
	return d
}

func (d *teamsDeployment) connector() *teams.Connector {
	return &teams.Connector{Hosts: []string{"127.0.0.1"},
		Tokens: &teams.Tokens{URL: d.fake.TokenURL(), ClientID: d.fake.AppID, Secret: d.fake.Secret}}
}

// member is the i-th Teams user of the fake's tenant.
func member(i int) teamstest.Member {
	return teamstest.Member{ID: fmt.Sprintf("29:user-%d", i), Name: fmt.Sprintf("User %d", i),
		AADObjectID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Email: fmt.Sprintf("user%d@corp.example", i)}
}

// learn stores what usher learns of m when they talk to the bot or it is
// installed where they are (the roster it already learns): their profile,
// the email index and their conversation reference; with personal, the
// 1:1 chat is known, else the delivery creates it first.
func (d *teamsDeployment) learn(m teamstest.Member, personal bool) {
	d.t.Helper()
	m.TenantID = d.fake.Tenant
	d.fake.AddMember(m)
	ctx := context.Background()
	prof, _ := json.Marshal(map[string]string{"email": m.Email, "name": m.Name})
	if err := d.state.SaveProfile(ctx, m.AADObjectID, m.Email, prof, time.Hour); err != nil {
		d.t.Fatal(err)
	}
	ref := teams.Reference{ServiceURL: d.fake.ServiceURL(), Tenant: d.fake.Tenant, UserID: m.ID, AADObject: m.AADObjectID,
		BotID: "28:" + d.fake.AppID, BotName: "usher", ChannelID: "msteams"}
	if personal {
		ref.Personal = "a:known-" + m.ID
	}
	raw, _ := json.Marshal(ref)
	if err := d.state.SaveReference(ctx, m.AADObjectID, raw); err != nil {
		d.t.Fatal(err)
	}
}

// invite sends the invitations as an admin would, 20 a command, each
// command's messages queued in its own commit.
func (d *teamsDeployment) invite(emails []string) {
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

func (d *teamsDeployment) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { w.Run(ctx) })
	}
	return func() { cancel(); wg.Wait() }
}

func (d *teamsDeployment) waitEmpty(timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := d.outbox.Stats(context.Background())
		if err != nil {
			d.t.Fatal(err)
		}
		if st.Waiting == 0 && st.Pending == 0 && st.Delayed == 0 {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("outbox not empty after %s: %+v", timeout, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTeamsBulkDeliveryThreeReplicas: 240 invitations to Teams users usher
// learnt (half with their 1:1 chat known, half to be created), delivered
// by three replicas against a fake Bot Connector that enforces Microsoft's
// per thread limits and a per tenant limit (30 a second) lower than the
// published one usher assumes (50, kept to 45): the first 429 slows the
// tenant's shared budget for every replica, and no call is over a limit
// after that first Retry-After. Every invitation is delivered exactly once
// and recorded.
func TestTeamsBulkDeliveryThreeReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("a 240-message delivery")
	}
	const n, scale = 240, 10
	d := newTeamsDeployment(t, 3, scale, true)
	d.fake.Limit(teamstest.Limits{TenantPerSecond: 30, Scale: scale})
	emails := make([]string, n)
	for i := range n {
		m := member(i)
		d.learn(m, i%2 == 0)
		emails[i] = m.Email
	}
	d.invite(emails)
	start := time.Now()
	stop := d.run()
	d.waitEmpty(2 * time.Minute)
	stop()
	st := d.fake.Stats()
	t.Logf("delivered in %s; calls %v, 429s %v, 429s after the first Retry-After %d; budget script calls: %d reserve, %d slow (%.2f per connector call)",
		time.Since(start), st.Calls, st.Limited, st.LimitedAfterFirst, d.reserves.Load(), d.slows.Load(),
		float64(d.reserves.Load()+d.slows.Load())/float64(st.Calls["send"]+st.Calls["create"]))
	repeats := 0
	for _, c := range st.Sent {
		if c > 1 {
			repeats++
		}
	}
	if len(st.Sent) != n || repeats != 0 {
		t.Fatalf("%d conversations got a message (%d more than once), want %d once each", len(st.Sent), repeats, n)
	}
	for i := range n {
		m := member(i)
		conv := "a:known-" + m.ID
		if i%2 != 0 {
			conv = d.fake.PersonalConversation(m.ID)
		}
		if as := d.fake.Activities(conv); len(as) != 1 {
			t.Fatalf("%s got %d activities in %q", m.Email, len(as), conv)
		}
	}
	if st.LimitedAfterFirst != 0 {
		t.Fatalf("%d calls over a limit after the first Retry-After (429s %v)", st.LimitedAfterFirst, st.Limited)
	}
	if st.Limited["send"]+st.Limited["create"] == 0 {
		t.Fatal("no 429: the test did not exercise the tenant's limit")
	}
	snap, err := d.store.Load(context.Background(), org.Query{Pending: true, Whole: true})
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, inv := range snap.Pending {
		if inv.Delivery == teams.Where {
			recorded++
		}
	}
	if len(snap.Pending) != n || recorded != n {
		t.Fatalf("%d of %d pending invitations recorded as delivered", recorded, len(snap.Pending))
	}
}

// TestTeams429SlowsEveryReplica: one replica's 429 (with a Retry-After of
// 2 s, or none) stops the tenant's budget for the others: their next
// delivery goes back to the outbox for about that long without calling the
// connector.
func TestTeams429SlowsEveryReplica(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter int
		want       time.Duration
	}{{"retry-after", 2, 2 * time.Second}, {"no-retry-after", 0, time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTeamsDeployment(t, 2, 1, true)
			a, b := member(1), member(2)
			d.learn(a, true)
			d.learn(b, true)
			d.fake.Fail("a:known-"+a.ID, teamstest.Fault{Status: 429, Code: "TooManyRequests", RetryAfter: tc.retryAfter, Times: 1})
			ctx := deliver.WithQueued(context.Background())
			post := func(chat *teams.Chat, m teamstest.Member) error {
				rc, ok, err := chat.Find(ctx, d.orgID, m.Email, deliver.Hint{})
				if err != nil || !ok {
					t.Fatalf("find %s: %v %v", m.Email, ok, err)
				}
				_, err = chat.Post(ctx, rc, deliver.Post{Key: "k-" + m.ID, Kind: handlers.DeliverNotice, Message: handlers.Message{Text: "hello"}})
				return err
			}
			var ra *outbox.RetryAfter
			if err := post(d.chats[0], a); !errors.As(err, &ra) || ra.Wait < tc.want-100*time.Millisecond {
				t.Fatalf("the 429: %v, want a retry after %s", err, tc.want)
			}
			// The other replica waits the Retry-After out: in the outbox when
			// it is longer than MaxWait (1 s), else on a timer; either way
			// without calling the connector meanwhile.
			before := d.fake.Stats().Calls["send"]
			start := time.Now()
			err := post(d.chats[1], b)
			if errors.As(err, &ra) {
				if ra.Wait < tc.want-300*time.Millisecond || ra.Wait > tc.want+100*time.Millisecond {
					t.Fatalf("the other replica's delivery: retry after %s, want about %s", ra.Wait, tc.want)
				}
				if after := d.fake.Stats().Calls["send"]; after != before {
					t.Fatalf("the other replica called the connector during the Retry-After (%d sends, then %d)", before, after)
				}
				time.Sleep(ra.Wait)
				err = post(d.chats[1], b)
			}
			if err != nil {
				t.Fatalf("after the wait: %v", err)
			}
			if waited := time.Since(start); waited < tc.want-200*time.Millisecond {
				t.Fatalf("the other replica's message went %s after the 429, want after its Retry-After (%s)", waited, tc.want)
			}
		})
	}
}

// TestTeamsThreadLimits: 30 messages to one person in a row keep to
// Microsoft's per bot per thread limits (the fake answers no 429) with
// the budgets; without them the fake's limits answer 429, so the check is
// not vacuous.
func TestTeamsThreadLimits(t *testing.T) {
	const n, scale = 30, 5
	for _, budgets := range []bool{true, false} {
		t.Run(fmt.Sprintf("budgets=%v", budgets), func(t *testing.T) {
			d := newTeamsDeployment(t, 1, scale, budgets)
			d.fake.Limit(teamstest.Limits{Scale: scale})
			m := member(7)
			d.learn(m, true)
			ctx := deliver.WithQueued(context.Background())
			chat := d.chats[0]
			for i := 0; i < n; {
				rc, ok, err := chat.Find(ctx, d.orgID, m.Email, deliver.Hint{})
				if err != nil || !ok {
					t.Fatalf("find: %v %v", ok, err)
				}
				_, err = chat.Post(ctx, rc, deliver.Post{Key: fmt.Sprint(i), Kind: handlers.DeliverNotice, Message: handlers.Message{Text: fmt.Sprint("message ", i)}})
				var ra *outbox.RetryAfter
				switch {
				case errors.As(err, &ra):
					if !budgets {
						return // the fake enforces the limit
					}
					time.Sleep(ra.Wait) // the outbox's wait
				case err != nil:
					t.Fatal(err)
				default:
					i++
				}
			}
			st := d.fake.Stats()
			if !budgets {
				t.Fatalf("%d messages to one conversation at once, and no 429 (%v)", n, st.Calls)
			}
			if st.Limited["send"] != 0 || st.Sent["a:known-"+m.ID] != n {
				t.Fatalf("%d 429s, %d messages sent, want none and %d", st.Limited["send"], st.Sent["a:known-"+m.ID], n)
			}
		})
	}
}

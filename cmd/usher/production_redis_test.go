package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestRedisConfig checks the three topologies and that every problem is
// reported at once, with no password in any message.
func TestRedisConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string   // kind of client, when valid
		errs []string // substrings of the error, when not
	}{
		{name: "url", env: map[string]string{"REDIS_URL": "redis://:pw@localhost:6379/2"}, want: "*redis.Client"},
		{name: "tls url", env: map[string]string{"REDIS_URL": "rediss://user:pw@redis.example.com:6380/0"}, want: "*redis.Client"},
		{name: "unix", env: map[string]string{"REDIS_URL": "unix:///run/redis.sock?db=1"}, want: "*redis.Client"},
		{name: "sentinel", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379, s2:26379", "REDIS_MASTER_NAME": "mymaster", "REDIS_PASSWORD": "pw", "REDIS_SENTINEL_PASSWORD": "spw", "REDIS_MIN_REPLICAS": "1"}, want: "*redis.Client"},
		{name: "cluster", env: map[string]string{"REDIS_CLUSTER_ADDRS": "c1:6379,c2:6379,c3:6379", "REDIS_TLS": "true"}, want: "*redis.ClusterClient"},
		{name: "all problems at once", env: map[string]string{
			"REDIS_URL": "http://x:secretpw@host", "REDIS_CLUSTER_ADDRS": "nohostport", "REDIS_MASTER_NAME": "m",
			"REDIS_MIN_REPLICAS": "-1", "REDIS_WAIT_TIMEOUT": "soon", "USHER_SHUTDOWN_TIMEOUT": "x", "USHER_PUBLIC_URL": "ftp://x",
		}, errs: []string{"only one of", "REDIS_URL", "REDIS_CLUSTER_ADDRS: \"nohostport\"", "REDIS_MASTER_NAME is set but", "REDIS_MIN_REPLICAS", "REDIS_WAIT_TIMEOUT", "USHER_SHUTDOWN_TIMEOUT", "USHER_PUBLIC_URL"}},
		{name: "sentinel without master", env: map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379"}, errs: []string{"needs REDIS_MASTER_NAME"}},
		{name: "tls with url", env: map[string]string{"REDIS_URL": "redis://x:6379", "REDIS_TLS": "true"}, errs: []string{"use rediss://"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(func(k string) string { return tc.env[k] })
			if len(tc.errs) > 0 {
				if err == nil {
					t.Fatal("accepted")
				}
				for _, e := range tc.errs {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error lacks %q:\n%v", e, err)
					}
				}
				if strings.Contains(err.Error(), "secretpw") {
					t.Errorf("error shows the password:\n%v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rdb, err := newRedisClient(cfg.redis)
			if err != nil {
				t.Fatal(err)
			}
			defer rdb.Close()
			if got := fmt.Sprintf("%T", rdb); got != tc.want {
				t.Errorf("client %s, want %s", got, tc.want)
			}
			if d := cfg.redis.describe(); strings.Contains(d, "pw@") {
				t.Errorf("describe shows the password: %s", d)
			}
		})
	}
}

func prodOrg(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// flow runs invite -> accept -> role -> deactivate for one organization
// through the real handlers on rdb, and checks the result in storage.
func prodFlow(t *testing.T, ctx context.Context, cfg config, rdb redis.UniversalClient) {
	t.Helper()
	const boss = "boss@example.com"
	cfg.admins = []string{boss}
	svc, err := newService(ctx, env{}, cfg, rdb, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatalf("org %s: %v", cfg.org, err)
	}
	as := func(email, text string) handlers.Reply {
		t.Helper()
		r := svc.Handle(ctx, handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-" + email, Email: email}, Text: text})
		if r.Code != "" {
			t.Fatalf("org %s: %s: %q refused (%s): %s", cfg.org, email, text, r.Code, r.Text)
		}
		return r
	}
	const ann = "ann@example.com"
	r := as(boss, "invite "+ann+" --role member")
	var id string
	for _, d := range r.Deliveries {
		if d.Kind == handlers.DeliverInvitation && d.To == ann {
			id = d.InvitationID
		}
	}
	if id == "" {
		t.Fatalf("org %s: no invitation delivered: %+v", cfg.org, r)
	}
	as(ann, "accept "+id)
	as(boss, "role "+ann+" admin --confirm")
	as(boss, "deactivate "+ann+" --confirm")
	as(boss, "members")
	as(boss, "audit")

	st, err := storage.New(rdb, cfg.org)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(ctx, org.Query{Users: []string{ann}, Invitation: id, Admins: true, AuditLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	u := snap.Users[ann]
	if u == nil || u.Role != org.RoleAdmin || u.Status != org.StatusDeactivated {
		t.Fatalf("org %s: ann is %+v, want a deactivated admin", cfg.org, u)
	}
	if snap.Invitation == nil || snap.Invitation.Status != org.InvitationAccepted {
		t.Fatalf("org %s: invitation %+v, want accepted", cfg.org, snap.Invitation)
	}
	if len(snap.Admins) != 1 || snap.Admins[0] != boss {
		t.Fatalf("org %s: admins %v", cfg.org, snap.Admins)
	}
	if len(snap.Audit) < 4 {
		t.Fatalf("org %s: %d audit entries", cfg.org, len(snap.Audit))
	}
}

// TestClusterFlowThroughHandlers starts a 3-master Redis Cluster and runs the
// whole invite -> accept -> role -> deactivate flow through the handlers,
// configured from REDIS_CLUSTER_ADDRS as `usher serve` is, for organizations
// spread over every master: every multi-key script stays in its org's slot
// (no CROSSSLOT), and the scripts are loaded on every master.
func TestClusterFlowThroughHandlers(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	ctx := context.Background()
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(cl.Addrs(), ",")}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	rdb, closeRedis, err := connect(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer closeRedis()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("client is %T", rdb)
	}

	// Pick organizations until every master owns at least two.
	perNode := map[string]int{}
	var orgs []string
	for len(orgs) < 40 && (len(perNode) < 3 || prodMinCount(perNode) < 2) {
		o := prodOrg("c")
		node, err := cc.MasterForKey(ctx, "usher:{"+o+"}:settings")
		if err != nil {
			t.Fatal(err)
		}
		perNode[node.Options().Addr]++
		orgs = append(orgs, o)
	}
	if len(perNode) < 3 {
		t.Fatalf("organizations landed on %d masters only: %v", len(perNode), perNode)
	}
	for _, o := range orgs {
		c := cfg
		c.org = org.ID(o)
		prodFlow(t, ctx, c, rdb)
	}

	// Every master has every script (go-redis's ClusterClient.ScriptLoad
	// runs on each master); after a master loses its script cache (a
	// restart, SCRIPT FLUSH), Ready finds out and loads them again.
	st, err := storage.New(rdb, org.ID(orgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	node := cl.Nodes[1].Client(t)
	if err := node.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range cl.Nodes {
		hashes := storage.ScriptHashes()
		have, err := n.Client(t).ScriptExists(ctx, hashes...).Result()
		if err != nil {
			t.Fatal(err)
		}
		for i, ok := range have {
			if !ok {
				t.Errorf("node %s lacks script %s after Ready", n.Addr(), hashes[i])
			}
		}
	}

	// The outbox works on the cluster too: add, claim, retry later, dead, done.
	ob, err := storage.NewOutbox(rdb, org.ID(orgs[1]))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := ob.Add(ctx, storage.Job{Platform: "slack", Channel: "D1", Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := ob.Claim(ctx, "w1", 10, 10*time.Millisecond, time.Minute)
	if err != nil || len(jobs) != 3 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	if err := ob.Later(ctx, jobs[0], time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := ob.Dead(ctx, jobs[1], "bad channel"); err != nil {
		t.Fatal(err)
	}
	if err := ob.Done(ctx, jobs[2]); err != nil {
		t.Fatal(err)
	}
	again, err := ob.Claim(ctx, "w1", 10, 10*time.Millisecond, time.Minute)
	if err != nil || len(again) != 1 || string(again[0].Payload) != `{"n":0}` {
		t.Fatalf("the job put back for later was not claimed again: %+v, %v", again, err)
	}
	if _, err := ob.Pace(ctx, "D1", time.Second); err != nil {
		t.Fatal(err)
	}
	stats, err := ob.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Dead != 1 || stats.Pending != 1 {
		t.Fatalf("stats %+v, want 1 dead and 1 pending", stats)
	}
}

func prodMinCount(m map[string]int) int {
	n := -1
	for _, v := range m {
		if n < 0 || v < n {
			n = v
		}
	}
	return n
}

package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestRollingDeployOldReplicaNeverClaims: a rolling deploy runs a replica
// of the previous version next to `usher serve` on one Redis for minutes.
// That version's worker takes new jobs with XREADGROUP on the legacy stream
// usher:{org}:outbox in group "senders" (git show 8dd4a5e:storage/outbox.go)
// and dead-letters any job whose platform it has no sender for, which is
// every router job ("deliver"). The old replica is that consumer, reading
// all along as the old worker did; the admin invites two people from Slack
// (the jobs queued inside the commits, and the notices the router queues
// after posting). The old replica must never be handed a job, and every
// message reaches its person once, with nothing dead-lettered.
func TestRollingDeployOldReplicaNeverClaims(t *testing.T) {
	srv := redistest.Shared(t)
	orgID := freshOrgID("rolling")
	slack := newSlackEdgeWith(t, map[string]string{"UADMIN": "admin@example.com", "UBOB": "bob@example.com", "UERIN": "erin@example.com"})
	vars := map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": orgID, "USHER_ADMINS": "admin@example.com", "USHER_SCHEDULER": "off",
		"USHER_SECRET":         strings.Repeat("rolling-deploy-secret-", 2),
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": slack.srv.URL + "/api/",
	}
	base, logs := serveUsher(t, vars) // its Setup made both streams' groups, as the old replica's made the legacy one

	rdb := srv.Client(t)
	legacy := "usher:{" + orgID + "}:outbox"
	ctx, stop := context.WithCancel(context.Background())
	var (
		mu     sync.Mutex
		handed []string // what the old replica was given
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for ctx.Err() == nil {
			streams, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: "senders", Consumer: "old-replica", Streams: []string{legacy, ">"}, Count: 16, Block: 50 * time.Millisecond,
			}).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				if ctx.Err() == nil {
					t.Errorf("old replica's read: %v", err)
				}
				return
			}
			mu.Lock()
			for _, s := range streams {
				for _, m := range s.Messages {
					handed = append(handed, m.ID+" "+m.Values["platform"].(string))
				}
			}
			mu.Unlock()
		}
	})
	// Registered after the Redis client's cleanup, so it runs first: the
	// old replica stops before its client closes, also when a wait fails.
	t.Cleanup(func() { stop(); wg.Wait() })

	for _, who := range []string{"bob", "erin"} {
		answer := slackCommand(t, base, "UADMIN", "invite "+who+"@example.com", slack.srv.URL+"/respond/"+who)
		if !strings.Contains(answer, who+"@example.com: invited as member") {
			t.Fatalf("invite %s: %s", who, answer)
		}
	}
	for _, who := range []string{"bob", "erin"} {
		channel := "DU" + strings.ToUpper(who)
		waitForSlack(t, logs, who+"'s invitation DM", func() bool { return len(slack.postsTo(channel)) >= 1 })
		waitForSlack(t, logs, "the admin told "+who+" got it", func() bool {
			rs := slack.responsesTo(who)
			return len(rs) >= 1 && strings.Contains(strings.Join(rs, "\n"), who+"@example.com got the invitation")
		})
	}
	ob, err := storage.NewOutbox(rdb, org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	waitForSlack(t, logs, "the outbox drained", func() bool {
		st, err := ob.Stats(context.Background())
		return err == nil && st.Waiting == 0 && st.Pending == 0 && st.Delayed == 0
	})
	stop()
	wg.Wait()
	if len(handed) != 0 {
		t.Errorf("the old replica was handed %d jobs it would dead-letter: %v", len(handed), handed)
	}
	for _, who := range []string{"bob", "erin"} {
		if n := len(slack.postsTo("DU" + strings.ToUpper(who))); n != 1 {
			t.Errorf("%s got %d DMs, want 1", who, n)
		}
		if n := len(slack.responsesTo(who)); n != 1 {
			t.Errorf("the admin was told about %s %d times: %v", who, n, slack.responsesTo(who))
		}
	}
	if st, err := ob.Stats(context.Background()); err != nil || st.Dead != 0 {
		t.Errorf("dead letters: %+v, %v", st, err)
	}
	if xp, err := rdb.XPending(context.Background(), legacy, "senders").Result(); err != nil || xp.Count != 0 {
		t.Errorf("legacy stream pending: %+v, %v", xp, err)
	}
}

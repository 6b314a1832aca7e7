package slack_test

import (
	"context"
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/slack/slacktest"
)

// BenchmarkBulkDelivery is issue 17's delivery figures, each next to its
// baseline measured in the same run. One iteration is a whole 1,000-person
// bulk invite to a 10,000-person workspace by three replicas (run it with
// -benchtime 1x):
//
//   - calls/inv: Slack Web API calls per delivered invitation (the
//     directory's 50 users.list pages included); baseline-calls/inv, the
//     same delivery without the directory (a users.lookupByEmail each).
//   - dir-x-min, deliver-x-min: wall time of the directory's build and of
//     the 1,000 deliveries against the fake enforcing Slack's limits 10
//     times faster (a minute is 6 s), over the least those limits allow:
//     the fake counts a sliding minute, which lets a client post a whole
//     minute's quota at once (min = floor((n-1)/N) minutes); -sustained
//     is over n/N minutes, the least at the limit's rate. Each minute's
//     299 posts take three replicas about 0.35 s to send once their
//     minute opens: 20 times faster that would be 1.11x the least, 10
//     times 1.06x, at Slack's own pace 1.002x; hence 10.
//   - cpu-ms/inv: CPU per delivered invitation (redis-cpu-ms/inv of it in
//     redis-server), this process (three
//     replicas' workers and the admin's commands, getrusage) plus
//     redis-server (INFO cpu), from the first command until the outbox is
//     empty, against a fake with no limits in a process of its own, the
//     directory built before (dir-build-cpu-ms: its build, 10,000 people);
//     bulk-cpu-ms/inv the same sent as one 1,000-address invite (its
//     answer, progress record and progress message included) rather than
//     50 of 20; baseline-cpu-ms/inv the same 50 commands without the directory, the shared
//     budgets or PlatformsPace (a look-up and the outbox's pacing script
//     per message, as before issue 17, less the conversations.open call).
func BenchmarkBulkDelivery(b *testing.B) {
	b.Run("paced", benchmarkPaced)
	b.Run("cpu", benchmarkDeliveryCPU)
}

const bulkN, bulkUsers = 1000, 10000

// benchmarkPaced: Slack's limits, 10 times faster.
func benchmarkPaced(b *testing.B) {
	const n, users, scale = bulkN, bulkUsers, 10
	for range b.N {
		fake := slacktest.Child(b, slacktest.Config{Users: users, Scale: scale})
		d := newBulkDeployment(b, bulkOptions{replicas: 3, users: users, scale: scale, remote: fake, directory: true, budgets: true})
		window := time.Duration(float64(time.Minute) / scale)
		start := time.Now()
		if err := d.dms[0].BuildDirectory(context.Background(), d.orgID, ""); err != nil {
			b.Fatal(err)
		}
		dirWall := time.Since(start)
		pages := fake.Stats(b).Calls["users.list"]
		dirMin := time.Duration((pages-1)/slacktest.Tier2) * window
		d.invite(d.invitees(n, users))
		start = time.Now()
		stop := d.run()
		d.waitEmpty(5 * time.Minute)
		wall := time.Since(start)
		stop()
		st := fake.Stats(b)
		posts := st.Calls["chat.postMessage"]
		if st.Posts != n || st.Repeats != 0 {
			b.Fatalf("%d posts, %d repeats", st.Posts, st.Repeats)
		}
		minimum := time.Duration((n-1)/300) * window
		sustained := time.Duration(float64(n) / 300 * float64(window))
		b.ReportMetric(float64(st.Total())/n, "calls/inv")
		b.ReportMetric(ratio(dirWall, dirMin), "dir-x-min")
		b.ReportMetric(ratio(wall, minimum), "deliver-x-min")
		b.ReportMetric(ratio(wall, sustained), "deliver-x-sustained")
		b.ReportMetric(float64(st.Total()-posts-pages), "other-calls")
		b.ReportMetric(float64(st.LimitedAfterFirst), "429s-after-first")
		b.Logf("directory: %d pages in %s (least %s); 1,000 deliveries in %s (least %s, %s at the rate); calls %v; 429s %v",
			pages, dirWall.Round(time.Millisecond), dirMin, wall.Round(time.Millisecond), minimum, sustained, st.Calls, st.Limited)
	}
}

// benchmarkDeliveryCPU: the same delivery with no limits in the way, the
// new path and the baseline.
func benchmarkDeliveryCPU(b *testing.B) {
	const n, users = bulkN, bulkUsers
	for range b.N {
		unlimited := slacktest.Config{Users: users, PostsPerMinute: 1e9, PostBurst: 1e9, Tiers: map[string]int{}}
		for m := range slacktest.Tiers {
			unlimited.Tiers[m] = 1e9
		}
		unlimited.Tiers["users.list"] = 1e9
		unlimited.Tiers["users.lookupByEmail"] = 1e9
		cpu := func(o bulkOptions, bulk bool) (perInv, redisPerInv time.Duration, calls, conns float64) {
			o.remote = slacktest.Child(b, unlimited)
			o.replicas, o.users, o.scale = 3, users, 1000 // usher's budgets far above the need
			d := newBulkDeployment(b, o)
			d.poll = 250 * time.Millisecond
			emails := d.invitees(n, users)
			if o.directory {
				// A deployment that has run a while has its directory
				// (built once, then kept by events): its build is
				// measured apart.
				c0, r0 := selfCPU(), d.srv.CPU(b)
				if err := d.dms[0].BuildDirectory(context.Background(), d.orgID, ""); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(ms(selfCPU()-c0+d.srv.CPU(b)-r0), "dir-build-cpu-ms")
			}
			c0, r0 := selfCPU(), d.srv.CPU(b)
			stop := d.run()
			if bulk {
				d.inviteAll(emails)
			} else {
				d.invite(emails)
			}
			d.waitEmpty(5 * time.Minute)
			stop()
			redisUsed := d.srv.CPU(b) - r0
			used := selfCPU() - c0 + redisUsed
			st := o.remote.Stats(b)
			if st.Posts != n {
				b.Fatalf("%d posts", st.Posts)
			}
			return used / n, redisUsed / n, float64(st.Total()) / n, float64(st.Conns) / n
		}
		now, nowRedis, _, nowConns := cpu(bulkOptions{directory: true, budgets: true}, false)
		bulk, bulkRedis, _, _ := cpu(bulkOptions{directory: true, budgets: true}, true)
		base, baseRedis, baseCalls, _ := cpu(bulkOptions{pace: time.Millisecond}, false)
		b.ReportMetric(nowConns, "conns/inv")
		b.ReportMetric(ms(now), "cpu-ms/inv")
		b.ReportMetric(ms(nowRedis), "redis-cpu-ms/inv")
		b.ReportMetric(ms(bulk), "bulk-cpu-ms/inv")
		b.ReportMetric(ms(bulkRedis), "bulk-redis-cpu-ms/inv")
		b.ReportMetric(ms(base), "baseline-cpu-ms/inv")
		b.ReportMetric(ms(baseRedis), "baseline-redis-cpu-ms/inv")
		b.ReportMetric(baseCalls, "baseline-calls/inv")
		b.ReportMetric(ratio(now, base), "cpu-x-baseline")
	}
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// selfCPU is this process's CPU time (user + system) so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

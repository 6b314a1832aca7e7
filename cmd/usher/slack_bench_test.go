package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	slackgo "github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	"github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// The Slack load benchmark (make bench-slack): signed `/usher invite`
// requests, a fresh email each, from 16 and 64 concurrent clients, against
// usher's real Slack HTTP handler on a real redis-server, next to a bare
// net/http handler that only verifies the signature and answers, measured in
// the same run. It prints throughput and p50/p99 latency, and usher's
// throughput as a ratio of the baseline's. The clients run in a process of
// their own (loadApart), so each row's CPU per request is split into the
// server's (handler and redis-server) and the clients'.

const benchSecret = "bench-signing-secret"

type loadResult struct {
	n        int
	errors   int64
	elapsed  time.Duration
	p50, p99 time.Duration
	// cpu is the CPU time the run took per request: the server's (this
	// process, and redis-server's where it is used) plus the clients'.
	// server is the server's share alone, client the clients' (their own
	// process, see loadApart).
	cpu, server, client time.Duration
}

// addRedis counts redis-server's CPU per request as the server's.
func (r *loadResult) addRedis(d time.Duration) { r.server += d; r.cpu += d }

func (r loadResult) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

// load sends n requests from c clients to target; body(i) is request i's body.
func load(b testing.TB, target string, c, n int, body func(i int) string, check func(*http.Response) bool) loadResult {
	tr := &http.Transport{MaxIdleConns: c * 2, MaxIdleConnsPerHost: c * 2, MaxConnsPerHost: c * 2, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{KeepAlive: time.Minute}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	var errs atomic.Int64
	lat := make([][]time.Duration, c)
	var wg sync.WaitGroup
	cpu0 := selfCPU()
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				bd := body(i)
				req, _ := http.NewRequest("POST", target, strings.NewReader(bd))
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				mac := hmac.New(sha256.New, []byte(benchSecret))
				io.WriteString(mac, "v0:"+ts+":"+bd)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Slack-Request-Timestamp", ts)
				req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				ok := check(resp)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(t0))
				if !ok {
					errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	r := loadResult{n: n, errors: errs.Load(), elapsed: time.Since(start), cpu: (selfCPU() - cpu0) / time.Duration(n)}
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return r
}

// baselineHandler verifies the signature with slack-go and answers, nothing else.
func baselineHandler() http.Handler { return verifiedHandler(nil) }

// oneWriteHandler is the bare handler plus the slash command parsed and one
// go-redis write (HSET of the command under a fresh key): the price of one
// round trip, which the issue quotes next to the bare handler's.
func oneWriteHandler(rdb redis.UniversalClient) http.Handler {
	var n atomic.Int64
	return verifiedHandler(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return false
		}
		key := "bench:{one-write}:" + strconv.FormatInt(n.Add(1), 10)
		if err := rdb.HSet(r.Context(), key, "user", form.Get("user_id"), "text", form.Get("text")).Err(); err != nil {
			http.Error(w, "redis", http.StatusServiceUnavailable)
			return false
		}
		return true
	})
}

// floorHandler is the bare handler plus the slash command parsed and the
// Redis work an invitation cannot do without, both through usher's storage
// as serve builds it: the request's replay mark (bot/slack/guard.go's SET NX,
// grouped with the marks of requests arriving together) and the
// invitation's commit (newStore: sealing, grouping, the fleet's ring), which
// writes it with its indexes, the daily quota, the audit entry and the DM in
// the outbox, guarded in one script call. None of the handler's other work
// (authorization, rendering the DM and the answer) is done: a floor under
// the usher row.
func floorHandler(b *testing.B, redisURL, orgID string) http.Handler {
	rdb := chatRedis(b, redisURL, nil)
	st, _ := fleetStore(b, config{org: org.ID(orgID), publicURL: "https://usher.test"}, rdb)
	if err := st.LoadScripts(context.Background()); err != nil {
		b.Fatal(err)
	}
	// A DM of the size usher's invitation is (its Block Kit, ~2.8 KB).
	payload := []byte(strings.Repeat(`{"kind":"dm","message":"You're invited"}`, 70))
	marks := storage.NewEdgeSlackState(rdb)
	var n atomic.Int64
	return verifiedHandler(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		sum := sha256.Sum256(body)
		if first, err := marks.SetNX(r.Context(), "req", hex.EncodeToString(sum[:16]), 11*time.Minute); err != nil || !first {
			http.Error(w, "replayed", http.StatusUnauthorized)
			return false
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return false
		}
		now := time.Now()
		i := n.Add(1)
		email := fmt.Sprintf("p%d-%s@example.com", i, form.Get("user_id"))
		id := fmt.Sprintf("c%s-%d", orgID, i)
		inv := &org.Invitation{ID: id, Email: email, Role: org.RoleMember, Inviter: "a@example.com", Created: now,
			Expires: now.Add(7 * 24 * time.Hour), Status: org.InvitationPending, NextRemind: now.Add(24 * time.Hour), Updated: now}
		ch := org.Change{Now: now, Invitations: []org.InvitationWrite{{Invitation: inv, NewTokenHash: "h" + id}},
			NoUsers: []string{email}, PinRevision: true,
			Quota:    &org.QuotaUse{Email: "a@example.com", Day: now.Format("20060102"), N: 1},
			Audit:    []org.AuditEntry{{At: now, Actor: "a@example.com", Via: "slack:UADMIN", Action: "invitation.create", Target: email, After: "pending member ws="}},
			Messages: []org.QueuedMessage{{Platform: "slack", Channel: "slack:" + email, Payload: payload}}}
		if err := st.Commit(r.Context(), ch); err != nil {
			http.Error(w, "commit: "+err.Error(), http.StatusServiceUnavailable)
			return false
		}
		return true
	})
}

// verifiedHandler reads the body, verifies the signature with slack-go, runs
// work (when set; false: it has answered) and answers.
func verifiedHandler(work func(w http.ResponseWriter, r *http.Request, body []byte) bool) http.Handler {
	answer := []byte(`{"response_type":"ephemeral","text":"ok"}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		sv, err := slackgo.NewSecretsVerifier(r.Header, benchSecret)
		if err == nil {
			sv.Write(body)
			err = sv.Ensure()
		}
		if err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		if work != nil && !work(w, r, body) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})
}

// serveOn serves h on a fresh local port like usher serve does.
func serveOn(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// chatRedis is a client of redis at url with serve's timeouts for chat
// requests and room for the load's connections; rt, when set, counts its
// round trips.
func chatRedis(b *testing.B, url string, rt *storage.RoundTrips) *redis.Client {
	opt, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	storage.ChatTimeouts(opt)
	opt.PoolSize = 128
	rdb := redis.NewClient(opt)
	if rt != nil {
		rdb.AddHook(rt)
	}
	b.Cleanup(func() { rdb.Close() })
	return rdb
}

// fleetStore is cfg's organization's store as serve builds it (newStore),
// and the fleet it rings, as serve's does, after each commit that queues
// or schedules work.
func fleetStore(b *testing.B, cfg config, rdb *redis.Client) (*storage.Store, *storage.Fleet) {
	fleet := storage.NewFleet(rdb)
	if err := fleet.LoadScripts(context.Background()); err != nil {
		b.Fatal(err)
	}
	st, err := newStore(cfg, rdb)
	if err != nil {
		b.Fatal(err)
	}
	st.UseFleet(fleet)
	return st, fleet
}

// usherSlack builds usher's Slack HTTP handler as `usher serve` mounts it
// (mountSlack), on redis at url, with a fake Slack Web API that knows the admin.
func usherSlack(b *testing.B, redisURL, orgID string, rt *storage.RoundTrips) http.Handler {
	ctx := context.Background()
	edge := newSlackEdge(b)
	rdb := chatRedis(b, redisURL, rt)
	cfg := config{org: org.ID(orgID), publicURL: "https://usher.test", admins: []string{"a@example.com"}}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	st, fleet := fleetStore(b, cfg, rdb)
	svc, err := newServiceOn(ctx, env{}, cfg, st, log, nil)
	if err != nil {
		b.Fatal(err)
	}
	state := storage.NewEdgeSlackState(rdb)
	ob, _ := storage.NewOutbox(rdb, org.ID(orgID))
	ob.UseFleet(fleet)
	if err := ob.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	cfgSlack := slack.Config{SigningSecret: benchSecret, BotToken: "xoxb-bench", APIURL: edge.srv.URL + "/api/",
		Service: svc, State: state, QueueInCommit: true, Queue: redisqueue.New(ob), Logger: log,
		Tenants: slack.Tenants{Teams: []string{"T1"}}}
	// The router as serve builds it (serve.go), with Slack its one platform:
	// the invite's DM is queued through it inside the commit.
	dm, err := slack.NewDM(cfgSlack)
	if err != nil {
		b.Fatal(err)
	}
	marks, err := storage.NewDeliveryMarks(rdb, org.ID(orgID))
	if err != nil {
		b.Fatal(err)
	}
	cfgSlack.Router, err = deliver.New(deliver.Config{Org: org.ID(orgID), Platforms: []deliver.Platform{dm}, Service: svc, Queue: redisqueue.New(ob), Marks: marks, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	app, err := slack.New(cfgSlack)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	app.Routes(mux)
	return mux
}

var benchRun atomic.Int64

// inviteBody(tag)(i) is request i's body: `/usher invite` of a fresh email.
func inviteBody(tag string) func(int) string {
	return func(i int) string {
		return url.Values{"team_id": {"T1"}, "team_domain": {"acme"}, "channel_id": {"C1"}, "channel_name": {"general"},
			"user_id": {"UADMIN"}, "user_name": {"a"}, "command": {"/usher"},
			"text":         {fmt.Sprintf("invite <mailto:p%s-%d@example.com|p%s-%d@example.com> --force", tag, i, tag, i)},
			"response_url": {"https://hooks.slack.test/commands/T1/1/x"}, "trigger_id": {"1.2.3"}, "api_app_id": {"A1"}}.Encode()
	}
}

// loadApart is load run from a child process (this test binary, running
// TestLoadClient), so that this process's CPU is the server's alone, as the
// issue measured it (usher and redis-server from /proc, the clients apart).
// The child reports its own CPU over the run as the clients'. The check is
// a 200 whose body holds expect.
func loadApart(b *testing.B, target string, c, n int, tag, expect string) loadResult {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLoadClient$", "-test.count", "1", "-test.v")
	cmd.Env = append(os.Environ(), "USHER_LOAD_TARGET="+target, "USHER_LOAD_CLIENTS="+strconv.Itoa(c),
		"USHER_LOAD_N="+strconv.Itoa(n), "USHER_LOAD_TAG="+tag, "USHER_LOAD_EXPECT="+expect)
	cmd.Stderr = os.Stderr
	cpu0 := selfCPU()
	out, err := cmd.Output()
	server := selfCPU() - cpu0
	if err != nil {
		b.Fatalf("load client: %v\n%s", err, out)
	}
	_, line, ok := strings.Cut(string(out), loadResultMark)
	line, _, _ = strings.Cut(line, "\n")
	var w wireLoadResult
	if !ok || json.Unmarshal([]byte(line), &w) != nil {
		b.Fatalf("load client: no result in its output:\n%s", out)
	}
	r := w.result()
	r.server = server / time.Duration(n)
	r.cpu = r.server + r.client
	return r
}

const loadResultMark = "usher-load-result: "

// wireLoadResult is a loadResult on its way from the load client.
type wireLoadResult struct {
	N, Errors                 int64
	Elapsed, P50, P99, Client time.Duration
}

func (w wireLoadResult) result() loadResult {
	return loadResult{n: int(w.N), errors: w.Errors, elapsed: w.Elapsed, p50: w.P50, p99: w.P99, client: w.Client}
}

// TestLoadClient is loadApart's child: it runs only when loadApart starts it.
func TestLoadClient(t *testing.T) {
	target := os.Getenv("USHER_LOAD_TARGET")
	if target == "" {
		t.Skip("the load benchmarks' client process (loadApart)")
	}
	c, _ := strconv.Atoi(os.Getenv("USHER_LOAD_CLIENTS"))
	n, _ := strconv.Atoi(os.Getenv("USHER_LOAD_N"))
	expect := os.Getenv("USHER_LOAD_EXPECT")
	r := load(t, target, c, n, inviteBody(os.Getenv("USHER_LOAD_TAG")), func(resp *http.Response) bool {
		if resp.StatusCode != 200 {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), expect)
	})
	w, _ := json.Marshal(wireLoadResult{N: int64(r.n), Errors: r.errors, Elapsed: r.elapsed, P50: r.p50, P99: r.p99, Client: r.cpu})
	fmt.Printf("%s%s\n", loadResultMark, w)
}

// BenchmarkSlackLoad is the load benchmark; see the comment at the top.
func BenchmarkSlackLoad(b *testing.B) {
	srv := redistest.Start(b)
	results := map[string]loadResult{}
	prefix := fmt.Sprintf("r%d-%d", os.Getpid(), benchRun.Add(1))
	baseline := serveOn(b, baselineHandler())
	for _, c := range []int{16, 64} {
		b.Run(fmt.Sprintf("baseline/clients=%d", c), func(b *testing.B) {
			r := loadApart(b, baseline, c, max(b.N, c), "base", "")
			report(b, r)
			results[fmt.Sprintf("baseline/%d", c)] = r
		})
		b.Run(fmt.Sprintf("one-write/clients=%d", c), func(b *testing.B) {
			opt, _ := redis.ParseURL(srv.URL())
			opt.PoolSize = 128
			rdb := redis.NewClient(opt)
			defer rdb.Close()
			target := serveOn(b, oneWriteHandler(rdb))
			cpu0 := srv.CPU(b)
			r := loadApart(b, target, c, max(b.N, c), "one", "")
			r.addRedis((srv.CPU(b) - cpu0) / time.Duration(r.n))
			report(b, r)
			results[fmt.Sprintf("one-write/%d", c)] = r
		})
		b.Run(fmt.Sprintf("floor/clients=%d", c), func(b *testing.B) {
			tag := fmt.Sprintf("floor-%d-%d", c, benchRun.Add(1)) // the org, and the requests: each run's are fresh to the replay mark
			target := serveOn(b, floorHandler(b, srv.URL(), tag))
			cpu0 := srv.CPU(b)
			r := loadApart(b, target, c, max(b.N, c), tag, "")
			cpu1 := srv.CPU(b)
			r.addRedis((cpu1 - cpu0) / time.Duration(r.n))
			report(b, r)
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(r.n), "redis-cpu-µs/req")
			results[fmt.Sprintf("floor/%d", c)] = r
		})
		b.Run(fmt.Sprintf("usher/clients=%d", c), func(b *testing.B) {
			orgID := fmt.Sprintf("bench-%d-%d", c, benchRun.Add(1))
			rt := &storage.RoundTrips{}
			target := serveOn(b, usherSlack(b, srv.URL(), orgID, rt)) + "/slack/commands"
			tag := fmt.Sprintf("%s-%d-%d", prefix, c, b.N)
			// Warm up: the admin's identity comes from users.info once.
			load(b, target, 1, 1, inviteBody(tag+"w"), func(*http.Response) bool { return true })
			cpu0 := srv.CPU(b)
			rt.Reset()
			r := loadApart(b, target, c, max(b.N, c), tag, "invited as member")
			trips := rt.Count()
			cpu1 := srv.CPU(b)
			r.addRedis((cpu1 - cpu0) / time.Duration(r.n))
			report(b, r)
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(r.n), "redis-cpu-µs/req")
			b.ReportMetric(float64(trips)/float64(r.n), "redis-roundtrips/req")
			results[fmt.Sprintf("usher/%d", c)] = r
		})
	}
	fmt.Printf("\n%-22s %10s %9s %9s %7s %11s %11s %s\n", "slack /usher invite", "req/s", "p50", "p99", "errors", "CPU/req", "server CPU", "x baseline")
	for _, c := range []int{16, 64} {
		base, ok := results[fmt.Sprintf("baseline/%d", c)]
		if !ok {
			continue
		}
		for _, name := range []string{"baseline", "one-write", "floor", "usher"} {
			r, ok := results[fmt.Sprintf("%s/%d", name, c)]
			if !ok {
				continue
			}
			row := struct {
				name string
				r    loadResult
			}{fmt.Sprintf("%-9s %d clients", name, c), r}
			ratio := ""
			if name != "baseline" {
				ratio = fmt.Sprintf("%.0f%% of the req/s, %.1fx the CPU/req, %.1fx the server's", 100*r.rps()/base.rps(),
					float64(r.cpu)/float64(base.cpu), float64(r.server)/float64(base.server))
			}
			fmt.Printf("%-22s %10.0f %9s %9s %7d %11s %11s %s\n", row.name, row.r.rps(), row.r.p50.Round(10*time.Microsecond), row.r.p99.Round(10*time.Microsecond), row.r.errors,
				row.r.cpu.Round(time.Microsecond), row.r.server.Round(time.Microsecond), ratio)
		}
	}
}

func report(b *testing.B, r loadResult) {
	b.ReportMetric(r.rps(), "req/s")
	b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(r.errors), "errors")
	b.ReportMetric(float64(r.cpu.Nanoseconds())/1000, "cpu-µs/req")
	b.ReportMetric(float64(r.server.Nanoseconds())/1000, "server-cpu-µs/req")
	b.ReportMetric(float64(r.client.Nanoseconds())/1000, "client-cpu-µs/req")
	b.ReportMetric(0, "ns/op")
	if r.errors > 0 {
		b.Errorf("%d requests failed", r.errors)
	}
}

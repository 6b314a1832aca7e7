package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage/redistest"
)

// BenchmarkEndToEnd is `make bench`: the end-to-end load benchmark. Real
// `usher serve` processes (built binaries, Slack HTTP mode) on a real Redis
// take signed `/usher invite NEW-EMAIL --force` slash commands from
// loadClients concurrent clients, spread round-robin over the replicas, while
// their outbox workers send the invitation DMs to a fake Slack Web API.
// Four rows, in one run: one redis-server with 1 and 3 replicas, and a
// 3-master Redis Cluster with 1 and 3 replicas. The rows are measured in
// interleaved rounds (the order rotating each round), so that drift on a
// noisy machine spreads over all of them; each measurement starts fresh
// processes on a fresh organization, after a warm-up. Each row
// prints requests/s, p50/p99 latency, errors, and the CPU spent per request
// by usher, by Redis and by this process (the clients and the fake Slack),
// which explains the ratios: when every core is busy, more replicas cannot
// add throughput.
//
// An organization lives in one hash slot (one master), so on the Cluster the
// replicas of one organization share one master; the other masters serve
// other organizations.
//
// The work is done once per call, whatever b.N: E2E_REQUESTS requests per
// row (default 6000) in E2E_ROUNDS rounds (default 3).
//
//	go test -run '^$' -bench '^BenchmarkEndToEnd$' -benchtime 1x ./cmd/usher
func BenchmarkEndToEnd(b *testing.B) {
	requests, rounds := envInt(b, "E2E_REQUESTS", 6000), envInt(b, "E2E_ROUNDS", 3)
	f := newWireSlack(b)
	admin := "bench-admin@example.com"
	adminID := f.User(admin)
	single := redistest.Start(b)
	cluster := redistest.StartCluster(b, 3)
	type config struct {
		name  string
		n     int
		env   map[string]string
		nodes []*redistest.Server
		res   e2eResult
	}
	var configs []*config
	for _, topo := range []struct {
		name  string
		env   map[string]string
		nodes []*redistest.Server
	}{
		{"redis", map[string]string{"REDIS_URL": single.URL()}, []*redistest.Server{single}},
		{"cluster", map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(cluster.Addrs(), ",")}, cluster.Nodes},
	} {
		for _, n := range []int{1, 3} {
			configs = append(configs, &config{name: fmt.Sprintf("%s/replicas=%d", topo.name, n), n: n, env: topo.env, nodes: topo.nodes})
		}
	}
	b.ResetTimer()
	for round := range rounds {
		for k := range configs {
			c := configs[(k+round)%len(configs)]
			// Fresh processes and a fresh organization for each measurement,
			// so that no row inherits another's outbox backlog.
			orgID := prodOrg("bench")
			env := serveEnv(f, orgID, []string{admin}, c.env)
			reps := make([]*replica, c.n)
			var wg sync.WaitGroup
			for i := range reps {
				wg.Go(func() { reps[i] = startReplica(b, fmt.Sprintf("%s-%d", c.name, i+1), env) })
			}
			wg.Wait()
			if b.Failed() {
				b.FailNow()
			}
			// Warm up: connections, the admin's identity from users.info.
			e2eLoad(b, f, reps, c.nodes, adminID, orgID+"w", loadClients, 4*loadClients)
			c.res.add(e2eLoad(b, f, reps, c.nodes, adminID, orgID, loadClients, requests/rounds))
			for _, r := range reps {
				r.kill()
			}
		}
	}
	b.StopTimer()

	fmt.Printf("\nend-to-end: signed /usher invite, %d clients, round-robin over the replicas, %d rounds; %d CPUs (GOMAXPROCS %d)\n",
		loadClients, rounds, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Printf("%-20s %8s %9s %9s %9s %7s %13s %13s %14s %10s\n", "", "requests", "req/s", "p50", "p99", "errors",
		"usher-cpu/req", "redis-cpu/req", "client-cpu/req", "cores-busy")
	results := map[string]*e2eResult{}
	for _, c := range configs {
		r := &c.res
		r.percentiles()
		results[c.name] = r
		fmt.Printf("%-20s %8d %9.0f %9s %9s %7d %13s %13s %14s %10.2f\n", c.name, r.n, r.rps(),
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.errors,
			r.perReq(r.usherCPU), r.perReq(r.redisCPU), r.perReq(r.selfCPU),
			(r.usherCPU+r.redisCPU+r.selfCPU).Seconds()/r.elapsed.Seconds())
		if r.errors > 0 {
			b.Errorf("%s: %d of %d requests failed", c.name, r.errors, r.n)
		}
	}
	for _, topo := range []string{"redis", "cluster"} {
		one, three := results[topo+"/replicas=1"], results[topo+"/replicas=3"]
		x := three.rps() / one.rps()
		fmt.Printf("%s: 3 replicas vs 1: throughput x%.2f, p50 x%.2f, p99 x%.2f\n", topo,
			x, ratio(three.p50, one.p50), ratio(three.p99, one.p99))
		b.ReportMetric(one.rps(), topo+"-1-req/s")
		b.ReportMetric(three.rps(), topo+"-3-req/s")
		b.ReportMetric(x, topo+"-3v1-x")
	}
	b.ReportMetric(0, "ns/op")
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

const loadClients = 32

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

type e2eResult struct {
	n, errors                   int
	elapsed                     time.Duration
	p50, p99                    time.Duration
	usherCPU, redisCPU, selfCPU time.Duration
	lat                         []time.Duration
}

// add sums another round into r.
func (r *e2eResult) add(o e2eResult) {
	r.n, r.errors, r.elapsed = r.n+o.n, r.errors+o.errors, r.elapsed+o.elapsed
	r.usherCPU, r.redisCPU, r.selfCPU = r.usherCPU+o.usherCPU, r.redisCPU+o.redisCPU, r.selfCPU+o.selfCPU
	r.lat = append(r.lat, o.lat...)
}

func (r *e2eResult) percentiles() {
	slices.Sort(r.lat)
	if len(r.lat) > 0 {
		r.p50, r.p99 = r.lat[len(r.lat)/2], r.lat[len(r.lat)*99/100]
	}
}

func (r e2eResult) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r e2eResult) perReq(d time.Duration) string {
	if r.n == 0 {
		return "-"
	}
	return (d / time.Duration(r.n)).Round(time.Microsecond).String()
}

// e2eLoad sends n invites of fresh emails from c clients, request i to
// replica i mod len(reps), and measures them.
func e2eLoad(b *testing.B, f *wireSlack, reps []*replica, nodes []*redistest.Server, adminID, tag string, c, n int) e2eResult {
	b.Helper()
	ctx := context.Background()
	client := newSlackClient(c)
	var next, errs atomic.Int64
	lat := make([][]time.Duration, c)
	usher0, redis0, self0 := usherCPU(b, reps), nodesCPU(b, nodes), selfCPU()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				email := fmt.Sprintf("%s-%d@example.com", tag, i)
				t0 := time.Now()
				status, body, err := client.command(ctx, reps[i%len(reps)].addr, adminID, "invite "+email+" --force", f.ResponseURL(fmt.Sprintf("%s-%d", tag, i)))
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil || status != 200 || invitedID(body) == "" {
					if errs.Add(1) <= 3 {
						b.Logf("invite %s: %d %v %.300s", email, status, err, body)
					}
				}
			}
		})
	}
	wg.Wait()
	r := e2eResult{n: n, errors: int(errs.Load()), elapsed: time.Since(start),
		usherCPU: usherCPU(b, reps) - usher0, redisCPU: nodesCPU(b, nodes) - redis0, selfCPU: selfCPU() - self0}
	r.lat = slices.Concat(lat...)
	r.percentiles()
	return r
}

// usherCPU is the CPU time the replicas have used (/proc/PID/stat utime+stime).
func usherCPU(b *testing.B, reps []*replica) time.Duration {
	var total time.Duration
	for _, r := range reps {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
		if err != nil {
			b.Fatalf("%s: %v", r.name, err)
		}
		// Fields after the command name (which is in parentheses): state is
		// field 3, utime 14 and stime 15, in clock ticks (USER_HZ, 100).
		s := string(raw)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		ut, _ := strconv.ParseInt(fields[11], 10, 64)
		st, _ := strconv.ParseInt(fields[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// nodesCPU is the CPU time the Redis nodes have used (INFO cpu).
func nodesCPU(b *testing.B, nodes []*redistest.Server) time.Duration {
	var total time.Duration
	for _, s := range nodes {
		total += s.CPU(b)
	}
	return total
}

// selfCPU is this process's CPU time: the clients and the fake Slack.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

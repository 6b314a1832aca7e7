package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Kill kills the server with SIGKILL (no shutdown, no save): a crash, as
// when a machine dies. Restart brings it back on the same port and dir.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd, s.done = nil, nil
}

// Cluster is a Redis Cluster of masters (no replicas) on loopback ports.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts n (at least 3) redis-server processes with
// --cluster-enabled, joins them with `redis-cli --cluster create` (slots
// spread evenly, no replicas) and waits until every node reports
// cluster_state:ok. Everything is stopped by tb's cleanups.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	if n < 3 {
		tb.Fatalf("redistest: a cluster needs at least 3 masters, not %d", n)
	}
	cli := findCLI(tb)
	c := &Cluster{}
	for i := 0; i < n; i++ {
		bus, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		c.Nodes = append(c.Nodes, Start(tb, WithArgs(
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
			// The bus port defaults to port+10000, which may be past 65535
			// or taken; pick a free one.
			"--cluster-port", strconv.Itoa(bus),
		)))
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: %s %s: %v\n%s", cli, strings.Join(args, " "), err, out)
	}
	ctx := context.Background()
	deadline := time.Now().Add(readyTimeout)
	for _, s := range c.Nodes {
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
		for {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				rdb.Close()
				tb.Fatalf("redistest: cluster node %s not ok after %v: %v\n%s", s.Addr(), readyTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		rdb.Close()
	}
	// Every node must also know every other node's slots before a client
	// (which asks one node for CLUSTER SLOTS) is made.
	for _, s := range c.Nodes {
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
		for {
			slots, err := rdb.ClusterSlots(ctx).Result()
			if err == nil && len(slots) == n {
				break
			}
			if time.Now().After(deadline) {
				rdb.Close()
				tb.Fatalf("redistest: cluster node %s sees %d slot ranges, want %d: %v", s.Addr(), len(slots), n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		rdb.Close()
	}
	return c
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, s := range c.Nodes {
		out = append(out, s.Addr())
	}
	return out
}

// Client returns a cluster client for it, closed by tb's cleanups.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Sentinel is a master with replicas watched by one Redis Sentinel, on
// loopback ports.
type Sentinel struct {
	Master     *Server
	Replicas   []*Server
	MasterName string
	// DownAfter is how long the master must be silent before the sentinel
	// calls it down and fails over.
	DownAfter time.Duration

	bin, dir string
	port     int
	cmd      *exec.Cmd
	done     chan struct{}
}

// StartSentinel starts a master, replicas replicas of it and a sentinel
// (redis-server --sentinel, the same binary Debian's redis-sentinel links to)
// monitoring it as "mymaster" with quorum 1 and a 1 s down-after, waits until
// every replica is in sync and the sentinel knows them all.
func StartSentinel(tb testing.TB, replicas int) *Sentinel {
	tb.Helper()
	st := &Sentinel{MasterName: "mymaster", DownAfter: time.Second}
	st.Master = Start(tb)
	for i := 0; i < replicas; i++ {
		st.Replicas = append(st.Replicas, Start(tb, WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(st.Master.Port()))))
	}
	ctx := context.Background()
	deadline := time.Now().Add(readyTimeout)
	for _, r := range st.Replicas {
		rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
		for {
			info, err := rdb.Info(ctx, "replication").Result()
			if err == nil && strings.Contains(info, "master_link_status:up") {
				break
			}
			if time.Now().After(deadline) {
				rdb.Close()
				tb.Fatalf("redistest: replica %s not in sync after %v: %v\n%s", r.Addr(), readyTimeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		rdb.Close()
	}

	bin, err := findBinary()
	if err != nil {
		missingBinary(tb, err)
		return nil
	}
	st.bin, st.dir = bin, tb.TempDir()
	tb.Cleanup(st.Stop)
	var startErr error
	for i := 0; i < portAttempts; i++ {
		if st.port, err = freePort(); err != nil {
			tb.Fatal(err)
		}
		if startErr = st.start(); startErr == nil {
			break
		}
	}
	if startErr != nil {
		tb.Fatalf("redistest: sentinel: %v", startErr)
	}
	rdb := redis.NewSentinelClient(&redis.Options{Addr: st.Addr()})
	defer rdb.Close()
	for {
		reps, err := rdb.Replicas(ctx, st.MasterName).Result()
		if err == nil && len(reps) == replicas {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: sentinel knows %d replicas, want %d: %v", len(reps), replicas, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return st
}

func (st *Sentinel) start() error {
	conf := filepath.Join(st.dir, "sentinel.conf")
	body := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s 10000
sentinel parallel-syncs %s 2
`, st.port, st.dir, st.MasterName, st.Master.Port(), st.MasterName, st.DownAfter.Milliseconds(), st.MasterName, st.MasterName)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(st.dir, "sentinel.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(st.bin, conf, "--sentinel")
	cmd.Dir, cmd.Stdout, cmd.Stderr = st.dir, logf, logf
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if err := waitReady(st.Addr(), cmd.Process.Pid, done, ""); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%v\n%s", err, readFrom(filepath.Join(st.dir, "sentinel.log"), 0))
	}
	st.cmd, st.done = cmd, done
	return nil
}

// Addr returns the sentinel's address.
func (st *Sentinel) Addr() string { return "127.0.0.1:" + strconv.Itoa(st.port) }

// Log returns the sentinel's log (for failing tests).
func (st *Sentinel) Log() string { return readFrom(filepath.Join(st.dir, "sentinel.log"), 0) }

// Stop stops the sentinel (the servers stop with tb's cleanups).
func (st *Sentinel) Stop() {
	if st.cmd == nil {
		return
	}
	_ = st.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-st.done:
	case <-time.After(stopTimeout):
		_ = st.cmd.Process.Kill()
		<-st.done
	}
	st.cmd = nil
}

// Client returns a go-redis failover client (it asks the sentinel for the
// master and follows failovers), closed by tb's cleanups.
func (st *Sentinel) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: st.MasterName, SentinelAddrs: []string{st.Addr()}})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// MasterAddr asks the sentinel which server is the master now.
func (st *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	rdb := redis.NewSentinelClient(&redis.Options{Addr: st.Addr()})
	defer rdb.Close()
	a, err := rdb.GetMasterAddrByName(ctx, st.MasterName).Result()
	if err != nil {
		return "", err
	}
	return a[0] + ":" + a[1], nil
}

// findCLI resolves redis-cli: next to the redis-server binary, on PATH, or
// /usr/bin/redis-cli (Debian's redis-tools).
func findCLI(tb testing.TB) string {
	tb.Helper()
	if bin, err := findBinary(); err == nil {
		if p := filepath.Join(filepath.Dir(bin), "redis-cli"); checkExecutable(p) == nil {
			return p
		}
	}
	if p, err := exec.LookPath("redis-cli"); err == nil {
		return p
	}
	if checkExecutable("/usr/bin/redis-cli") == nil {
		return "/usr/bin/redis-cli"
	}
	missingBinary(tb, fmt.Errorf("redis-cli not found (Debian package redis-tools)"))
	return ""
}

// Freeze stops the server process with SIGSTOP: it neither answers nor
// reads its sockets (a hung machine, a long GC-like pause) until Thaw.
func (s *Server) Freeze() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
	}
}

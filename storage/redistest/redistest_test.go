package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

func pingErr(t *testing.T, c *redis.Client) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

func TestStartPing(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr = %q, want 127.0.0.1:PORT", s.Addr())
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Fatalf("URL = %q, want %q", s.URL(), want)
	}
	c := s.Client(t)
	if err := pingErr(t, c); err != nil {
		t.Fatalf("PING: %v", err)
	}

	// The URL works with go-redis' parser too.
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c2 := redis.NewClient(opt)
	defer c2.Close()
	if err := pingErr(t, c2); err != nil {
		t.Fatalf("PING via URL: %v", err)
	}

	// Persistence is off by default, the data dir is ours.
	ctx := context.Background()
	cfg, err := c.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if cfg["save"] != "" || cfg["appendonly"] != "no" {
		t.Fatalf("save=%q appendonly=%q, want persistence off", cfg["save"], cfg["appendonly"])
	}
	if got, _ := filepath.EvalSymlinks(cfg["dir"]); got != mustEval(t, s.Dir()) {
		t.Fatalf("dir = %q, want %q", cfg["dir"], s.Dir())
	}
	if cfg["bind"] != "127.0.0.1" {
		t.Fatalf("bind = %q", cfg["bind"])
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers on %s", a.Addr())
	}
	ctx := context.Background()
	if err := a.Client(t).Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Client(t).Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("key leaked to the other server: n=%d err=%v", n, err)
	}
}

func TestStopRestart(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	s.Stop()
	s.Stop() // idempotent
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	// A raw PING (no go-redis retries and pool logging).
	if err := ping(s.Addr(), 0, ""); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("PING after Stop: err = %v, want connection refused", err)
	}

	addr := s.Addr()
	s.Restart(t)
	if s.Addr() != addr {
		t.Fatalf("Restart moved from %s to %s", addr, s.Addr())
	}
	if err := pingErr(t, c); err != nil {
		t.Fatalf("PING after Restart (same client): %v", err)
	}
	// Persistence is off: the data is gone.
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("Exists after restart = %d, %v; want 0 (no persistence)", n, err)
	}

	// Restart of a running server works too.
	s.Restart(t)
	if err := pingErr(t, c); err != nil {
		t.Fatalf("PING after second Restart: %v", err)
	}
}

func TestWithArgsPersistenceSurvivesRestart(t *testing.T) {
	s := Start(t, WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	c := s.Client(t)
	ctx := context.Background()
	if v, err := c.ConfigGet(ctx, "appendonly").Result(); err != nil || v["appendonly"] != "yes" {
		t.Fatalf("appendonly = %v, %v", v, err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Restart(t)
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after restart = %q, %v; want \"v\" from the AOF", v, err)
	}
}

func TestConcurrentStarts(t *testing.T) {
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run("", func(t *testing.T) {
				s := Start(t)
				if err := pingErr(t, s.Client(t)); err != nil {
					t.Error(err)
				}
			})
		}()
	}
	wg.Wait()
}

func TestShared(t *testing.T) {
	a := Shared(t)
	b := Shared(t)
	if a != b {
		t.Fatal("Shared returned two servers")
	}
	if err := pingErr(t, a.Client(t)); err != nil {
		t.Fatal(err)
	}
	t.Run("sub", func(t *testing.T) {
		if Shared(t) != a {
			t.Fatal("Shared returned another server in a subtest")
		}
	})
	// A test that stops the shared server does not break the next user.
	a.Stop()
	if c := Shared(t); c != a || !c.Running() {
		t.Fatal("Shared did not bring the stopped server back")
	}
	if err := pingErr(t, a.Client(t)); err != nil {
		t.Fatal(err)
	}
}

func TestServerDiesWithTestBinary(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") == "1" {
		s := Start(t)
		// Report the pid, then get killed by the parent.
		os.Stdout.WriteString("PID " + strconv.Itoa(s.cmd.Process.Pid) + "\n")
		time.Sleep(time.Minute)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux-only")
	}
	if _, err := findBinary(); err != nil {
		missingBinary(t, err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestServerDiesWithTestBinary$", "-test.v")
	cmd.Env = append(os.Environ(), "REDISTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := readPID(t, out)
	if !alive(pid) {
		t.Fatalf("redis-server pid %d not alive before kill", pid)
	}
	cmd.Process.Kill() // SIGKILL: no cleanups run in the child
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server pid %d survived its test binary", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMissingBinary(t *testing.T) {
	t.Setenv(EnvServer, filepath.Join(t.TempDir(), "no-such-redis-server"))
	if _, err := findBinary(); err == nil {
		t.Fatal("findBinary found a nonexistent binary")
	}
	// Run Start in a fake TB to see whether it fails or skips.
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		ft := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Start(ft)
		}()
		<-done
		switch {
		case ci == "true" && !ft.failed:
			t.Errorf("CI=true: Start did not fail (skipped=%v)", ft.skipped)
		case ci == "" && !ft.skipped:
			t.Errorf("CI unset: Start did not skip (failed=%v)", ft.failed)
		}
		if !strings.Contains(ft.msg, "redis-server not found") {
			t.Errorf("message %q", ft.msg)
		}
	}
}

// fakeTB records Fatalf/Skipf instead of acting on the real test.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func readPID(t *testing.T, r io.Reader) int {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "PID "); ok {
			pid, err := strconv.Atoi(rest)
			if err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, r)
			return pid
		}
	}
	t.Fatalf("child test binary printed no PID (scan err: %v)", sc.Err())
	return 0
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no procfs: trust kill(0)
	}
	// Field 3 is the state; the command name in parens may contain spaces.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// BenchmarkPing measures one round trip to the shared server: the floor
// under every storage benchmark.
func BenchmarkPing(b *testing.B) {
	c := Shared(b).Client(b)
	ctx := context.Background()
	for b.Loop() {
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

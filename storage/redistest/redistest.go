// Package redistest runs real redis-server processes for tests.
//
// Every test that exercises storage talks to a real redis-server started by
// the test binary itself: a free loopback port, its own temporary data dir,
// persistence off unless asked for. Use Start for a server owned by one test
// (needed for outage and restart tests), or Shared for one server per test
// package (cheaper; tests must then use their own keys or call FlushAll).
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		rdb := redistest.Shared(t).Client(t)
//		...
//	}
//
// The binary is $USHER_REDIS_SERVER if set, else redis-server on PATH, else
// /usr/bin/redis-server. When it cannot be found the test fails if CI=true
// and is skipped otherwise.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// EnvServer names the env var that overrides the redis-server binary.
	EnvServer = "USHER_REDIS_SERVER"

	readyTimeout = 10 * time.Second
	stopTimeout  = 3 * time.Second
	portAttempts = 8
	logName      = "redis.log"
)

// Option configures a server started by Start.
type Option func(*config)

type config struct {
	args     []string
	password string
}

// WithPassword starts the server with --requirepass password; the readiness
// check and Client authenticate with it.
func WithPassword(password string) Option {
	return func(c *config) {
		c.password = password
		c.args = append(c.args, "--requirepass", password)
	}
}

// WithArgs adds extra redis-server arguments, e.g. WithArgs("--appendonly", "yes").
// They come after the defaults, so they override them.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Server is a redis-server process owned by a test binary.
type Server struct {
	bin   string
	dir   string
	port  int // fixed once the first start succeeds
	extra []string
	pass  string

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil while stopped
	done chan struct{} // closed when cmd has exited
}

// Start starts a fresh redis-server on a free 127.0.0.1 port with its data
// dir in tb.TempDir(), waits until it answers PING and registers a cleanup
// that stops it.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin, err := findBinary()
	if err != nil {
		missingBinary(tb, err)
		return nil
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{bin: bin, dir: tb.TempDir(), extra: cfg.args, pass: cfg.password}
	// Registered after TempDir, so it runs before the dir is removed.
	tb.Cleanup(s.Stop)
	if err := s.startFreePort(); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	return s
}

// Addr returns the server's address, "127.0.0.1:PORT".
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns a redis URL for database 0, "redis://127.0.0.1:PORT/0".
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Dir returns the server's data directory (its --dir, holding its log).
func (s *Server) Dir() string { return s.dir }

// Client returns a new go-redis client for database 0 of the server; it is
// closed when tb's cleanups run.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.pass})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// CPU is the CPU time (user + system) the server has used so far, as it
// reports it (INFO cpu): benchmarks put it next to their own.
func (s *Server) CPU(tb testing.TB) time.Duration {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.pass})
	defer c.Close()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatalf("redistest: INFO cpu: %v", err)
	}
	var total time.Duration
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += time.Duration(f * float64(time.Second))
		}
	}
	return total
}

// Running reports whether the server process is up (it may have been stopped
// or have died).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aliveLocked()
}

func (s *Server) aliveLocked() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop stops the server now: SIGTERM, then SIGKILL after 3s. It is
// idempotent and safe for concurrent use.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Restart starts the server again on the same port and data dir (stopping it
// first if it is running), for tests of Redis coming back after an outage.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.restart(); err != nil {
		tb.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	var err error
	// The port was ours a moment ago; if something else grabbed it in
	// between, give it a little time to go away.
	for i := 0; i < 20; i++ {
		if err = s.startLocked(s.port); !errors.Is(err, errAddrInUse) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (s *Server) startFreePort() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for i := 0; i < portAttempts; i++ {
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		if err = s.startLocked(port); err == nil {
			s.port = port
			return nil
		}
		if !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return fmt.Errorf("no free port after %d attempts: %w", portAttempts, err)
}

var errAddrInUse = errors.New("address already in use")

// startLocked starts the process on port and waits until it answers PING.
// On failure the process is gone and the error carries the server's log.
func (s *Server) startLocked(port int) error {
	logPath := filepath.Join(s.dir, logName)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	var logStart int64
	if fi, err := logf.Stat(); err == nil {
		logStart = fi.Size()
	}

	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", "",
		"--databases", "16",
	}
	args = append(args, s.extra...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	err = waitReady(addr, cmd.Process.Pid, done, s.pass)
	if err == nil {
		s.cmd, s.done = cmd, done
		return nil
	}
	_ = cmd.Process.Kill()
	<-done
	log := readFrom(logPath, logStart)
	if strings.Contains(log, "Address already in use") {
		return fmt.Errorf("%w: %s", errAddrInUse, addr)
	}
	return fmt.Errorf("%s %s: %v\n--- redis-server log (%s) ---\n%s", s.bin, strings.Join(quoteArgs(args), " "), err, logPath, log)
}

// waitReady polls addr until the server with the given pid answers PING.
// Checking the pid guards against another test's server that grabbed the
// same port.
func waitReady(addr string, pid int, done <-chan struct{}, password string) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for {
		select {
		case <-done:
			return errors.New("redis-server exited during startup")
		default:
		}
		if last = ping(addr, pid, password); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", readyTimeout, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ping(addr string, pid int, password string) error {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := fmt.Fprintf(conn, "AUTH %s\r\n", password); err != nil {
			return err
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if line = strings.TrimSpace(line); line != "+OK" {
			return fmt.Errorf("AUTH answered %q", line)
		}
	}
	if _, err := io.WriteString(conn, "PING\r\nINFO server\r\n"); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	line, err = r.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "$") {
		return fmt.Errorf("INFO answered %q", line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return fmt.Errorf("INFO answered %q", line)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	want := "process_id:" + strconv.Itoa(pid) + "\r\n"
	if !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("%s is served by another process, not pid %d", addr, pid)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// findBinary resolves the redis-server binary: $USHER_REDIS_SERVER, then
// redis-server on PATH, then /usr/bin/redis-server.
func findBinary() (string, error) {
	if p := os.Getenv(EnvServer); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvServer, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	const fallback = "/usr/bin/redis-server"
	if err := checkExecutable(fallback); err != nil {
		return "", fmt.Errorf("not on PATH and %s: %w", fallback, err)
	}
	return fallback, nil
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

func missingBinary(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("redis-server not found (%v): CI=true requires a real redis-server; run `make test` (it installs it) or set %s", err, EnvServer)
	}
	tb.Skipf("redis-server not found: run `make test` (it installs it) or set %s (%v)", EnvServer, err)
}

// readFrom returns the file's content from offset on, at most its last 8 KiB.
func readFrom(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if off > int64(len(b)) {
		off = 0
	}
	b = b[off:]
	const max = 8 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	return string(b)
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return out
}

// shared is the package-wide server behind Shared.
var shared struct {
	mu  sync.Mutex
	srv *Server
	err error // a failed start is not retried
}

// Shared returns one server shared by the whole test package, started on
// first use in a temp dir of its own and stopped by Main. If a test stopped
// it, it is started again. Tests sharing it must not rely on an empty
// database unless they flush it themselves.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.err != nil {
		tb.Fatalf("redistest: shared server failed to start earlier: %v", shared.err)
	}
	if s := shared.srv; s != nil {
		if !s.Running() {
			s.Restart(tb)
		}
		return s
	}
	bin, err := findBinary()
	if err != nil {
		missingBinary(tb, err)
		return nil
	}
	dir, err := os.MkdirTemp("", "usher-redistest-")
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s := &Server{bin: bin, dir: dir}
	if err := s.startFreePort(); err != nil {
		_ = os.RemoveAll(dir)
		shared.err = err
		tb.Fatalf("redistest: shared server: %v", err)
	}
	shared.srv = s
	return s
}

// Main runs the package's tests, then stops the shared server (if one was
// started) and exits with the tests' code. Use it as the body of TestMain.
func Main(m *testing.M) {
	code := m.Run()
	stopShared()
	os.Exit(code)
}

func stopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if s := shared.srv; s != nil {
		s.Stop()
		_ = os.RemoveAll(s.dir)
		shared.srv = nil
	}
}

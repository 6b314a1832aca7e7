package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage/redistest"
)

var prodBuilt struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// prodBinary builds ./cmd/usher once per test binary (every test that runs
// real serve processes shares it).
func prodBinary(t testing.TB) string {
	t.Helper()
	prodBuilt.once.Do(func() {
		dir, err := os.MkdirTemp("", "usher-bin-")
		if err != nil {
			prodBuilt.err = err
			return
		}
		prodBuilt.path = filepath.Join(dir, "usher")
		cmd := exec.Command("go", "build", "-o", prodBuilt.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		prodBuilt.out, prodBuilt.err = cmd.CombinedOutput()
	})
	if prodBuilt.err != nil {
		t.Fatalf("go build: %v\n%s", prodBuilt.err, prodBuilt.out)
	}
	return prodBuilt.path
}

// prodProcess is a real `usher serve` process.
type prodProcess struct {
	*serveProcess
	mu   sync.Mutex
	logs []string // stderr lines
}

// serveProcess is a running `usher serve` process (the binary prodBinary built).
type serveProcess struct {
	cmd  *exec.Cmd
	addr string
	// metricsAddr is where its /metrics listens (USHER_METRICS_ADDR).
	metricsAddr string
	// exited is closed once the process has exited and its stderr is read;
	// err is cmd.Wait's result by then.
	exited chan struct{}
	err    error
}

// startServeBinary starts the built `usher serve` with env, hands every stderr line to
// onLine (from one goroutine, in order) and waits until it listens. logs
// renders what the caller kept, for failure messages. The process is killed
// at cleanup.
func startServeBinary(tb testing.TB, name string, env map[string]string, onLine func(string), logs func() string) *serveProcess {
	tb.Helper()
	cmd := exec.Command(prodBinary(tb), "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tb.TempDir(), "USHER_ADDR=127.0.0.1:0", "USHER_METRICS_ADDR=127.0.0.1:0"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	sp := &serveProcess{cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	metricsAddr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			onLine(line)
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "usher serving" {
				addr <- rec.Addr
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "usher metrics serving" {
				metricsAddr <- rec.Addr
			}
		}
		sp.err = cmd.Wait()
		close(sp.exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-sp.exited
	})
	select {
	case sp.addr = <-addr:
		// "usher metrics serving" is logged before "usher serving".
		select {
		case sp.metricsAddr = <-metricsAddr:
		default:
		}
	case <-sp.exited:
		tb.Fatalf("%s: usher serve exited: %v\n%s", name, sp.err, logs())
	case <-time.After(30 * time.Second):
		tb.Fatalf("%s: usher serve did not start\n%s", name, logs())
	}
	return sp
}

func startServeProcess(t *testing.T, env map[string]string) *prodProcess {
	t.Helper()
	p := &prodProcess{}
	p.serveProcess = startServeBinary(t, "usher", env, func(line string) {
		p.mu.Lock()
		p.logs = append(p.logs, line)
		p.mu.Unlock()
	}, p.log)
	return p
}

func (p *prodProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

func (p *prodProcess) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.logs...)
}

func (p *prodProcess) get(t *testing.T, path string) (int, string, http.Header) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, p.log())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// scrapeMetrics reads /metrics from a metrics listener.
func scrapeMetrics(t testing.TB, addr string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeProduction runs a real `usher serve` process on a password-
// protected Redis: health, readiness through a Redis outage and back,
// Prometheus metrics, request ids, then a graceful SIGTERM: /readyz turns
// 503 at once, a request in flight is finished, the process exits 0; and no
// secret from the environment appears in any log line.
func TestServeProduction(t *testing.T) {
	const redisPassword = "redis-pw-4c9e1f7a"
	rs := redistest.Start(t, redistest.WithPassword(redisPassword))
	// Slack's Web API, faked at its network edge: every method answers ok.
	slackAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"channel":{"id":"D1"},"user":{"id":"U1","profile":{"email":"boss@example.com"}}}`)
	}))
	defer slackAPI.Close()
	secrets := map[string]string{
		"REDIS_PASSWORD":       redisPassword,
		"SLACK_SIGNING_SECRET": "8f14e45fceea167a5a36dedd4bea2543",
		"SLACK_BOT_TOKEN":      "xoxb-1234-5678-secretbottoken",
		"USHER_WEB_SECRET":     "web-secret-0123456789abcdef0123456789abcdef0123456789",
	}
	env := map[string]string{
		"REDIS_URL":            "redis://" + rs.Addr() + "/0",
		"USHER_ORG":            prodOrg("p"),
		"USHER_ADMINS":         "boss@example.com",
		"USHER_SHUTDOWN_DELAY": "1s",
		"SLACK_API_URL":        slackAPI.URL + "/api/",
		"SLACK_TEAM_ID":        "T1",
	}
	for k, v := range secrets {
		env[k] = v
	}
	p := startServeProcess(t, env)

	// Slack: a forged request is refused, a signed one answered; neither
	// may put a secret in the log.
	form := url.Values{"command": {"/usher"}, "text": {"help"}, "user_id": {"U1"}, "team_id": {"T1"}, "channel_id": {"D1"}, "response_url": {slackAPI.URL + "/response"}}.Encode()
	post := func(sig string, ts int64) int {
		req, _ := http.NewRequest("POST", "http://"+p.addr+"/slack/commands", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("v0=00", time.Now().Unix()); code != http.StatusUnauthorized {
		t.Errorf("forged slash command: %d, want 401", code)
	}
	ts := time.Now().Unix()
	mac := hmac.New(sha256.New, []byte(secrets["SLACK_SIGNING_SECRET"]))
	fmt.Fprintf(mac, "v0:%d:%s", ts, form)
	if code := post("v0="+hex.EncodeToString(mac.Sum(nil)), ts); code != http.StatusOK {
		t.Errorf("signed slash command: %d, want 200\n%s", code, p.log())
	}

	if code, body, _ := p.get(t, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	code, body, h := p.get(t, "/readyz")
	if code != 200 {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	if id := h.Get("X-Request-Id"); len(id) != 16 {
		t.Fatalf("X-Request-Id %q", id)
	}

	// Redis goes away: not ready (but alive); it comes back: ready again,
	// without a restart.
	rs.Stop()
	code, _, h = p.get(t, "/readyz")
	if code != 503 {
		t.Fatalf("/readyz with Redis down: %d", code)
	}
	outageID := h.Get("X-Request-Id")
	if code, _, _ := p.get(t, "/healthz"); code != 200 {
		t.Fatalf("/healthz with Redis down: %d", code)
	}
	rs.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _, _ := p.get(t, "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready again after Redis came back\n%s", p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The warning logged for the failed check carries that request's id.
	found := false
	for _, l := range p.lines() {
		if strings.Contains(l, `"msg":"not ready"`) && strings.Contains(l, `"request_id":"`+outageID+`"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("no \"not ready\" log line with request_id %s\n%s", outageID, p.log())
	}

	// /metrics is served on its own listener (USHER_METRICS_ADDR), not on
	// the public one.
	if code, body, _ := p.get(t, "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on USHER_ADDR: %d, want 404\n%s", code, body)
	}
	if p.metricsAddr == "" || p.metricsAddr == p.addr {
		t.Fatalf("no metrics listener apart from %s: %q\n%s", p.addr, p.metricsAddr, p.log())
	}
	code, body = scrapeMetrics(t, p.metricsAddr)
	if code != 200 {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	for _, want := range []string{
		`usher_http_requests_total{code="503",route="GET /readyz"}`,
		`usher_http_request_duration_seconds_bucket{route="GET /healthz"`,
		`usher_outbox_jobs{state="waiting"} 0`,
		`usher_outbox_oldest_waiting_seconds 0`,
		`usher_reminders_sent_total 0`,
		`usher_redis_errors_total{command=`,
		`usher_requests_total{command="help",outcome="ok",platform="slack"} 1`,
		`usher_http_requests_total{code="401",route="POST /slack/commands"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A request in flight when SIGTERM comes: Redis is paused, so a
	// readiness check waits on it (its PING times out after about 1.6 s,
	// past the 1 s shutdown delay, when the listener is already closed).
	admin := rs.Client(t)
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", "2500", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		code int
		at   time.Time
		err  error
	}
	inflight := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			inflight <- answer{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		inflight <- answer{code: resp.StatusCode, at: time.Now()}
	}()
	time.Sleep(200 * time.Millisecond)
	sigterm := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Draining: not ready at once, while still serving. (A check that
	// reached the handler before the signal waits on the paused Redis.)
	time.Sleep(50 * time.Millisecond)
	deadline = time.Now().Add(900 * time.Millisecond)
	for {
		code, body, _ := p.get(t, "/readyz")
		if code == 503 && body == "shutting down\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %q after SIGTERM", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a := <-inflight
	if a.err != nil {
		t.Fatalf("the in-flight request got no answer: %v\n%s", a.err, p.log())
	}
	if a.code != 503 {
		t.Errorf("in-flight readiness check with Redis paused: %d", a.code)
	}
	if _, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		t.Errorf("still accepting connections after the shutdown delay")
	}
	t.Logf("in-flight request answered %v after SIGTERM (shutdown delay 1s)", a.at.Sub(sigterm).Round(time.Millisecond))
	select {
	case <-p.exited:
		if err := p.err; err != nil {
			var ee *exec.ExitError
			errors.As(err, &ee)
			t.Fatalf("usher serve exited with %v\n%s", err, p.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("usher serve did not exit after SIGTERM\n%s", p.log())
	}

	// Every line is JSON; the shutdown is logged; no secret anywhere.
	logs := p.lines()
	var msgs []string
	for _, l := range logs {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("log line is not JSON: %s", l)
			continue
		}
		msgs = append(msgs, rec["msg"].(string))
		for name, v := range secrets {
			if strings.Contains(l, v) {
				t.Errorf("log line shows %s: %s", name, l)
			}
		}
	}
	joined := strings.Join(msgs, "|")
	for _, want := range []string{"usher serving", "not ready", "usher shutting down", "usher stopped"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q log line in %s", want, joined)
		}
	}
}

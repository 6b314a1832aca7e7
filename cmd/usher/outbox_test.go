package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// platform is a fake chat platform at its network edge: it records every
// message POSTed to it and can answer 429 with Retry-After, or 403.
type platform struct {
	mu        sync.Mutex
	got       map[string]int // payload -> times received
	at        map[string][]time.Time
	throttle  map[string]int // payload -> 429s still to answer
	forbidden map[string]bool
	srv       *httptest.Server
}

func newPlatform(t *testing.T) *platform {
	p := &platform{got: map[string]int{}, at: map[string][]time.Time{}, throttle: map[string]int{}, forbidden: map[string]bool{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		msg := string(body)
		p.mu.Lock()
		defer p.mu.Unlock()
		switch {
		case p.forbidden[msg]:
			w.WriteHeader(http.StatusForbidden)
		case p.throttle[msg] > 0:
			p.throttle[msg]--
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			p.got[msg]++
			p.at[msg] = append(p.at[msg], time.Now())
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// send is the platform's sender: an HTTP POST, with the platform's status
// codes mapped as a real adapter maps them.
func (p *platform) send(ctx context.Context, j outbox.Job) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", p.srv.URL, strings.NewReader(string(j.Payload)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusTooManyRequests:
		s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &outbox.RetryAfter{Wait: time.Duration(s) * time.Second}
	case http.StatusForbidden:
		return &outbox.Permanent{Err: fmt.Errorf("403 from platform")}
	}
	return fmt.Errorf("status %d", resp.StatusCode)
}

func (p *platform) count(msg string) int { p.mu.Lock(); defer p.mu.Unlock(); return p.got[msg] }

func newQueue(t *testing.T) (redisqueue.Queue, *storage.Outbox) {
	q, o, _ := newQueueOrg(t)
	return q, o
}

func newQueueOrg(t *testing.T) (redisqueue.Queue, *storage.Outbox, string) {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	orgID := "ob" + hex.EncodeToString(b)
	o, err := storage.NewOutbox(redistest.Shared(t).Client(t), org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return redisqueue.New(o), o, orgID
}

func worker(q outbox.Queue, p *platform, name string) *outbox.Worker {
	return &outbox.Worker{Queue: q, Senders: map[string]outbox.Sender{"fake": p.send}, Consumer: name, Pace: time.Millisecond, Lease: 300 * time.Millisecond}
}

// drain steps the workers until nothing is left or the deadline passes.
func drain(t *testing.T, o *storage.Outbox, ws ...*outbox.Worker) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Go(func() { w.Step(context.Background(), 50*time.Millisecond) })
		}
		wg.Wait()
		st, err := o.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Waiting == 0 && st.Pending == 0 && st.Delayed == 0 {
			return
		}
	}
	st, _ := o.Stats(context.Background())
	t.Fatalf("outbox not drained: %+v", st)
}

func TestOutboxSendsEveryJobOnceAcrossWorkers(t *testing.T) {
	q, o := newQueue(t)
	p := newPlatform(t)
	const n = 300
	for i := range n {
		if _, err := q.Add(context.Background(), outbox.Job{Platform: "fake", Channel: fmt.Sprint("c", i%7), Payload: []byte(fmt.Sprint("m", i))}); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, o, worker(q, p, "w1"), worker(q, p, "w2"), worker(q, p, "w3"))
	for i := range n {
		if c := p.count(fmt.Sprint("m", i)); c != 1 {
			t.Fatalf("m%d delivered %d times", i, c)
		}
	}
}

// A worker that claims and dies leaves its jobs pending; after the lease
// another worker takes them, told they may have been sent (Attempt > 0).
func TestOutboxCrashedWorkersJobsAreReclaimed(t *testing.T) {
	q, o := newQueue(t)
	p := newPlatform(t)
	for i := range 5 {
		q.Add(context.Background(), outbox.Job{Platform: "fake", Channel: "c", Payload: []byte(fmt.Sprint("m", i))})
	}
	claimed, err := o.Claim(context.Background(), "doomed", 10, 10*time.Millisecond, time.Minute)
	if err != nil || len(claimed) != 5 {
		t.Fatalf("claim: %d jobs, %v", len(claimed), err)
	}
	// "doomed" crashes here. Before the lease, nobody else may take the jobs.
	w := worker(q, p, "survivor")
	if n, _ := w.Step(context.Background(), 10*time.Millisecond); n != 0 {
		t.Fatalf("a live lease was stolen: %d jobs", n)
	}
	time.Sleep(350 * time.Millisecond)
	var attempts []int
	w.Senders["fake"] = func(ctx context.Context, j outbox.Job) error {
		attempts = append(attempts, j.Attempt)
		return p.send(ctx, j)
	}
	drain(t, o, w)
	for i := range 5 {
		if c := p.count(fmt.Sprint("m", i)); c != 1 {
			t.Fatalf("m%d delivered %d times", i, c)
		}
	}
	for _, a := range attempts {
		if a < 1 {
			t.Fatalf("a reclaimed job came with Attempt %d; senders must be told it may be a repeat", a)
		}
	}
}

// 429 + Retry-After: the job waits at least that long and is then sent once.
func TestOutboxHonoursRetryAfter(t *testing.T) {
	q, o := newQueue(t)
	p := newPlatform(t)
	p.throttle["slow"] = 1
	start := time.Now()
	q.Add(context.Background(), outbox.Job{Platform: "fake", Channel: "c", Payload: []byte("slow")})
	drain(t, o, worker(q, p, "w"))
	if p.count("slow") != 1 {
		t.Fatalf("delivered %d times", p.count("slow"))
	}
	if waited := p.at["slow"][0].Sub(start); waited < time.Second {
		t.Fatalf("resent after %v, before the platform's Retry-After of 1s", waited)
	}
}

// Messages to one channel are spaced by the pace, across workers: the k-th
// arrives no earlier than k intervals after the first (each reserves its own
// slot, so send latency may shift one message but never the rate), and a
// backlog drains in about n intervals rather than retrying all at once.
func TestOutboxPacesPerChannel(t *testing.T) {
	q, o := newQueue(t)
	p := newPlatform(t)
	const n, pace = 6, 300 * time.Millisecond
	for i := range n {
		q.Add(context.Background(), outbox.Job{Platform: "fake", Channel: "same", Payload: []byte(fmt.Sprint("p", i))})
	}
	w1, w2 := worker(q, p, "w1"), worker(q, p, "w2")
	w1.Pace, w2.Pace = pace, pace
	drain(t, o, w1, w2)
	var times []time.Time
	for i := range n {
		times = append(times, p.at[fmt.Sprint("p", i)]...)
	}
	if len(times) != n {
		t.Fatalf("%d sends, want %d", len(times), n)
	}
	slices.SortFunc(times, time.Time.Compare)
	const latency = 150 * time.Millisecond // the first send's own latency may shift it late
	for k := 1; k < n; k++ {
		if span := times[k].Sub(times[0]); span < time.Duration(k)*pace-latency {
			t.Fatalf("message %d arrived %v after the first; the pace allows no sooner than %v", k, span, time.Duration(k)*pace)
		}
	}
	if span := times[n-1].Sub(times[0]); span > time.Duration(n-1)*pace+time.Second {
		t.Fatalf("%d messages took %v to drain; reserved slots should take about %v", n, span, time.Duration(n-1)*pace)
	}
}

// An Add whose reply is lost and re-sent by go-redis queues the job once.
func TestOutboxAddIsIdempotent(t *testing.T) {
	_, o, orgID := newQueueOrg(t)
	ctx := context.Background()
	rdb := redistest.Shared(t).Client(t)
	// Run the add script twice with the same id key, as a client retry does.
	before, _ := o.Stats(ctx)
	keys := []string{"usher:{" + orgID + "}:outbox2", "usher:{" + orgID + "}:outbox:add:retry"}
	src, err := os.ReadFile("../../storage/lua/outbox_add.lua")
	if err != nil {
		t.Fatal(err)
	}
	script := redis.NewScript(string(src))
	id1, err1 := script.Run(ctx, rdb, keys, 30000, "platform", "fake", "channel", "c", "payload", "x", "attempt", "0", "slot", "0").Text()
	id2, err2 := script.Run(ctx, rdb, keys, 30000, "platform", "fake", "channel", "c", "payload", "x", "attempt", "0", "slot", "0").Text()
	after, _ := o.Stats(ctx)
	if err1 != nil || err2 != nil || id1 != id2 || after.Waiting-before.Waiting != 1 {
		t.Fatalf("re-sent add: ids %q %q (%v %v), %d jobs queued", id1, id2, err1, err2, after.Waiting-before.Waiting)
	}
}

func TestOutboxDeadLetters(t *testing.T) {
	q, o := newQueue(t)
	p := newPlatform(t)
	p.forbidden["blocked"] = true
	q.Add(context.Background(), outbox.Job{Platform: "fake", Channel: "c", Payload: []byte("blocked")})
	q.Add(context.Background(), outbox.Job{Platform: "nowhere", Channel: "c", Payload: []byte("x")})
	w := worker(q, p, "w")
	failing := 0
	w.Senders["flaky"] = func(context.Context, outbox.Job) error { failing++; return fmt.Errorf("boom") }
	w.Attempts = 2
	q.Add(context.Background(), outbox.Job{Platform: "flaky", Channel: "c2", Payload: []byte("y")})
	drain(t, o, w)
	st, err := o.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Dead != 3 || failing != 2 {
		t.Fatalf("dead %d (want 3: 403, unknown platform, retries exhausted), flaky tried %d times (want 2)", st.Dead, failing)
	}
}

// Stats must not fail when the stream and group are gone (Redis restarted
// without persistence): an operator's dashboard keeps working.
func TestOutboxStatsWithoutGroup(t *testing.T) {
	q, o, orgID := newQueueOrg(t)
	q.Add(context.Background(), outbox.Job{Platform: "fake", Channel: "c", Payload: []byte("x")})
	if err := redistest.Shared(t).Client(t).Del(context.Background(), "usher:{"+orgID+"}:outbox2", "usher:{"+orgID+"}:outbox").Err(); err != nil {
		t.Fatal(err)
	}
	st, err := o.Stats(context.Background())
	if err != nil || st.Waiting != 0 || st.Pending != 0 {
		t.Fatalf("stats without a group: %+v, %v", st, err)
	}
	// And the queue recreates its group on the next claim.
	if _, err := o.Claim(context.Background(), "w", 1, 10*time.Millisecond, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(context.Background(), outbox.Job{Platform: "fake", Channel: "c", Payload: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	if js, err := o.Claim(context.Background(), "w", 1, 10*time.Millisecond, time.Second); err != nil || len(js) != 1 {
		t.Fatalf("after recreating the group: %d jobs, %v", len(js), err)
	}
}

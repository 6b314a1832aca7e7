package teamstest

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"
)

// Limits are the Bot Connector's rate limits the fake enforces (Limit),
// from Microsoft's "Optimize your bot with rate limiting in Teams"
// (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit),
// not from usher's code: per bot per thread, "Send to conversation" and
// "Create conversation" each 7 operations in 1 s, 8 in 2 s, 60 in 30 s and
// 1800 in 3600 s (a thread is a conversation; a conversation being created
// is counted by its user), and "the global limit per app per tenant is 50
// Requests Per Second". An update is counted as a send to its
// conversation ("all requests are subject to the same rate limiting
// policy"). Windows slide: no period ever holds more than its operations.
type Limits struct {
	// Thread are the per thread windows (default the published ones).
	Thread []Window
	// TenantPerSecond is the per app per tenant limit (default 50).
	TenantPerSecond int
	// Scale runs every window Scale times faster (default 1).
	Scale float64
	// NoRetryAfter answers 429 without a Retry-After header (the page
	// allows it: "if the response doesn't include a Retry-After header,
	// use an exponential backoff").
	NoRetryAfter bool
}

// Window is at most Ops operations in any Period.
type Window struct {
	Period time.Duration
	Ops    int
}

// PublishedThread are the per bot per thread windows Microsoft publishes.
var PublishedThread = []Window{{time.Second, 7}, {2 * time.Second, 8}, {30 * time.Second, 60}, {time.Hour, 1800}}

// Limit makes the connector enforce l: past a limit it answers 429 Too
// Many Requests with a Retry-After header (whole seconds) and the Bot
// Connector's ErrorResponse body, {"error": {"code", "message"}}.
func (f *Fake) Limit(l Limits) {
	if l.Thread == nil {
		l.Thread = PublishedThread
	}
	if l.TenantPerSecond == 0 {
		l.TenantPerSecond = 50
	}
	if l.Scale == 0 {
		l.Scale = 1
	}
	f.mu.Lock()
	f.limits = &l
	f.mu.Unlock()
}

// Stats are the connector calls so far.
type Stats struct {
	Calls   map[string]int // by operation: send, update, create
	Limited map[string]int // 429s by operation
	// LimitedAfterFirst counts 429s answered after the first one's
	// Retry-After ended: calls over a limit that the first answer should
	// have prevented.
	LimitedAfterFirst int
	// Sent is how many activities each conversation got.
	Sent map[string]int
	// Conns is how many connections were opened to the fake.
	Conns int
}

// Stats reports the calls so far.
func (f *Fake) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := Stats{Calls: map[string]int{}, Limited: map[string]int{}, Sent: map[string]int{}, LimitedAfterFirst: f.after, Conns: int(f.conns.Load())}
	for k, v := range f.calls {
		st.Calls[k] = v
	}
	for k, v := range f.limited {
		st.Limited[k] = v
	}
	for _, a := range f.acts {
		st.Sent[a.Conversation]++
	}
	return st
}

func (f *Fake) tenantOf(conv string) string {
	if t := f.convTenant[conv]; t != "" {
		return t
	}
	return f.Tenant
}

// admit counts a call against a sliding window of length w holding at most
// n; it reports how long until the oldest call leaves when full.
func (f *Fake) admit(key string, n int, w time.Duration, now time.Time) (bool, time.Duration) {
	calls := f.windows[key]
	i := sort.Search(len(calls), func(i int) bool { return calls[i].After(now.Add(-w)) })
	calls = calls[i:]
	f.windows[key] = calls
	if len(calls) >= n {
		return false, calls[len(calls)-n].Add(w).Sub(now)
	}
	return true, 0
}

// limit counts a call of op (f.mu held) in tenant and thread, and answers
// 429 when it is over a limit; it reports whether it did.
func (f *Fake) limit(w http.ResponseWriter, op, tenant, thread string) bool {
	f.calls[op]++
	l := f.limits
	if l == nil {
		return false
	}
	now := time.Now()
	scenario := "send"
	if op == "create" {
		scenario = "create"
	}
	type slot struct {
		key string
		n   int
		w   time.Duration
	}
	slots := []slot{{"tenant:" + tenant, l.TenantPerSecond, time.Duration(float64(time.Second) / l.Scale)}}
	for i, win := range l.Thread {
		slots = append(slots, slot{fmt.Sprintf("%s:%s:%d", scenario, thread, i), win.Ops, time.Duration(float64(win.Period) / l.Scale)})
	}
	var wait time.Duration
	over := false
	for _, s := range slots {
		if ok, d := f.admit(s.key, s.n, s.w, now); !ok {
			over, wait = true, max(wait, d)
		}
	}
	if !over {
		for _, s := range slots {
			f.windows[s.key] = append(f.windows[s.key], now)
		}
		return false
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	f.limited[op]++
	if f.first429.IsZero() {
		f.first429, f.firstEnd = now, now.Add(time.Duration(secs)*time.Second)
	} else if now.After(f.firstEnd) {
		f.after++
	}
	if !l.NoRetryAfter {
		w.Header().Set("Retry-After", fmt.Sprint(secs))
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]string{"code": "TooManyRequests", "message": "Too many requests"}})
	return true
}

package teams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers/org"
)

// Budget is one rate budget shared by every replica: one call every Every
// on average, Burst at once. The same unnamed struct type as
// storage.Budget, so *storage.Budgets is a Budgets as it is.
type Budget = struct {
	Name   string
	Every  time.Duration
	Burst  int
	Window time.Duration // a sliding log's (storage.Budget)
}

// Budgets are the Bot Connector's rate limits as budgets in Redis
// (storage.Budgets), shared by every replica: a delivery takes its slot
// from its tenant's budget and its conversation's before it calls, and a
// 429 slows the tenant's budget for everyone.
type Budgets interface {
	// Reserve takes one call from every budget at once, at the earliest
	// instant all allow, when that is within max (reserved: go after
	// wait); else nothing is taken and wait is when to ask again.
	Reserve(ctx context.Context, orgID org.ID, bs []Budget, max time.Duration) (wait time.Duration, reserved bool, err error)
	// Slow is a 429: nobody calls before retryAfter, and the budget runs
	// slower for hold.
	Slow(ctx context.Context, orgID org.ID, b Budget, retryAfter, hold time.Duration) (wait time.Duration, factor int, err error)
}

// Window is one of Microsoft's limits: at most Ops operations in any
// Period. Burst is how many of them usher lets go at once (the rest are
// spaced evenly over the period).
type Window struct {
	Period time.Duration
	Ops    int
	Burst  int
}

// Limits are the Bot Connector limits usher keeps to, from Microsoft's
// "Optimize your bot with rate limiting in Teams"
// (https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/rate-limit):
//
//   - per bot per thread (a thread is a 1:1 chat, a group chat or a
//     channel), "Send to conversation" and "Create conversation" each: 7
//     operations in 1 s, 8 in 2 s, 60 in 30 s, 1800 in 3600 s;
//   - "the global limit per app per tenant is 50 Requests Per Second".
//
// The page says the values are "for estimation only" and that "message
// splitting at the service level results in higher than expected RPS", so
// usher keeps a tenth below each (at least one operation). The per thread
// limit for all bots (14 in 1 s, 16 in 2 s) is looser than the per bot one
// and concerns other bots' traffic too, which usher cannot see: a 429 from
// it slows usher like any other. Updating an activity is not listed;
// "all requests are subject to the same rate limiting policy", so an
// update counts as a send to its conversation.
type Limits struct {
	// Thread are the per bot per thread windows of sends (and updates) to
	// one conversation, and, separately, of conversations created with
	// one user.
	Thread []Window
	// Tenant is the per app per tenant window, shared by every call.
	Tenant Window
	// MaxWait is how long a call may sleep for its slot; a slot further
	// away sends the job back to the outbox for that time (it sleeps
	// there, with no CPU). At most the shortest Retry-After (1 s), so that
	// slots reserved before a 429 are all used before its wait ends.
	MaxWait time.Duration
	// Hold is how long a 429's slow-down lasts.
	Hold time.Duration
}

// DefaultLimits are Microsoft's published limits. Short windows let no
// burst (they exist to stop one); the longer ones let a third of their
// operations go at once, so that a conversation's few messages in a row
// (an invitation, its card's update, a reminder) do not wait on the
// hour's average.
func DefaultLimits() Limits {
	return Limits{
		Thread: []Window{
			{Period: time.Second, Ops: 7, Burst: 1},
			{Period: 2 * time.Second, Ops: 8, Burst: 1},
			{Period: 30 * time.Second, Ops: 60, Burst: 18},
			{Period: time.Hour, Ops: 1800, Burst: 540},
		},
		Tenant:  Window{Period: time.Second, Ops: 50, Burst: 1},
		MaxWait: time.Second,
		Hold:    10 * time.Minute,
	}
}

// Scaled is l with every period divided by f (TEAMS_RATE; tests run
// Microsoft's limits f times faster).
func (l Limits) Scaled(f float64) Limits {
	th := make([]Window, len(l.Thread))
	for i, w := range l.Thread {
		w.Period = time.Duration(float64(w.Period) / f)
		th[i] = w
	}
	l.Thread = th
	l.Tenant.Period = time.Duration(float64(l.Tenant.Period) / f)
	return l
}

// budget is w as a GCRA: Burst at once, then one every Every, spaced so
// that no Period ever holds more than the operations kept to. A GCRA of
// burst B and interval E lets B + Period/E calls into any Period.
func (w Window) budget(name string) Budget {
	keep := w.Ops - max(1, w.Ops/10)
	b := min(max(w.Burst, 1), keep)
	every := w.Period
	if n := keep - b; n > 0 {
		every = (w.Period + time.Duration(n) - 1) / time.Duration(n) // rounded up: never more than kept to
	}
	return Budget{Name: name, Every: every, Burst: b}
}

// tenant is the budget every call in tenant takes a slot from.
func (l Limits) tenant(tenant string) Budget {
	return l.Tenant.budget("teams:" + orDash(tenant) + ":app")
}

// thread is the budgets of one call to a thread: the tenant's and each of
// the thread's windows, for scenario "send" (a conversation id) or
// "create" (the user a personal chat is created with).
func (l Limits) thread(tenant, scenario, id string) []Budget {
	h := sha256.Sum256([]byte(id)) // conversation ids are long and hold ; = @
	base := "teams:" + orDash(tenant) + ":" + scenario + ":" + hex.EncodeToString(h[:12]) + ":w"
	bs := make([]Budget, 0, 1+len(l.Thread))
	bs = append(bs, l.tenant(tenant))
	for i, w := range l.Thread {
		bs = append(bs, w.budget(base+strconv.Itoa(i)))
	}
	return bs
}

// orDash is a tenant id as a budget name's part: a GUID as it is, "-" for
// none, anything else (a local tool's) hashed, so that no tenant id makes
// a name storage refuses.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	if len(s) <= 64 && strings.Trim(s, "0123456789abcdefABCDEF-") == "" {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(h[:8])
}

// pacer runs one connector call within its budgets: it takes the slot (one
// script call for all of them), sleeps until it (a timer: no CPU), calls,
// and turns a 429 into a slow-down of the tenant's budget for every
// replica. A slot further than MaxWait is an *outbox.RetryAfter for that
// long, nothing taken. With no Budgets the call goes at once.
type pacer struct {
	budgets Budgets
	limits  Limits
	log     *slog.Logger
}

func (p pacer) call(ctx context.Context, orgID org.ID, tenant string, bs []Budget, fn func() error) error {
	if p.budgets == nil || orgID == "" {
		return fn()
	}
	maxWait := p.limits.MaxWait
	if !deliver.Queued(ctx) {
		// Someone waits for the answer (the shell): no outbox to go back
		// to, so wait longer here.
		maxWait = max(maxWait, 30*time.Second)
	}
	for try := 0; ; try++ {
		wait, ok, err := p.budgets.Reserve(ctx, orgID, bs, maxWait)
		if err != nil {
			// Redis is what the outbox runs on: without it the job fails anyway.
			return err
		}
		if !ok && (wait > maxWait || try == 3) {
			return &outbox.RetryAfter{Wait: wait}
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		if ok {
			break
		}
		// Not taken (a conversation's slot is later than the tenant's):
		// ask again at it.
	}
	err := fn()
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
		ae.RetryAfter = p.slow(ctx, orgID, tenant, ae.RetryAfter)
	}
	return err
}

// slow makes a 429 a slow-down of the tenant's budget for every replica
// (usher keeps below the per thread limits, so a 429 says the tenant's
// traffic, or Microsoft's message splitting, is more than assumed), and
// returns how long the job waits: until the budget's next slot, at least
// Retry-After. Microsoft: "wait for the period specified in the
// Retry-After response header"; without one (1 s then, apiError), the
// budget's doubling once per wait is the exponential backoff the page asks
// for, shared by every replica.
func (p pacer) slow(ctx context.Context, orgID org.ID, tenant string, retryAfter time.Duration) time.Duration {
	after := max(retryAfter, time.Second)
	wait, f, err := p.budgets.Slow(ctx, orgID, p.limits.tenant(tenant), after, p.limits.Hold)
	if err != nil {
		p.log.WarnContext(ctx, "teams: could not slow the shared budget after a 429", "err", err)
		return after
	}
	p.log.InfoContext(ctx, "teams: rate limited; the tenant's budget slows for every replica", "tenant", tenant,
		"retry_after", after, "factor", f)
	return max(after, wait)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package slack

import (
	"context"
	"log/slog"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers/org"
)

// Budget is one rate budget shared by every replica: one call every Every
// on average, Burst at once. The same unnamed struct type as
// storage.Budget.
type Budget = struct {
	Name   string
	Every  time.Duration
	Burst  int
	Window time.Duration // a sliding log's (storage.Budget)
}

// Reservation is one call's answer from ReserveMany (storage.Reservation).
type Reservation = struct {
	Wait     time.Duration
	Reserved bool
}

// Budgets are the Web API's rate limits as budgets in Redis
// (storage.Budgets), shared by every replica: a call takes its slot from
// its method's budget (and a post from its conversation's) before it goes,
// and a 429 slows the method's budget for everyone.
type Budgets interface {
	// Reserve takes one call from every budget at once, at the earliest
	// instant all allow, when that is within max (reserved: go after
	// wait); else nothing is taken and wait is when to ask again.
	Reserve(ctx context.Context, orgID org.ID, bs []Budget, max time.Duration) (wait time.Duration, reserved bool, err error)
	// ReserveMany is Reserve for many calls, in order, in one round trip.
	ReserveMany(ctx context.Context, orgID org.ID, calls [][]Budget, max time.Duration) ([]Reservation, error)
	// Slow is a 429: nobody calls before retryAfter, and the budget runs
	// slower for hold.
	Slow(ctx context.Context, orgID org.ID, b Budget, retryAfter, hold time.Duration) (wait time.Duration, factor int, err error)
}

// Limits are the Web API limits usher keeps to, per method per workspace
// (Slack applies them "per API method per app per workspace", in tiers:
// https://docs.slack.dev/apis/web-api/rate-limits). Tier 1 is 1+ a minute,
// Tier 2 20+, Tier 3 50+, Tier 4 100+; chat.postMessage is special: about
// one message a second per conversation, with a workspace-wide limit of
// "several hundred messages per minute" that Slack does not publish
// exactly (usher assumes 300, and a 429 slows it down further).
type Limits struct {
	// PerWindow is each method's calls per Window; a method not listed is
	// Tier 2.
	PerWindow map[string]int
	Window    time.Duration
	// PerChannel is the gap between two posts to one conversation.
	PerChannel time.Duration
	// MaxWait is how long a call may sleep for its slot; a slot further
	// away sends the job back to the outbox for that time (it sleeps
	// there, with no CPU). At most the shortest Retry-After (1 s), so that
	// slots reserved before a 429 are all used before its wait ends.
	MaxWait time.Duration
	// Hold is how long a 429's slow-down lasts.
	Hold time.Duration
}

// DefaultLimits are Slack's published tiers for the methods usher calls.
func DefaultLimits() Limits {
	return Limits{
		PerWindow: map[string]int{
			"users.list":            20,  // Tier 2
			"users.lookupByEmail":   50,  // Tier 3
			"users.info":            100, // Tier 4
			"conversations.open":    50,  // Tier 3
			"conversations.history": 50,  // Tier 3 (Tier 1 for new commercially distributed non-Marketplace apps)
			"chat.postMessage":      300, // special: the workspace-wide limit, assumed
			"chat.update":           50,  // Tier 3
		},
		Window:     time.Minute,
		PerChannel: time.Second,
		MaxWait:    time.Second,
		Hold:       10 * time.Minute,
	}
}

// Scaled is l with every window and gap divided by f (tests and benchmarks
// run Slack's limits f times faster).
func (l Limits) Scaled(f float64) Limits {
	l.Window = time.Duration(float64(l.Window) / f)
	l.PerChannel = time.Duration(float64(l.PerChannel) / f)
	return l
}

// method is the budget of a method in a workspace: a sliding log of N-1
// calls in any Window. Slack counts calls per minute and tolerates bursts
// ("Sporadic bursts are welcome", Tier 3; chat.postMessage's "short bursts
// >1 allowed": docs.slack.dev, "Rate limits"), so a minute's quota may go
// at once rather than spaced evenly (a 1,000-person bulk takes the three
// minutes the limit allows, not three and a third); a call that would be
// the N-th in any minute could be the one over.
func (l Limits) method(workspace, name string) Budget {
	n := l.PerWindow[name]
	if n == 0 {
		n = 20
	}
	every := l.Window
	if n > 1 {
		every = l.Window / time.Duration(n-1)
	}
	return Budget{Name: "slack:" + wsName(workspace) + ":" + name, Every: every, Burst: max(n-1, 1), Window: l.Window}
}

// channel is the budget of posts to one conversation (a user id: their DM).
func (l Limits) channel(workspace, channel string) Budget {
	return Budget{Name: "slack:" + wsName(workspace) + ":ch:" + channel, Every: l.PerChannel, Burst: 1}
}

func wsName(workspace string) string {
	if workspace == "" {
		return "-"
	}
	return workspace
}

// paced runs one Web API call within its budgets: it takes the slot (one
// script call), sleeps until it (a timer: no CPU), calls, and turns a 429
// into a slow-down of the method's budget for every replica. A slot further
// than MaxWait is an *outbox.RetryAfter for that long, nothing taken. With
// no Budgets the call goes at once.
type pacer struct {
	budgets Budgets
	limits  Limits
	log     *slog.Logger
}

func (p pacer) call(ctx context.Context, orgID org.ID, workspace, method, channel string, fn func() error) error {
	if p.budgets == nil || orgID == "" {
		return fn()
	}
	if at, ok := slotFor(ctx, orgID, workspace, method, channel); ok {
		// Taken with the rest of the batch (Prefetch).
		if err := sleep(ctx, time.Until(at)); err != nil {
			return err
		}
		return p.slowed(ctx, orgID, workspace, method, fn())
	}
	mb := p.limits.method(workspace, method)
	bs := []Budget{mb}
	if channel != "" {
		bs = append(bs, p.limits.channel(workspace, channel))
	}
	for try := 0; ; try++ {
		wait, ok, err := p.budgets.Reserve(ctx, orgID, bs, p.limits.MaxWait)
		if err != nil {
			// Redis is what the outbox runs on: without it the job fails anyway.
			return err
		}
		if !ok && (wait > p.limits.MaxWait || try == 3) {
			return &outbox.RetryAfter{Wait: wait}
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		if ok {
			break
		}
		// Not taken (the conversation's slot is later than the method's):
		// ask again at it.
	}
	return p.slowed(ctx, orgID, workspace, method, fn())
}

// slowed is err, a call's outcome, after a 429 slowed the method's budget.
func (p pacer) slowed(ctx context.Context, orgID org.ID, workspace, method string, err error) error {
	if rl, ok := asRateLimited(err); ok {
		p.slow(ctx, orgID, workspace, method, rl)
	}
	return err
}

// slow makes a 429 a slow-down of the method's budget for every replica.
func (p pacer) slow(ctx context.Context, orgID org.ID, workspace, method string, rl *slack.RateLimitedError) {
	if p.budgets == nil || orgID == "" {
		return
	}
	after := max(rl.RetryAfter, time.Second)
	if _, f, err := p.budgets.Slow(ctx, orgID, p.limits.method(workspace, method), after, p.limits.Hold); err != nil {
		p.log.WarnContext(ctx, "slack: could not slow the shared budget after a 429", "method", method, "err", err)
	} else {
		p.log.InfoContext(ctx, "slack: rate limited; the method's budget slows for every replica", "method", method,
			"workspace", workspace, "retry_after", after, "factor", f)
	}
}

// wait takes a slot of method for a background job (the directory's
// users.list), sleeping as long as it takes.
func (p pacer) wait(ctx context.Context, orgID org.ID, workspace, method string) error {
	if p.budgets == nil {
		return nil
	}
	for {
		wait, ok, err := p.budgets.Reserve(ctx, orgID, []Budget{p.limits.method(workspace, method)}, time.Hour)
		if err != nil {
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
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

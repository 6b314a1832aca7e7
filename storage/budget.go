package storage

import (
	"context"
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

var (
	//go:embed lua/budget.lua
	budgetSource string
	budgetScript = redis.NewScript(budgetSource)
)

// Budget is one rate budget: at most one call every Every on average, Burst
// at once. It is an unnamed struct type, the same type as bot/slack.Budget
// (which this package does not import), so *Budgets satisfies the adapter's
// port as it is.
type Budget = struct {
	// Name is the budget's key within the organization (a platform's
	// method and workspace, a channel): [A-Za-z0-9:._-], at most 200.
	Name  string
	Every time.Duration
	Burst int
	// Window, when set, makes the budget a sliding log instead: at most
	// Burst calls in any Window (Every is then only how long an idle
	// shared budget may wait on a call's others), so a whole window's
	// quota may go at once, as a platform's per-minute limits allow.
	Window time.Duration
}

// Budgets are rate budgets shared by every replica (one GCRA per budget in
// Redis, usher:{org}:budget:NAME), so that N replicas together never call a
// platform faster than one may: a Slack method's tier in a workspace, one
// conversation's one message a second. A 429 slows the budget for everyone.
type Budgets struct {
	rdb redis.UniversalClient
}

// NewBudgets returns the budgets of every organization on rdb.
func NewBudgets(rdb redis.UniversalClient) *Budgets { return &Budgets{rdb: rdb} }

// Setup loads the script.
func (b *Budgets) Setup(ctx context.Context) error {
	return loadScripts(ctx, b.rdb, "budgets setup", budgetScript)
}

var budgetNamePattern = regexp.MustCompile(`^[A-Za-z0-9:._@+-]{1,200}$`)

func budgetKeys(orgID org.ID, bs []Budget) ([]string, error) {
	k, err := newKeys(orgID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		if !budgetNamePattern.MatchString(b.Name) || b.Every <= 0 || b.Burst < 1 || b.Window < 0 {
			return nil, fmt.Errorf("budget: bad budget %q (every %s, burst %d)", b.Name, b.Every, b.Burst)
		}
		out[i] = k.budget(b.Name)
	}
	return out, nil
}

// Reserve takes one call from every budget of bs at once, at the earliest
// instant all of them allow, when that is within max: reserved true, and
// the caller makes its call after wait (its slot is kept for it). When the
// slot is further than max, or would leave bs[0] (the shared budget: a
// method's) idle for more than its interval while the others (a
// conversation's) are not yet free, nothing is taken: reserved false, and
// wait says when to ask again. One script call, whatever the number of budgets (all
// under the organization's hash tag: one cluster slot).
func (b *Budgets) Reserve(ctx context.Context, orgID org.ID, bs []Budget, max time.Duration) (time.Duration, bool, error) {
	rs, err := b.ReserveMany(ctx, orgID, [][]Budget{bs}, max)
	if err != nil {
		return 0, false, err
	}
	return rs[0].Wait, rs[0].Reserved, nil
}

// Reservation is one call's answer from ReserveMany, as Reserve's.
type Reservation = struct {
	Wait     time.Duration
	Reserved bool
}

// ReserveMany is Reserve for many calls in one round trip: each call takes
// from its own budgets, in order, the later ones after the earlier (a
// batch of messages to many conversations sharing one method's budget).
// A call's first budget is the shared one: a slot that would leave it idle
// for more than its interval, waiting on the call's other budgets, is not
// taken (Reserve's rule).
func (b *Budgets) ReserveMany(ctx context.Context, orgID org.ID, calls [][]Budget, max time.Duration) ([]Reservation, error) {
	var unique []Budget
	index := map[string]int{}
	shape := make([]any, 0, 1+3*len(calls))
	shape = append(shape, len(calls))
	for _, bs := range calls {
		shape = append(shape, len(bs))
		for _, x := range bs {
			i, ok := index[x.Name]
			if !ok {
				unique = append(unique, x)
				i = len(unique)
				index[x.Name] = i
			}
			shape = append(shape, i)
		}
	}
	keys, err := budgetKeys(orgID, unique)
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, 2+2*len(unique)+len(shape))
	args = append(args, "take", max.Milliseconds())
	for _, x := range unique {
		args = append(args, msCeil(x.Every), x.Burst, msCeil(x.Window))
	}
	args = append(args, shape...)
	res, err := budgetScript.Run(ctx, b.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, wrap("budget reserve", err)
	}
	if len(res) != 2*len(calls) {
		return nil, fmt.Errorf("budget reserve: %d answers for %d calls", len(res)/2, len(calls))
	}
	out := make([]Reservation, len(calls))
	for i := range out {
		out[i] = Reservation{Wait: time.Duration(res[2*i]) * time.Millisecond, Reserved: res[2*i+1] == 1}
	}
	return out, nil
}

// Slow is a platform's 429: nobody calls on budget x before retryAfter has
// passed, and its interval doubles (up to 16 times) for hold, so that a
// limit lower than the one assumed is not hit again. It reports the wait
// and the factor now in force.
func (b *Budgets) Slow(ctx context.Context, orgID org.ID, x Budget, retryAfter, hold time.Duration) (time.Duration, int, error) {
	keys, err := budgetKeys(orgID, []Budget{x})
	if err != nil {
		return 0, 0, err
	}
	res, err := budgetScript.Run(ctx, b.rdb, keys, "slow", retryAfter.Milliseconds(), msCeil(x.Every), x.Burst, hold.Milliseconds(), msCeil(x.Window)).Int64Slice()
	if err != nil {
		return 0, 0, wrap("budget slow", err)
	}
	return time.Duration(res[0]) * time.Millisecond, int(res[1]), nil
}

// msCeil is d in whole milliseconds, rounded up: a budget never allows more
// than it says.
func msCeil(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

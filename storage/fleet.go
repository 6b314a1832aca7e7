package storage

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// The fleet index says which organizations have background work due, so that
// one scheduler loop and one outbox loop per replica serve every organization
// of the deployment at the cost of the work that is due: no goroutine per
// organization, no pass over all of them per tick. Per kind of work:
//
//	usher:{_directory}:fleet:KIND        zset   org id -> when it next has work (ms)
//	usher:{_directory}:fleet:KIND:lease  hash   org id -> token of the lease it is being worked under
//	usher:{_directory}:fleet:KIND:rung   hash   org id -> the earliest ring (ms) since that lease began
//	usher:{_directory}:fleet:KIND:seq    string the last lease token handed out
//
// The keys are in the directory's slot ({_directory}), so each script touches
// one slot; an organization's own keys are in its slot, so the index is kept
// after the fact, not in the organization's commit (that would cross slots
// under Cluster): a commit that wrote due work, or an outbox that queued a
// job, rings the organization (Ring) once its own write succeeded, when its
// Store or Outbox was given the index (UseFleet). A ring
// lost to a crash between the two is found again by Reconcile, which
// rebuilds the index from every organization's own keys: at start (which is
// also the migration of organizations older than the index) and from time
// to time, never per tick.
//
// A worker takes due organizations with Due, each under a lease, does their
// work, reads when each next has work and Settles it. A ring during the
// lease is noted and counted by Settle, so nothing rung between the
// worker's read and its Settle is lost; a worker that dies leaves its
// organizations to come back when their leases end.
//
// An idle organization (nothing due, nothing queued) costs the index
// nothing; one with its weekly digest planned costs one zset member.

// FleetKind names one index: the kind of background work it finds.
type FleetKind string

const (
	// FleetSchedule finds organizations with scheduled work (reminders,
	// expiry, the digest): bot/scheduler's Fleet.
	FleetSchedule FleetKind = "schedule"
	// FleetOutbox finds organizations with messages to send: bot/outbox's Fleet.
	FleetOutbox FleetKind = "outbox"
)

// FleetKinds are the indexes Reconcile rebuilds.
var FleetKinds = []FleetKind{FleetSchedule, FleetOutbox}

// FleetLease is one organization handed to a worker by Due; its Token lets
// only that lease's Settle place the organization again. It is an unnamed
// struct type (an alias), so that bot/scheduler and bot/outbox, which do not
// import storage, can declare the same type and take a *FleetIndex as it is.
type FleetLease = struct {
	Org   org.ID
	Token int64
}

var (
	//go:embed lua/fleet_ring.lua
	fleetRingSource string
	//go:embed lua/fleet_due.lua
	fleetDueSource string
	//go:embed lua/fleet_settle.lua
	fleetSettleSource string
	//go:embed lua/fleet_next_schedule.lua
	fleetNextScheduleSource string
	//go:embed lua/outbox_next.lua
	outboxNextSource string

	fleetRing         = redis.NewScript(fleetRingSource)
	fleetDue          = redis.NewScript(fleetDueSource)
	fleetSettle       = redis.NewScript(fleetSettleSource)
	fleetNextSchedule = redis.NewScript(fleetNextScheduleSource)
	outboxNext        = redis.NewScript(outboxNextSource)
)

// Fleet is the due-organizations index of a deployment (one Redis).
type Fleet struct {
	rdb redis.UniversalClient
	// Notify, when set, is called after each successful ring (in this
	// process): the outbox loop's wake-up, so that a message queued here goes
	// within milliseconds rather than at the next poll. It must not block.
	Notify func(kind FleetKind, id org.ID)
	// Log reports rings that failed after their organization's write
	// succeeded (default slog.Default()).
	Log *slog.Logger

	// The rings after writes, coalesced (fleet_coalesce.go).
	mu   sync.Mutex
	busy bool
	next *ringBatch
}

// NewFleet returns the fleet index on rdb.
func NewFleet(rdb redis.UniversalClient) *Fleet { return &Fleet{rdb: rdb} }

func fleetKeys(kind FleetKind) []string {
	p := directoryPrefix + "fleet:" + string(kind)
	return []string{p, p + ":lease", p + ":rung", p + ":seq"}
}

// LoadScripts loads the index's scripts (every master, on a cluster).
func (f *Fleet) LoadScripts(ctx context.Context) error {
	return loadScripts(ctx, f.rdb, "load fleet scripts", fleetRing, fleetDue, fleetSettle, fleetNextSchedule, outboxNext)
}

// Ring says that organization id has work of kind at time at (or sooner).
func (f *Fleet) Ring(ctx context.Context, kind FleetKind, id org.ID, at time.Time) error {
	if err := fleetRing.Run(ctx, f.rdb, fleetKeys(kind)[:3], string(id), at.UnixMilli()).Err(); err != nil {
		return wrap("fleet ring "+string(kind)+" "+string(id), err)
	}
	if f.Notify != nil {
		f.Notify(kind, id)
	}
	return nil
}

// ring is Ring after a write that already succeeded: its failure must not
// fail the write (the caller's command did happen), so it is logged, and
// Reconcile finds the work.
func (f *Fleet) ring(ctx context.Context, kind FleetKind, id org.ID, at time.Time) {
	if f == nil {
		return
	}
	if err := f.ringAll(ctx, map[ringKey]int64{{kind, id}: at.UnixMilli()}); err != nil {
		f.logger().WarnContext(ctx, "fleet: ring failed; the next reconcile finds the work", "kind", kind, "org", id, "at", at, "err", err)
	}
}

func (f *Fleet) logger() *slog.Logger {
	if f == nil || f.Log == nil {
		return slog.Default()
	}
	return f.Log
}

// Due takes up to limit organizations with work of kind due at or before
// now, each for lease (see fleet_due.lua), the longest due first.
func (f *Fleet) Due(ctx context.Context, kind FleetKind, now time.Time, limit int, lease time.Duration) ([]FleetLease, error) {
	if limit <= 0 {
		return nil, nil
	}
	res, err := fleetDue.Run(ctx, f.rdb, fleetKeys(kind), now.UnixMilli(), limit, max(lease.Milliseconds(), 1)).StringSlice()
	if err != nil {
		return nil, wrap("fleet due "+string(kind), err)
	}
	if len(res) == 0 {
		return nil, nil
	}
	token, err := strconv.ParseInt(res[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("fleet due %s: token %q: %w", kind, res[0], err)
	}
	out := make([]FleetLease, 0, len(res)-1)
	for _, id := range res[1:] {
		out = append(out, FleetLease{Org: org.ID(id), Token: token})
	}
	return out, nil
}

// Settle ends lease l: the organization next has work at next (zero:
// nothing left), or sooner if it was rung meanwhile. It reports false when
// the lease had already ended and another worker took the organization.
func (f *Fleet) Settle(ctx context.Context, kind FleetKind, l FleetLease, next time.Time) (bool, error) {
	n, err := fleetSettle.Run(ctx, f.rdb, fleetKeys(kind)[:3], string(l.Org), l.Token, msOrEmpty(next)).Int()
	if err != nil {
		return false, wrap("fleet settle "+string(kind)+" "+string(l.Org), err)
	}
	return n == 1, nil
}

// Next is when organization id next has work of kind in the index (zero:
// none): for tests and operators.
func (f *Fleet) Next(ctx context.Context, kind FleetKind, id org.ID) (time.Time, error) {
	score, err := f.rdb.ZScore(ctx, fleetKeys(kind)[0], string(id)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, wrap("fleet next "+string(kind), err)
	}
	return time.UnixMilli(int64(score)).UTC(), nil
}

// Len is how many organizations the index of kind holds (due or not).
func (f *Fleet) Len(ctx context.Context, kind FleetKind) (int64, error) {
	n, err := f.rdb.ZCard(ctx, fleetKeys(kind)[0]).Result()
	return n, wrap("fleet len "+string(kind), err)
}

// Index is the index of one kind, as a worker uses it: bot/scheduler.Index
// and bot/outbox.Index.
func (f *Fleet) Index(kind FleetKind) *FleetIndex { return &FleetIndex{fleet: f, kind: kind} }

// FleetIndex is Fleet's Due and Settle for one kind of work.
type FleetIndex struct {
	fleet *Fleet
	kind  FleetKind
}

// Due is Fleet.Due of the index's kind.
func (x *FleetIndex) Due(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]FleetLease, error) {
	return x.fleet.Due(ctx, x.kind, now, limit, lease)
}

// Settle is Fleet.Settle of the index's kind.
func (x *FleetIndex) Settle(ctx context.Context, l FleetLease, next time.Time) (bool, error) {
	return x.fleet.Settle(ctx, x.kind, l, next)
}

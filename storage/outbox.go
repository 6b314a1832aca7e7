package storage

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

var (
	//go:embed lua/outbox_promote.lua
	outboxPromoteSource string
	//go:embed lua/outbox_move.lua
	outboxMoveSource string
	//go:embed lua/outbox_add.lua
	outboxAddSource string
	//go:embed lua/outbox_pace.lua
	outboxPaceSource string

	outboxPromote = redis.NewScript(outboxPromoteSource)
	outboxMove    = redis.NewScript(outboxMoveSource)
	outboxAddOnce = redis.NewScript(outboxAddSource)
	outboxPace    = redis.NewScript(outboxPaceSource)
)

// outboxGroup is the consumer group every usher replica reads the outbox with
// (on each stream its own group of that name).
const outboxGroup = "senders"

// LegacyStream is Job.Stream of a job claimed from the legacy outbox.
const LegacyStream = "legacy"

// Outbox is the durable queue of chat messages (bot/outbox.Queue) on Redis: a
// stream read by a consumer group (a claimed job stays pending until it is
// acknowledged, and XAUTOCLAIM hands a crashed worker's jobs to another), a
// sorted set of jobs waiting for a retry time, and a stream of dead letters.
//
// There are two such streams, each with its delayed set. This version queues
// into outbox2 only; versions before the delivery router queued into (and
// only read) the legacy usher:{org}:outbox, and their worker dead-letters a
// job whose platform it has no sender for ("deliver"). During a rolling
// deploy old and new replicas share one Redis, so the new jobs must be where
// old replicas never look; new replicas read both, and send the legacy jobs
// through the legacy decoders. Once no old replica is left the legacy stream
// stays empty. The dead letters and the channels' pacing are shared.
type Outbox struct {
	rdb  redis.UniversalClient
	keys keys
	seal sealer // seal.go
	// fleet, when set (UseFleet), is rung when a job is queued or put back.
	fleet *Fleet
}

// Job is one queued message, as bot/outbox describes it (storage does not
// import adapters; cmd converts).
type Job struct {
	ID       string
	Platform string
	Channel  string
	Payload  []byte
	Attempt  int
	Slot     int64
	// Stream is the stream Claim found the job in: "" outbox2, LegacyStream
	// the legacy outbox. Done, Later and Dead act there.
	Stream string
}

// lane is one stream of jobs with its delayed set.
type lane struct{ name, stream, later string }

// lanes are the outbox's streams, the current one first.
func (o *Outbox) lanes() [2]lane {
	k := o.keys
	return [2]lane{{"", k.outbox2(), k.outbox2Later()}, {LegacyStream, k.outbox(), k.outboxLater()}}
}

// laneOf is the lane holding j.
func (o *Outbox) laneOf(j Job) (lane, error) {
	for _, l := range o.lanes() {
		if l.name == j.Stream {
			return l, nil
		}
	}
	return lane{}, fmt.Errorf("job %s: unknown outbox stream %q", j.ID, j.Stream)
}

// NewOutbox returns the outbox of organization id. Call Setup once at start.
func NewOutbox(rdb redis.UniversalClient, id org.ID) (*Outbox, error) {
	k, err := newKeys(id)
	if err != nil {
		return nil, err
	}
	return &Outbox{rdb: rdb, keys: k, seal: newSealer(nil, k)}, nil
}

// UseFleet makes the outbox ring f, the deployment's due-organizations
// index, when a job is queued (Add) or put back (Later): as Store.UseFleet,
// required for an outbox served by bot/outbox.Fleet, pointless for one
// served by its own Worker.
func (o *Outbox) UseFleet(f *Fleet) { o.fleet = f }

// Org is the organization whose messages this outbox queues.
func (o *Outbox) Org() org.ID { return o.keys.org }

// SealWith sets the key payloads are sealed with (NewSealKey); without it,
// a key of this process's own, which no other process can open.
func (o *Outbox) SealWith(key cipher.AEAD) { o.seal = newSealer(key, o.keys) }

// Setup creates the consumer groups (idempotent) and loads the scripts. The
// legacy stream's group is created too (an old replica may still be starting
// or gone already): Claim reads both streams in one XREADGROUP.
func (o *Outbox) Setup(ctx context.Context) error {
	if err := o.createGroups(ctx); err != nil {
		return err
	}
	return loadScripts(ctx, o.rdb, "outbox setup", outboxPromote, outboxMove, outboxAddOnce, outboxPace, outboxNext)
}

// createGroups creates both streams' consumer groups (idempotent): Setup at
// start, and Claim on first use, when a fleet worker (bot/outbox.Fleet)
// opens an organization's outbox that never had one. Ten thousand idle
// organizations then cost no groups, and the scripts are not loaded again
// for each (Setup loads them on every master).
func (o *Outbox) createGroups(ctx context.Context) error {
	for _, l := range o.lanes() {
		err := o.rdb.XGroupCreateMkStream(ctx, l.stream, outboxGroup, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return wrap("outbox setup "+l.stream, err)
		}
	}
	return nil
}

// Add stores a job in outbox2, once even if go-redis re-sends the call after
// a timeout.
func (o *Outbox) Add(ctx context.Context, j Job) (string, error) {
	return o.add(ctx, o.keys.outbox2(), j)
}

// AddLegacy stores a job in the legacy outbox, as versions before outbox2
// did: what an old replica does during a rolling deploy. Nothing in usher
// calls it; tests use it to be that replica.
func (o *Outbox) AddLegacy(ctx context.Context, j Job) (string, error) {
	return o.add(ctx, o.keys.outbox(), j)
}

func (o *Outbox) add(ctx context.Context, stream string, j Job) (string, error) {
	args := []any{addIDLifetime.Milliseconds()}
	for _, f := range jobFields(j, o.seal) {
		args = append(args, f)
	}
	id, err := outboxAddOnce.Run(ctx, o.rdb, []string{stream, o.keys.outboxAdd(randomID())}, args...).Text()
	if err != nil {
		return "", wrap("outbox add", err)
	}
	o.fleet.ring(ctx, FleetOutbox, o.keys.org, time.Now())
	return id, nil
}

// addIDLifetime is how long an Add's id is kept: far longer than a client retry.
const addIDLifetime = 30 * time.Second

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// jobFields is a job as its stream entry stores it, the payload sealed.
func jobFields(j Job, s sealer) []string {
	return []string{"platform", j.Platform, "channel", j.Channel, "payload", s.seal(j.Payload), "attempt", strconv.Itoa(j.Attempt), "slot", strconv.FormatInt(j.Slot, 10)}
}

// Claim returns jobs for consumer: due retries, jobs a crashed worker held
// longer than lease, then new ones (waiting up to block), from both streams.
// It takes up to limit reclaimed jobs, then up to the rest of limit new jobs
// from each stream (so up to twice limit while the legacy stream has jobs):
// one XREADGROUP over both, so neither stream waits for the other to empty.
func (o *Outbox) Claim(ctx context.Context, consumer string, limit int, block, lease time.Duration) ([]Job, error) {
	var jobs []Job
	for _, l := range o.lanes() {
		if _, err := outboxPromote.Run(ctx, o.rdb, []string{l.later, l.stream}, time.Now().UnixMilli(), limit).Result(); err != nil {
			return nil, wrap("outbox promote "+l.later, err)
		}
	}
	for _, l := range o.lanes() {
		if len(jobs) >= limit {
			return jobs, nil
		}
		// Jobs a crashed (or stuck) worker claimed more than a lease ago.
		msgs, _, err := o.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: l.stream, Group: outboxGroup, Consumer: consumer, MinIdle: lease, Start: "0-0", Count: int64(limit - len(jobs)),
		}).Result()
		if isNoGroup(err) {
			// The stream was deleted (FLUSHALL, a failover without it), or
			// this is its first use: create the groups.
			return jobs, o.createGroups(ctx)
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			return jobs, wrap("outbox reclaim "+l.stream, err)
		}
		more, err := o.decodeJobs(ctx, l, msgs)
		for i := range more {
			// It may have been sent before the crash: tell the sender.
			more[i].Attempt = max(more[i].Attempt, 1)
		}
		jobs = append(jobs, more...)
		if err != nil {
			return jobs, err
		}
	}
	if len(jobs) >= limit {
		return jobs, nil
	}
	ls := o.lanes()
	streams, err := o.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: outboxGroup, Consumer: consumer, Streams: []string{ls[0].stream, ls[1].stream, ">", ">"},
		Count: int64(limit - len(jobs)), Block: block,
	}).Result()
	if isNoGroup(err) {
		return jobs, o.createGroups(ctx)
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return jobs, wrap("outbox read", err)
	}
	for _, s := range streams {
		l := ls[0]
		if s.Stream == ls[1].stream {
			l = ls[1]
		}
		more, err := o.decodeJobs(ctx, l, s.Messages)
		jobs = append(jobs, more...)
		if err != nil {
			return jobs, err
		}
	}
	return jobs, nil
}

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// decodeJobs reads stream entries and opens their payloads. A payload this
// process cannot open can never be sent by it: it goes to the dead letters,
// still sealed, with the reason, rather than come back forever.
func (o *Outbox) decodeJobs(ctx context.Context, l lane, msgs []redis.XMessage) ([]Job, error) {
	var jobs []Job
	for _, m := range msgs {
		j, ok, err := o.decodeJob(ctx, l, m)
		if err != nil {
			return jobs, err
		}
		if ok {
			jobs = append(jobs, j)
		}
	}
	return jobs, nil
}

// decodeJob is one entry of decodeJobs; ok false: it went to the dead letters.
func (o *Outbox) decodeJob(ctx context.Context, l lane, m redis.XMessage) (j Job, ok bool, err error) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	attempt, _ := strconv.Atoi(str("attempt"))
	slot, _ := strconv.ParseInt(str("slot"), 10, 64)
	j = Job{ID: m.ID, Platform: str("platform"), Channel: str("channel"), Attempt: attempt, Slot: slot, Stream: l.name}
	if j.Payload, err = o.seal.open(str("payload")); err != nil {
		reason := err.Error() + ": set USHER_SECRET to the same value on every replica"
		return j, false, o.dead(ctx, j, str("payload"), reason)
	}
	return j, true, nil
}

// Done removes a sent job.
func (o *Outbox) Done(ctx context.Context, j Job) error {
	l, err := o.laneOf(j)
	if err != nil {
		return fmt.Errorf("outbox done: %w", err)
	}
	_, err = o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, l.stream, outboxGroup, j.ID)
		p.XDel(ctx, l.stream, j.ID)
		return nil
	})
	return wrap("outbox done", err)
}

// DoneMany removes sent jobs in one round trip (XACK and XDEL take many
// ids), each from its own stream.
func (o *Outbox) DoneMany(ctx context.Context, js []Job) error {
	ids := map[string][]string{}
	for _, j := range js {
		l, err := o.laneOf(j)
		if err != nil {
			return fmt.Errorf("outbox done: %w", err)
		}
		ids[l.stream] = append(ids[l.stream], j.ID)
	}
	_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for stream, list := range ids {
			p.XAck(ctx, stream, outboxGroup, list...)
			p.XDel(ctx, stream, list...)
		}
		return nil
	})
	return wrap("outbox done", err)
}

// Later takes a job out of its stream and puts it back there at time at (a
// legacy job stays legacy: an old replica may send it too).
func (o *Outbox) Later(ctx context.Context, j Job, at time.Time) error {
	l, err := o.laneOf(j)
	if err != nil {
		return fmt.Errorf("outbox later: %w", err)
	}
	nonce := make([]byte, 8)
	rand.Read(nonce)
	member, err := json.Marshal(map[string]any{
		"platform": j.Platform, "channel": j.Channel, "payload": o.seal.seal(j.Payload), "attempt": j.Attempt, "slot": j.Slot,
		"nonce": hex.EncodeToString(nonce), // two equal jobs must stay two members
	})
	if err != nil {
		return fmt.Errorf("outbox later: %w", err)
	}
	err = outboxMove.Run(ctx, o.rdb, []string{l.stream, l.later}, outboxGroup, j.ID, "later", at.UnixMilli(), string(member)).Err()
	if err != nil {
		return wrap("outbox later", err)
	}
	o.fleet.ring(ctx, FleetOutbox, o.keys.org, at)
	return nil
}

// Dead moves a job that can never be sent to the dead letters.
func (o *Outbox) Dead(ctx context.Context, j Job, reason string) error {
	return o.dead(ctx, j, o.seal.seal(j.Payload), reason)
}

func (o *Outbox) dead(ctx context.Context, j Job, sealed, reason string) error {
	l, err := o.laneOf(j)
	if err != nil {
		return fmt.Errorf("outbox dead: %w", err)
	}
	err = outboxMove.Run(ctx, o.rdb, []string{l.stream, o.keys.outboxDead()}, outboxGroup, j.ID, "dead", reason,
		j.Platform, j.Channel, sealed, strconv.Itoa(j.Attempt)).Err()
	return wrap("outbox dead", err)
}

// Pace reserves a channel's next send slot for every replica at once: zero
// when the job may go now, else how long until its reserved slot.
func (o *Outbox) Pace(ctx context.Context, channel string, interval time.Duration) (time.Duration, error) {
	ms, err := outboxPace.Run(ctx, o.rdb, []string{o.keys.outboxPace(channel)}, interval.Milliseconds()).Int64()
	if err != nil {
		return 0, wrap("outbox pace", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// OutboxStats is what an operator watches: jobs waiting, being sent, delayed
// and dead, and the age of the oldest waiting one.
type OutboxStats struct {
	Waiting, Pending, Delayed, Dead int64
	OldestWaiting                   time.Duration
}

// Stats reads the outbox's depth: both streams and delayed sets together
// (an operator watches one queue; during a rolling deploy the legacy stream
// holds the old replicas' jobs), the oldest waiting job of either.
func (o *Outbox) Stats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	type laneCmds struct {
		xlen, delayed *redis.IntCmd
		pending       *redis.XPendingCmd
		first         *redis.XMessageSliceCmd
	}
	var cmds []laneCmds
	p := o.rdb.Pipeline()
	for _, l := range o.lanes() {
		cmds = append(cmds, laneCmds{xlen: p.XLen(ctx, l.stream), pending: p.XPending(ctx, l.stream, outboxGroup),
			delayed: p.ZCard(ctx, l.later), first: p.XRangeN(ctx, l.stream, "-", "+", 1)})
	}
	dead := p.XLen(ctx, o.keys.outboxDead())
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && !isNoGroup(err) {
		return st, wrap("outbox stats", err)
	}
	for _, c := range cmds {
		var pending int64
		if pv := c.pending.Val(); pv != nil { // nil when the group is gone (Redis restarted without it)
			pending = pv.Count
		}
		st.Pending += pending
		st.Waiting += c.xlen.Val() - pending
		st.Delayed += c.delayed.Val()
		if msgs := c.first.Val(); len(msgs) == 1 {
			if ms, err := strconv.ParseInt(strings.SplitN(msgs[0].ID, "-", 2)[0], 10, 64); err == nil {
				st.OldestWaiting = max(st.OldestWaiting, time.Since(time.UnixMilli(ms)))
			}
		}
	}
	st.Dead = dead.Val()
	return st, nil
}

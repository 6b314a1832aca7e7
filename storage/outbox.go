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

// outboxGroup is the consumer group every usher replica reads the outbox with.
const outboxGroup = "senders"

// Outbox is the durable queue of chat messages (bot/outbox.Queue) on Redis: a
// stream read by a consumer group (a claimed job stays pending until it is
// acknowledged, and XAUTOCLAIM hands a crashed worker's jobs to another), a
// sorted set of jobs waiting for a retry time, and a stream of dead letters.
type Outbox struct {
	rdb  redis.UniversalClient
	keys keys
	seal sealer // seal.go
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
}

// NewOutbox returns the outbox of organization id. Call Setup once at start.
func NewOutbox(rdb redis.UniversalClient, id org.ID) (*Outbox, error) {
	k, err := newKeys(id)
	if err != nil {
		return nil, err
	}
	return &Outbox{rdb: rdb, keys: k, seal: newSealer(nil, k)}, nil
}

// Org is the organization whose messages this outbox queues.
func (o *Outbox) Org() org.ID { return o.keys.org }

// SealWith sets the key payloads are sealed with (NewSealKey); without it,
// a key of this process's own, which no other process can open.
func (o *Outbox) SealWith(key cipher.AEAD) { o.seal = newSealer(key, o.keys) }

// Setup creates the consumer group (idempotent) and loads the scripts.
func (o *Outbox) Setup(ctx context.Context) error {
	err := o.rdb.XGroupCreateMkStream(ctx, o.keys.outbox(), outboxGroup, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return wrap("outbox setup", err)
	}
	return loadScripts(ctx, o.rdb, "outbox setup", outboxPromote, outboxMove, outboxAddOnce, outboxPace)
}

// Add stores a job, once even if go-redis re-sends the call after a timeout.
func (o *Outbox) Add(ctx context.Context, j Job) (string, error) {
	k := o.keys
	args := []any{addIDLifetime.Milliseconds()}
	for _, f := range jobFields(j, o.seal) {
		args = append(args, f)
	}
	id, err := outboxAddOnce.Run(ctx, o.rdb, []string{k.outbox(), k.outboxAdd(randomID())}, args...).Text()
	if err != nil {
		return "", wrap("outbox add", err)
	}
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

// Claim returns up to limit jobs for consumer: due retries, jobs a crashed
// worker held longer than lease, then new ones (waiting up to block).
func (o *Outbox) Claim(ctx context.Context, consumer string, limit int, block, lease time.Duration) ([]Job, error) {
	k := o.keys
	if _, err := outboxPromote.Run(ctx, o.rdb, []string{k.outboxLater(), k.outbox()}, time.Now().UnixMilli(), limit).Result(); err != nil {
		return nil, wrap("outbox promote", err)
	}
	// Jobs a crashed (or stuck) worker claimed more than a lease ago.
	msgs, _, err := o.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: k.outbox(), Group: outboxGroup, Consumer: consumer, MinIdle: lease, Start: "0-0", Count: int64(limit),
	}).Result()
	if isNoGroup(err) {
		// The stream was deleted (FLUSHALL, a failover without it): recreate.
		return nil, o.Setup(ctx)
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap("outbox reclaim", err)
	}
	jobs, err := o.decodeJobs(ctx, msgs)
	if err != nil {
		return jobs, err
	}
	for i := range jobs {
		// It may have been sent before the crash: tell the sender.
		jobs[i].Attempt = max(jobs[i].Attempt, 1)
	}
	if len(jobs) >= limit {
		return jobs, nil
	}
	streams, err := o.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: outboxGroup, Consumer: consumer, Streams: []string{k.outbox(), ">"}, Count: int64(limit - len(jobs)), Block: block,
	}).Result()
	if isNoGroup(err) {
		return jobs, o.Setup(ctx)
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return jobs, wrap("outbox read", err)
	}
	for _, s := range streams {
		more, err := o.decodeJobs(ctx, s.Messages)
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
func (o *Outbox) decodeJobs(ctx context.Context, msgs []redis.XMessage) ([]Job, error) {
	var jobs []Job
	for _, m := range msgs {
		j, ok, err := o.decodeJob(ctx, m)
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
func (o *Outbox) decodeJob(ctx context.Context, m redis.XMessage) (j Job, ok bool, err error) {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	attempt, _ := strconv.Atoi(str("attempt"))
	slot, _ := strconv.ParseInt(str("slot"), 10, 64)
	j = Job{ID: m.ID, Platform: str("platform"), Channel: str("channel"), Attempt: attempt, Slot: slot}
	if j.Payload, err = o.seal.open(str("payload")); err != nil {
		reason := err.Error() + ": set USHER_SECRET to the same value on every replica"
		return j, false, o.dead(ctx, j, str("payload"), reason)
	}
	return j, true, nil
}

// Done removes a sent job.
func (o *Outbox) Done(ctx context.Context, j Job) error {
	_, err := o.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, o.keys.outbox(), outboxGroup, j.ID)
		p.XDel(ctx, o.keys.outbox(), j.ID)
		return nil
	})
	return wrap("outbox done", err)
}

// Later takes a job out of the stream and puts it back at time at.
func (o *Outbox) Later(ctx context.Context, j Job, at time.Time) error {
	nonce := make([]byte, 8)
	rand.Read(nonce)
	member, err := json.Marshal(map[string]any{
		"platform": j.Platform, "channel": j.Channel, "payload": o.seal.seal(j.Payload), "attempt": j.Attempt, "slot": j.Slot,
		"nonce": hex.EncodeToString(nonce), // two equal jobs must stay two members
	})
	if err != nil {
		return fmt.Errorf("outbox later: %w", err)
	}
	k := o.keys
	err = outboxMove.Run(ctx, o.rdb, []string{k.outbox(), k.outboxLater()}, outboxGroup, j.ID, "later", at.UnixMilli(), string(member)).Err()
	return wrap("outbox later", err)
}

// Dead moves a job that can never be sent to the dead letters.
func (o *Outbox) Dead(ctx context.Context, j Job, reason string) error {
	return o.dead(ctx, j, o.seal.seal(j.Payload), reason)
}

func (o *Outbox) dead(ctx context.Context, j Job, sealed, reason string) error {
	k := o.keys
	err := outboxMove.Run(ctx, o.rdb, []string{k.outbox(), k.outboxDead()}, outboxGroup, j.ID, "dead", reason,
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

// Stats reads the outbox's depth.
func (o *Outbox) Stats(ctx context.Context) (OutboxStats, error) {
	k := o.keys
	var st OutboxStats
	p := o.rdb.Pipeline()
	xlen := p.XLen(ctx, k.outbox())
	pending := p.XPending(ctx, k.outbox(), outboxGroup)
	delayed := p.ZCard(ctx, k.outboxLater())
	dead := p.XLen(ctx, k.outboxDead())
	first := p.XRangeN(ctx, k.outbox(), "-", "+", 1)
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && !isNoGroup(err) {
		return st, wrap("outbox stats", err)
	}
	if pv := pending.Val(); pv != nil { // nil when the group is gone (Redis restarted without it)
		st.Pending = pv.Count
	}
	st.Waiting = xlen.Val() - st.Pending
	st.Delayed, st.Dead = delayed.Val(), dead.Val()
	if msgs := first.Val(); len(msgs) == 1 {
		if ms, err := strconv.ParseInt(strings.SplitN(msgs[0].ID, "-", 2)[0], 10, 64); err == nil {
			st.OldestWaiting = time.Since(time.UnixMilli(ms))
		}
	}
	return st, nil
}

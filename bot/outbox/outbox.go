// Package outbox sends messages to chat platforms from a durable queue, so
// that an answer given to a person is never followed by a lost message: a
// crash after the answer leaves the message in Redis for the next worker.
// It paces messages per channel (Slack allows about one a second) and honours
// the platforms' "429 Too Many Requests, retry after N seconds".
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"
)

// Job is one message to send. Platform picks the sender; Channel is the pacing
// key (a conversation, or the recipient when the conversation is not known
// yet); Payload is the platform's own description of what to send.
type Job struct {
	ID       string
	Platform string
	Channel  string
	Payload  []byte
	// Attempt counts earlier tries (0 on the first). A job claimed back from a
	// crashed worker has Attempt > 0 and may already have been sent: senders
	// that can check (Slack message metadata) should, before sending again.
	Attempt int
	// Slot is the send slot (Unix ms) this job reserved on its channel; when
	// it comes back at that time it goes without asking again.
	Slot int64
	// Stream is the queue's own note of where it holds the job (storage: the
	// current or the legacy stream); the worker hands it back untouched.
	Stream string
}

// Queue is the durable store of jobs; storage implements it on Redis.
type Queue interface {
	// Add stores a job for sending.
	Add(ctx context.Context, j Job) (id string, err error)
	// Claim returns up to max jobs for consumer: jobs due for a retry, jobs a
	// crashed consumer held longer than the lease, then new ones (waiting up to
	// block for one).
	Claim(ctx context.Context, consumer string, max int, block, lease time.Duration) ([]Job, error)
	// Done removes a sent job.
	Done(ctx context.Context, j Job) error
	// Later takes a job out of the queue and puts it back at time at.
	Later(ctx context.Context, j Job, at time.Time) error
	// Dead moves a job that can never be sent aside, with the reason.
	Dead(ctx context.Context, j Job, reason string) error
	// Pace reserves the next send slot of a channel: zero when the job may go
	// now, else how long until it may.
	Pace(ctx context.Context, channel string, interval time.Duration) (time.Duration, error)
}

// Sender sends one job on a platform.
type Sender func(ctx context.Context, j Job) error

// RetryAfter is what a sender returns when the platform asked to slow down.
type RetryAfter struct{ Wait time.Duration }

func (r *RetryAfter) Error() string { return fmt.Sprintf("rate limited: retry after %s", r.Wait) }

// Permanent marks a failure that retrying cannot fix (no such user, the bot
// was removed from the channel, a 403 MessageWritesBlocked).
type Permanent struct{ Err error }

func (p *Permanent) Error() string { return "permanent: " + p.Err.Error() }
func (p *Permanent) Unwrap() error { return p.Err }

// Worker runs jobs from a queue.
type Worker struct {
	Queue    Queue
	Senders  map[string]Sender
	Consumer string        // unique per process, e.g. hostname-pid
	Pace     time.Duration // minimum gap between two messages to one channel; default 1 s
	Lease    time.Duration // how long a claimed job is ours before another worker may take it; default 30 s
	Attempts int           // tries before a job is dead; default 8
	// Batch is how many jobs one claim takes (default 32). A claim's
	// fixed work (the claim, its look-ups and rate slots, the commit
	// recording its deliveries, the acknowledgement) is shared by its jobs:
	// 32 instead of 16 cost a delivered invitation 8-10% less CPU
	// (BenchmarkBulkDelivery/cpu), and a turn of the Fleet, which holds one
	// of its Parallel slots, lasts up to 32 posts.
	Batch int
	// Prepare, when set, sees a claim's jobs before they are sent, with the
	// batch's context: what it works out for many at once (one round trip
	// instead of one per job) it stashes in the batch (BatchOf, Stash) for
	// the senders. A failure in it is the senders' to meet: they do the
	// work themselves.
	Prepare func(ctx context.Context, jobs []Job)
	Log     *slog.Logger
	Now     func() time.Time
}

func (w *Worker) defaults() {
	if w.Pace == 0 {
		w.Pace = time.Second
	}
	if w.Lease == 0 {
		w.Lease = 30 * time.Second
	}
	if w.Attempts == 0 {
		w.Attempts = 8
	}
	if w.Batch == 0 {
		w.Batch = 32
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
	if w.Now == nil {
		w.Now = time.Now
	}
}

// Run sends jobs until ctx ends. Storage failures are logged and retried with
// a pause; they never end the loop.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	pause := 100 * time.Millisecond
	for ctx.Err() == nil {
		n, err := w.Step(ctx, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.Log.Warn("outbox: claim failed", "err", err, "pause", pause)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, 5*time.Second)
			continue
		}
		pause = 100 * time.Millisecond
		_ = n
	}
	return nil
}

// Step claims one batch (waiting up to block) and handles it; it reports how
// many jobs it handled. Tests drive the worker with it.
func (w *Worker) Step(ctx context.Context, block time.Duration) (int, error) {
	w.defaults()
	jobs, err := w.Queue.Claim(ctx, w.Consumer, w.Batch, block, w.Lease)
	if err != nil {
		return 0, fmt.Errorf("outbox claim: %w", err)
	}
	b := newBatch()
	bctx := context.WithValue(ctx, batchKey{}, b)
	if w.Prepare != nil && len(jobs) > 1 {
		w.Prepare(bctx, jobs)
	}
	var sent []Job
	for _, j := range jobs {
		b.begin(j.ID)
		if w.handle(bctx, j) {
			sent = append(sent, j)
		}
	}
	if err := b.finish(ctx); err != nil {
		// The jobs that deferred work go again after a backoff, Attempt
		// > 0: their senders check what was done.
		w.Log.Warn("outbox: a batch's deferred work failed; its jobs will be retried", "err", err)
		sent = slices.DeleteFunc(sent, func(j Job) bool {
			if !b.deferred(j.ID) {
				return false
			}
			if j.Attempt+1 >= w.Attempts {
				w.dead(ctx, w.Log, j, fmt.Sprintf("gave up after %d attempts: %v", j.Attempt+1, err))
			} else {
				w.later(ctx, w.Log, j, backoff(j.Attempt), true)
			}
			return true
		})
	}
	w.done(ctx, sent)
	return len(jobs), nil
}

// done acknowledges sent jobs: in one round trip when the queue can.
func (w *Worker) done(ctx context.Context, js []Job) {
	if len(js) == 0 {
		return
	}
	var err error
	if dm, ok := w.Queue.(DoneMany); ok {
		err = dm.DoneMany(ctx, js)
	} else {
		for _, j := range js {
			err = errors.Join(err, w.Queue.Done(ctx, j))
		}
	}
	if err != nil {
		// The messages went out; if the ack is lost the jobs come back with
		// Attempt > 0 after the lease, and the senders can detect the repeat.
		w.Log.Warn("outbox: sent but not acknowledged", "err", err, "jobs", len(js))
	}
}

// handle sends one job; it reports whether the job was sent and awaits
// its acknowledgement at the end of the batch (Step).
func (w *Worker) handle(ctx context.Context, j Job) bool {
	// The job's logger is made only when something is logged, and once: a
	// sent job logs nothing, and With copies its attributes each time (5-7%
	// of a delivery's CPU profile).
	var logger *slog.Logger
	log := func() *slog.Logger {
		if logger == nil {
			logger = w.Log.With("job", j.ID, "platform", j.Platform, "attempt", j.Attempt)
		}
		return logger
	}
	send, ok := w.Senders[j.Platform]
	if !ok {
		w.dead(ctx, log(), j, "no sender for platform "+j.Platform)
		return false
	}
	reserved := j.Slot != 0 && w.Now().UnixMilli() >= j.Slot-slotTolerance.Milliseconds()
	if j.Channel != "" && !reserved {
		wait, err := w.Queue.Pace(ctx, j.Channel, w.Pace)
		if err != nil {
			log().Warn("outbox: pace failed; sending anyway", "err", err)
		} else if wait > 0 {
			j.Slot = w.Now().Add(wait).UnixMilli()
			w.later(ctx, log(), j, wait, false)
			return false
		}
	}
	j.Slot = 0
	err := send(ctx, j)
	var ra *RetryAfter
	var perm *Permanent
	switch {
	case err == nil:
		return true
	case errors.As(err, &ra):
		log().Info("outbox: platform asked to slow down", "wait", ra.Wait)
		w.later(ctx, log(), j, ra.Wait, false)
	case errors.As(err, &perm):
		w.dead(ctx, log(), j, perm.Error())
	case j.Attempt+1 >= w.Attempts:
		w.dead(ctx, log(), j, fmt.Sprintf("gave up after %d attempts: %v", j.Attempt+1, err))
	default:
		wait := backoff(j.Attempt)
		log().Warn("outbox: send failed; will retry", "err", err, "wait", wait)
		w.later(ctx, log(), j, wait, true)
	}
	return false
}

func (w *Worker) later(ctx context.Context, log *slog.Logger, j Job, wait time.Duration, failed bool) {
	if failed {
		j.Attempt++
	}
	if err := w.Queue.Later(ctx, j, w.Now().Add(wait)); err != nil {
		log.Warn("outbox: could not reschedule; the lease will bring it back", "err", err)
	}
}

func (w *Worker) dead(ctx context.Context, log *slog.Logger, j Job, reason string) {
	log.Error("outbox: job cannot be sent", "reason", reason)
	if err := w.Queue.Dead(ctx, j, reason); err != nil {
		log.Warn("outbox: could not move job to the dead letters", "err", err)
	}
}

// slotTolerance absorbs clock differences between replicas when a paced job
// comes back for its reserved slot.
const slotTolerance = 100 * time.Millisecond

// backoff grows 1 s, 2 s, 4 s ... up to 5 minutes.
func backoff(attempt int) time.Duration {
	d := time.Duration(math.Pow(2, float64(attempt))) * time.Second
	return min(d, 5*time.Minute)
}

// Package redisqueue is the outbox's queue in Redis: storage.Outbox as a
// bot/outbox.OrgQueue. The two packages do not import each other (storage
// knows nothing of senders, the outbox nothing of Redis), so the job type
// is converted here, once for the server and the tests.
package redisqueue

import (
	"context"
	"time"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/storage"
)

// Queue is an organization's outbox in Redis.
type Queue struct{ o *storage.Outbox }

var _ outbox.OrgQueue = Queue{}

// New is o as an outbox queue.
func New(o *storage.Outbox) Queue { return Queue{o} }

func (q Queue) Add(ctx context.Context, j outbox.Job) (string, error) {
	return q.o.Add(ctx, storage.Job(j))
}

func (q Queue) Claim(ctx context.Context, consumer string, max int, block, lease time.Duration) ([]outbox.Job, error) {
	js, err := q.o.Claim(ctx, consumer, max, block, lease)
	out := make([]outbox.Job, len(js))
	for i, j := range js {
		out[i] = outbox.Job(j)
	}
	return out, err
}

func (q Queue) Done(ctx context.Context, j outbox.Job) error {
	return q.o.Done(ctx, storage.Job(j))
}

func (q Queue) DoneMany(ctx context.Context, js []outbox.Job) error {
	out := make([]storage.Job, len(js))
	for i, j := range js {
		out[i] = storage.Job(j)
	}
	return q.o.DoneMany(ctx, out)
}

func (q Queue) Later(ctx context.Context, j outbox.Job, at time.Time) error {
	return q.o.Later(ctx, storage.Job(j), at)
}

func (q Queue) Dead(ctx context.Context, j outbox.Job, reason string) error {
	return q.o.Dead(ctx, storage.Job(j), reason)
}

func (q Queue) Pace(ctx context.Context, channel string, interval time.Duration) (time.Duration, error) {
	return q.o.Pace(ctx, channel, interval)
}

func (q Queue) NextWork(ctx context.Context, lease time.Duration) (time.Time, error) {
	return q.o.NextWork(ctx, lease)
}

// Outbox is the storage underneath (its Setup, its metrics).
func (q Queue) Outbox() *storage.Outbox { return q.o }

package main

import (
	"context"
	"time"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/storage"
)

// outboxQueue adapts storage.Outbox to bot/outbox.Queue: the two packages do
// not import each other, so the job type is converted here.
type outboxQueue struct{ o *storage.Outbox }

var _ outbox.OrgQueue = outboxQueue{}

func toStorageJob(j outbox.Job) storage.Job { return storage.Job(j) }

func (q outboxQueue) Add(ctx context.Context, j outbox.Job) (string, error) {
	return q.o.Add(ctx, toStorageJob(j))
}

func (q outboxQueue) Claim(ctx context.Context, consumer string, max int, block, lease time.Duration) ([]outbox.Job, error) {
	js, err := q.o.Claim(ctx, consumer, max, block, lease)
	out := make([]outbox.Job, len(js))
	for i, j := range js {
		out[i] = outbox.Job(j)
	}
	return out, err
}

func (q outboxQueue) Done(ctx context.Context, j outbox.Job) error {
	return q.o.Done(ctx, toStorageJob(j))
}

func (q outboxQueue) DoneMany(ctx context.Context, js []outbox.Job) error {
	out := make([]storage.Job, len(js))
	for i, j := range js {
		out[i] = toStorageJob(j)
	}
	return q.o.DoneMany(ctx, out)
}

func (q outboxQueue) Later(ctx context.Context, j outbox.Job, at time.Time) error {
	return q.o.Later(ctx, toStorageJob(j), at)
}

func (q outboxQueue) Dead(ctx context.Context, j outbox.Job, reason string) error {
	return q.o.Dead(ctx, toStorageJob(j), reason)
}

func (q outboxQueue) Pace(ctx context.Context, channel string, interval time.Duration) (time.Duration, error) {
	return q.o.Pace(ctx, channel, interval)
}

func (q outboxQueue) NextWork(ctx context.Context, lease time.Duration) (time.Time, error) {
	return q.o.NextWork(ctx, lease)
}

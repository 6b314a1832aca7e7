package outbox

import (
	"context"
	"sync"
)

// Batch is the work that the jobs of one claim defer to its end: a sender
// that can do part of each job's work for many jobs at once (the delivery
// router records where invitations went, and marks them settled, in one
// commit per batch rather than one per message) registers it with Defer,
// and the worker acknowledges those jobs only once every deferred flush
// has succeeded (one round trip for all of them, when the queue can).
// A flush that fails leaves its jobs unacknowledged: they come back after
// the lease, with Attempt > 0, as from a crashed worker.
type Batch struct {
	mu      sync.Mutex
	current string // the job being sent
	flushes []*flush
	byKey   map[any]*flush
	waiting map[string]bool // jobs with deferred work
	stash   map[any]any     // what Prepare worked out for the batch's jobs
}

type flush struct {
	run   func(ctx context.Context, items []any) error
	items []any
}

type batchKey struct{}

// BatchOf is the batch of the job being sent with ctx (nil outside a
// worker's batch: the sender does its work at once).
func BatchOf(ctx context.Context) *Batch {
	b, _ := ctx.Value(batchKey{}).(*Batch)
	return b
}

// Defer adds item to key's deferred work in this batch: run is called once
// at the batch's end with every item added under key, in order.
func (b *Batch) Defer(key any, run func(ctx context.Context, items []any) error, item any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.byKey[key]
	if !ok {
		f = &flush{run: run}
		b.byKey[key] = f
		b.flushes = append(b.flushes, f)
	}
	f.items = append(f.items, item)
	b.waiting[b.current] = true
}

func newBatch() *Batch {
	return &Batch{byKey: map[any]*flush{}, waiting: map[string]bool{}, stash: map[any]any{}}
}

// Stash keeps v under key for the rest of the batch: what a Prepare worked
// out for many of its jobs at once (their recipients, their rate slots),
// for the senders of those jobs to pick up.
func (b *Batch) Stash(key, v any) {
	b.mu.Lock()
	b.stash[key] = v
	b.mu.Unlock()
}

// Stashed is what Stash kept under key; each stashed value is taken once
// (a job sent twice in a batch would not find it again).
func (b *Batch) Stashed(key any) (any, bool) {
	if b == nil {
		return nil, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.stash[key]
	delete(b.stash, key)
	return v, ok
}

func (b *Batch) begin(id string) {
	b.mu.Lock()
	b.current = id
	b.mu.Unlock()
}

// deferred reports whether job id left work to the batch's end.
func (b *Batch) deferred(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting[id]
}

// finish runs every deferred flush; the first failure is returned.
func (b *Batch) finish(ctx context.Context) error {
	for _, f := range b.flushes {
		if err := f.run(ctx, f.items); err != nil {
			return err
		}
	}
	return nil
}

// DoneMany is what a Queue may offer to remove many sent jobs in one round
// trip; without it the worker calls Done for each.
type DoneMany interface {
	DoneMany(ctx context.Context, js []Job) error
}

package storage

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// Rings after commits are coalesced: while one ring call is under way, the
// rings that come in meanwhile wait for it, then go together in one
// pipelined round trip, an organization rung several times for one kind of
// work once, at its earliest time. Under load (sixteen commands at once)
// that is one round trip for many commits instead of one each, and alone a
// ring goes at once, as before. Each caller still returns only once its
// ring is in Redis: it comes after its commit, so the index never misses
// work the commit wrote (fleet.go).

type ringKey struct {
	kind FleetKind
	org  org.ID
}

// ringBatch is the rings waiting for the call under way to finish.
type ringBatch struct {
	at   map[ringKey]int64 // ms
	done chan struct{}
	err  error
}

// ringTimeout bounds a batch sent on behalf of callers that are waiting.
const ringTimeout = 5 * time.Second

// ringAll rings every (kind, org) of rs at its time, coalesced with the
// rings of other callers.
func (f *Fleet) ringAll(ctx context.Context, rs map[ringKey]int64) error {
	f.mu.Lock()
	if !f.busy {
		f.busy = true
		f.mu.Unlock()
		err := f.send(ctx, rs)
		f.handOff()
		return err
	}
	if f.next == nil {
		f.next = &ringBatch{at: map[ringKey]int64{}, done: make(chan struct{})}
	}
	b := f.next
	for k, at := range rs {
		if have, ok := b.at[k]; !ok || at < have {
			b.at[k] = at
		}
	}
	f.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err() // the batch still goes
	}
}

// handOff sends the batch that gathered during the last call, if any, and
// so on until none gathers.
func (f *Fleet) handOff() {
	f.mu.Lock()
	b := f.next
	f.next = nil
	if b == nil {
		f.busy = false
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ringTimeout)
		b.err = f.send(ctx, b.at)
		cancel()
		close(b.done)
		f.handOff()
	}()
}

// send rings rs in one pipelined round trip (the index's keys share one
// slot), or one by one when the scripts are not loaded yet (a pipeline
// cannot fall back from EVALSHA to EVAL).
func (f *Fleet) send(ctx context.Context, rs map[ringKey]int64) error {
	if len(rs) == 1 {
		for k, at := range rs {
			return f.Ring(ctx, k.kind, k.org, time.UnixMilli(at))
		}
	}
	cmds := make(map[ringKey]*redis.Cmd, len(rs))
	_, err := f.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, at := range rs {
			cmds[k] = fleetRing.EvalSha(ctx, p, fleetKeys(k.kind)[:3], string(k.org), at)
		}
		return nil
	})
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		var errs []error
		for k, at := range rs {
			errs = append(errs, f.Ring(ctx, k.kind, k.org, time.UnixMilli(at)))
		}
		return errors.Join(errs...)
	}
	if err != nil {
		return wrap("fleet ring", err)
	}
	if f.Notify != nil {
		for k := range cmds {
			f.Notify(k.kind, k.org)
		}
	}
	return nil
}

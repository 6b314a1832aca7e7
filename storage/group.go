package storage

import (
	"context"
	"sync"

	"github.com/usher-chat/usher/handlers/org"
)

// group batches calls to Redis: when several arrive while others are under
// way, they go together in one round trip. Under load this saves the round
// trip and the syscalls on both sides per call; alone, a call goes at once,
// as before: nothing ever waits for a batch to fill. Commits (committer)
// and the replay guards' marks (marker) are grouped this way.
//
// A call that finds fewer than maxCalls round trips under way makes one
// itself, taking the calls queued so far along; otherwise it queues, and
// the next round trip to finish hands the lead to the first call in the
// queue, which takes the queue along in turn. Each goroutine makes at most
// one round trip, so no caller waits for more than its own batch.
type group[In, Out any] struct {
	mu       sync.Mutex
	calls    int // round trips under way
	queue    []*pending[In, Out]
	maxCalls int // 0: defaultMaxCalls
	maxBatch int // 0: defaultMaxBatch
}

const (
	// defaultMaxCalls keeps a few round trips in flight, so that one slow
	// reply does not hold every call back.
	defaultMaxCalls = 4
	// defaultMaxBatch bounds a batch's run, which (for a script) blocks
	// Redis for everyone.
	defaultMaxBatch = 32
)

type pending[In, Out any] struct {
	in   In
	out  Out
	done chan struct{} // closed once out is set
	lead chan struct{} // told to make the next round trip
}

// do runs in, alone or in a batch with the calls under way: send makes one
// round trip for a batch and gives each call its own outcome, in order.
func (g *group[In, Out]) do(ctx context.Context, in In, send func(context.Context, []In) []Out) Out {
	p := &pending[In, Out]{in: in, done: make(chan struct{})}
	g.mu.Lock()
	if g.calls < orDefault(g.maxCalls, defaultMaxCalls) {
		g.calls++
		g.mu.Unlock()
		g.run(ctx, p, send)
	} else {
		p.lead = make(chan struct{}, 1)
		g.queue = append(g.queue, p)
		g.mu.Unlock()
		select {
		case <-p.done:
		case <-p.lead:
			g.run(ctx, p, send)
		}
	}
	<-p.done
	return p.out
}

// run makes one round trip for first and the calls queued behind it, then
// hands the lead on (or gives the round trip's slot back).
func (g *group[In, Out]) run(ctx context.Context, first *pending[In, Out], send func(context.Context, []In) []Out) {
	g.mu.Lock()
	n := min(len(g.queue), orDefault(g.maxBatch, defaultMaxBatch)-1)
	batch := append([]*pending[In, Out]{first}, g.queue[:n]...)
	g.queue = g.queue[n:]
	g.mu.Unlock()

	ins := make([]In, len(batch))
	for i, p := range batch {
		ins[i] = p.in
	}
	// The others' calls ride on this one: the caller's cancellation must
	// not fail them (the client's own timeouts still bound it).
	outs := send(context.WithoutCancel(ctx), ins)
	for i, p := range batch {
		p.out = outs[i]
		close(p.done)
	}

	g.mu.Lock()
	if len(g.queue) == 0 {
		g.queue = nil
		g.calls--
		g.mu.Unlock()
		return
	}
	next := g.queue[0]
	g.queue = g.queue[1:]
	g.mu.Unlock()
	next.lead <- struct{}{}
}

// committer groups commits into calls of apply.lua, which applies each one
// on its own (its guards, then its writes, or nothing): a grouped commit
// also saves a script start.
type committer = group[org.Change, committed]

type committed struct {
	err  error
	rung bool // the fleet's rings went with the call
}

func (s *Store) commitGrouped(ctx context.Context, ch org.Change) (rung bool, err error) {
	c := s.group.do(ctx, ch, func(ctx context.Context, changes []org.Change) []committed {
		errs, rung := s.applyRinging(ctx, changes)
		out := make([]committed, len(changes))
		for i, err := range errs {
			out[i] = committed{err, rung}
		}
		return out
	})
	return c.rung, c.err
}

// orDefault is v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

package storage

import (
	"context"
	"sync"

	"github.com/usher-chat/usher/handlers/org"
)

// committer groups commits: when several arrive while others are under way,
// they go to Redis together in one call of apply.lua, which applies each one
// on its own (its guards, then its writes, or nothing). Under load this
// saves a round trip, a script start and the syscalls on both sides per
// commit; alone, a commit goes at once, as before: nothing ever waits for a
// batch to fill.
//
// A commit that finds fewer than maxCalls script calls under way makes one
// itself, taking the commits queued so far along; otherwise it queues, and
// the next call to finish hands the lead to the first commit in the queue,
// which takes the queue along in turn. Each goroutine runs at most one call,
// so no request waits for more than its own batch.
type committer struct {
	mu       sync.Mutex
	calls    int // script calls under way
	queue    []*pendingCommit
	maxCalls int // 0: defaultMaxCalls
	maxBatch int // 0: defaultMaxBatch
}

const (
	// defaultMaxCalls keeps a few calls in flight, so that one slow reply
	// does not hold every commit back.
	defaultMaxCalls = 4
	// defaultMaxBatch bounds a script's run, which blocks Redis for everyone.
	defaultMaxBatch = 32
)

type pendingCommit struct {
	ch   org.Change
	err  error
	rung bool          // the fleet's rings went with the call
	done chan struct{} // closed once err is set
	lead chan struct{} // told to make the next call
}

func (c *committer) commit(ctx context.Context, s *Store, ch org.Change) (rung bool, err error) {
	p := &pendingCommit{ch: ch, done: make(chan struct{})}
	c.mu.Lock()
	if c.calls < orDefault(c.maxCalls, defaultMaxCalls) {
		c.calls++
		c.mu.Unlock()
		c.run(ctx, s, p)
	} else {
		p.lead = make(chan struct{}, 1)
		c.queue = append(c.queue, p)
		c.mu.Unlock()
		select {
		case <-p.done:
		case <-p.lead:
			c.run(ctx, s, p)
		}
	}
	<-p.done
	return p.rung, p.err
}

// run makes one script call for first and the commits queued behind it, then
// hands the lead on (or gives the call's slot back).
func (c *committer) run(ctx context.Context, s *Store, first *pendingCommit) {
	c.mu.Lock()
	n := min(len(c.queue), orDefault(c.maxBatch, defaultMaxBatch)-1)
	batch := append([]*pendingCommit{first}, c.queue[:n]...)
	c.queue = c.queue[n:]
	c.mu.Unlock()

	changes := make([]org.Change, len(batch))
	for i, p := range batch {
		changes[i] = p.ch
	}
	// The others' commits ride on this call: the caller's cancellation must
	// not fail them (the client's own timeouts still bound it).
	errs, rung := s.applyRinging(context.WithoutCancel(ctx), changes)
	for i, p := range batch {
		p.err, p.rung = errs[i], rung
		close(p.done)
	}

	c.mu.Lock()
	if len(c.queue) == 0 {
		c.queue = nil
		c.calls--
		c.mu.Unlock()
		return
	}
	next := c.queue[0]
	c.queue = c.queue[1:]
	c.mu.Unlock()
	next.lead <- struct{}{}
}

// orDefault is v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

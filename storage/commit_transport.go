package storage

// How a commit travels: apply.lua's call, followed by WAIT when replicas
// must confirm it (RequireReplicas), and when the reply is lost on the way,
// settle, which finds out whether the commit applied.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// RequireReplicas makes every Commit wait until n replicas have the write
// (WAIT n timeout, sent in the same round trip as the script) before it is
// reported done. With Redis's asynchronous replication a write acknowledged
// by a master that dies a moment later can be lost when Sentinel promotes a
// replica; with n >= 1 a write is only acknowledged once a replica holds it.
// When fewer than n replicas confirm within timeout, Commit fails with
// org.ErrMaybeApplied: the master holds the write, which may or may not
// survive, and the user is told to check before trying again (a retry then
// sees what survived). n = 0 (the default) turns
// waiting off. Call it before the store is used.
func (s *Store) RequireReplicas(n int, timeout time.Duration) {
	s.minReplicas, s.waitTimeout = n, timeout
}

// errNoReplicas starts with NOREPLICAS so that wrap reports it as
// org.ErrUnavailable, like Redis's own min-replicas-to-write refusal.
var errNoReplicas = errors.New("NOREPLICAS not enough replicas acknowledged the write")

// runApply runs the apply script, with what rides along (commit_riders.go)
// in the same round trip, and WAIT last when replicas are required.
func (s *Store) runApply(ctx context.Context, keys []string, args []any, r riders) *redis.Cmd {
	if s.minReplicas <= 0 && r.empty() {
		return applyScript.Run(ctx, s.rdb, keys, args...)
	}
	// WAIT has no key: on a cluster it must go to the master of the org's
	// slot, the one that ran the script (no riders there: riding).
	var c redis.Cmdable = s.rdb
	if cc, ok := s.rdb.(*redis.ClusterClient); ok && len(keys) > 0 {
		node, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(err)
			return cmd
		}
		c = node
	}
	timeout := s.waitTimeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	var sent rode
	run := func(eval func(p redis.Pipeliner) *redis.Cmd) (*redis.Cmd, error) {
		var res *redis.Cmd
		var wait *redis.IntCmd
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			sent = r.before(ctx, p, s.keys.org)
			res = eval(p)
			r.after(ctx, p, &sent)
			if s.minReplicas > 0 {
				wait = redis.NewIntCmd(ctx, "wait", s.minReplicas, timeout.Milliseconds())
				_ = p.Process(ctx, wait)
			}
			return nil
		})
		if res.Err() != nil {
			return res, nil
		}
		if err != nil && !sent.only(err) {
			return res, err
		}
		if wait == nil {
			return res, nil
		}
		if n, err := wait.Result(); err != nil {
			return res, err
		} else if n < int64(s.minReplicas) {
			return res, fmt.Errorf("%w (%d of %d within %v)", errNoReplicas, n, s.minReplicas, timeout)
		}
		return res, nil
	}
	res, err := run(func(p redis.Pipeliner) *redis.Cmd { return applyScript.EvalSha(ctx, p, keys, args...) })
	if res != nil && res.Err() != nil && strings.HasPrefix(res.Err().Error(), "NOSCRIPT") {
		res, err = run(func(p redis.Pipeliner) *redis.Cmd { return applyScript.Eval(ctx, p, keys, args...) })
	}
	if err == nil && res.Err() == nil {
		s.settleRiders(ctx, r, sent)
	}
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return res
}

// After a commit's call failed on the way (a timeout, a dropped
// connection), the commit may have applied, may never apply, or may still be
// waiting in Redis's input buffer to apply when Redis wakes up (a stalled,
// SIGSTOPped or overloaded server; go-redis has by then closed the
// connection, but Redis still runs what it had read). Telling the user
// "nothing was changed" is only true in the second case, so settle finds out
// which case it is, through the commit's id (its "once" marker, apply.lua):
//
//   - It claims the id with SET NX on a fresh connection (a fence). If the
//     claim succeeds, the commit had not applied, and now never will: when
//     a stalled copy runs it finds the id taken and writes nothing (the
//     "once" op takes it for a re-send). "Nothing was changed" is then
//     certain, whichever order the fence and a stalled copy reach Redis in.
//   - If the id is already there, the commit applied (the marker is written
//     only with the commit's writes): it is reported done, as if the reply
//     had come. With RequireReplicas, though, no replica confirmed it, so it
//     is reported as maybe applied.
//   - If the fence gets no answer in time either (Redis is stopped, not
//     slow), the outcome cannot be known: org.ErrMaybeApplied, and the user
//     is told where to check. The fence may still land first when Redis
//     wakes, and then the commit does not apply; "may" stays true.
//   - If nothing listens any more (the fence's connection is refused) and
//     the call never waited for a reply (it failed at once: refused dials),
//     no attempt was ever in a live server's hands: nothing was changed.
//
// The check is one pipelined round trip and settle waits at most
// fenceTimeout for it: with ChatTimeouts a commit's call takes up to ~1.7 s
// (two attempts of 800 ms), and Slack's adapter answers by 2.5 s (bot/slack
// Config.Budget), so ~2 s in all. (go-redis does not bound socket reads by
// the context, so the wait is bounded here, not by a context deadline.)
const fenceTimeout = 300 * time.Millisecond

// quickFailure is how fast a call fails when no attempt was ever sent to a
// live server (dials refused): far below any read timeout (ChatTimeouts:
// 800 ms), which a sent attempt waits for before it fails.
const quickFailure = 250 * time.Millisecond

// fenceLifetime is how long a claimed commit id is kept. It must outlast any
// copy of the commit still on its way: in Redis's input buffer it runs the
// moment Redis reads it, but in the network TCP retransmits for up to ~15
// minutes. One small key per commit that failed, so an hour is cheap.
const fenceLifetime = time.Hour

// fenceValue marks a commit id claimed by settle, not by the commit.
const fenceValue = "abandoned"

// settle reports, for each change of a call that failed with cause after
// took, whether it applied (nil), certainly did not (org.ErrUnavailable), or
// cannot be known (org.ErrMaybeApplied). ids are the changes' commit id keys.
func (s *Store) settle(ctx context.Context, ids []string, cause error, took time.Duration) []error {
	errs := make([]error, len(ids))
	claims := make([]*redis.BoolCmd, len(ids))
	done := make(chan error, 1)
	// The check outlives settle's wait when Redis does not answer; it ends
	// with the client's own timeouts.
	go func() {
		_, err := s.rdb.Pipelined(context.WithoutCancel(ctx), func(p redis.Pipeliner) error {
			for i, id := range ids {
				claims[i] = p.SetNX(ctx, id, fenceValue, fenceLifetime)
			}
			return nil
		})
		done <- err
	}()
	var err error
	timer := time.NewTimer(fenceTimeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-timer.C:
		err = fmt.Errorf("no answer within %v", fenceTimeout)
	}
	for i := range ids {
		var claimed bool
		if err == nil {
			claimed, err = claims[i].Result()
		}
		switch {
		case err != nil && refused(err) && refused(cause) && took < quickFailure:
			errs[i] = fmt.Errorf("commit: never sent: %w", errors.Join(org.ErrUnavailable, cause))
		case err != nil:
			errs[i] = fmt.Errorf("commit: outcome unknown (check: %v): %w", err, errors.Join(org.ErrMaybeApplied, cause))
		case claimed:
			errs[i] = fmt.Errorf("commit: not applied, fenced off: %w", errors.Join(org.ErrUnavailable, cause))
		case s.minReplicas > 0:
			errs[i] = fmt.Errorf("commit: applied on the master, not confirmed by a replica: %w", errors.Join(org.ErrMaybeApplied, cause))
		default:
			errs[i] = nil // applied: only its reply was lost
		}
	}
	return errs
}

// refused reports a connection that could not be made: nothing listens.
func refused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &op) && op.Op == "dial"
}

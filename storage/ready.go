package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// scripts are every Lua script storage runs; Ready checks that Redis (every
// master, on a cluster) has them cached. Add a new script here.
var scripts = []*redis.Script{readScript, applyScript, outboxPromote, outboxMove, claimScript, sessionCreate, sessionAttempt}

// ScriptHashes returns the SHA1 digests of every script storage runs.
func ScriptHashes() []string {
	out := make([]string, len(scripts))
	for i, sc := range scripts {
		out[i] = sc.Hash()
	}
	return out
}

// Ready reports whether the store can serve: Redis answers and every Lua
// script is cached on every master (a restarted or newly promoted master
// starts with an empty script cache; Ready loads what is missing, on a
// cluster through go-redis's ScriptLoad, which runs on every master).
// `GET /readyz` calls it.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return wrap("ready: ping", err)
	}
	hashes := ScriptHashes()
	// On a ClusterClient SCRIPT EXISTS asks every master and ANDs the answers.
	have, err := s.rdb.ScriptExists(ctx, hashes...).Result()
	if err != nil {
		return wrap("ready: script exists", err)
	}
	for i, ok := range have {
		if ok {
			continue
		}
		if err := scripts[i].Load(ctx, s.rdb).Err(); err != nil {
			return wrap("ready: load script", err)
		}
	}
	return nil
}

// RequireReplicas makes every Commit wait until n replicas have the write
// (WAIT n timeout, sent in the same round trip as the script) before it is
// reported done. With Redis's asynchronous replication a write acknowledged
// by a master that dies a moment later can be lost when Sentinel promotes a
// replica; with n >= 1 a write is only acknowledged once a replica holds it.
// When fewer than n replicas confirm within timeout, Commit fails with
// org.ErrUnavailable: the write may or may not survive, and the user is told
// to try again (a retry then sees what survived). n = 0 (the default) turns
// waiting off. Call it before the store is used.
func (s *Store) RequireReplicas(n int, timeout time.Duration) {
	s.minReplicas, s.waitTimeout = n, timeout
}

// errNoReplicas starts with NOREPLICAS so that wrap reports it as
// org.ErrUnavailable, like Redis's own min-replicas-to-write refusal.
var errNoReplicas = errors.New("NOREPLICAS not enough replicas acknowledged the write")

// runApply runs the apply script, followed by WAIT when replicas are required.
func (s *Store) runApply(ctx context.Context, keys []string, args []any) *redis.Cmd {
	if s.minReplicas <= 0 {
		return applyScript.Run(ctx, s.rdb, keys, args...)
	}
	// WAIT has no key: on a cluster it must go to the master of the org's
	// slot, the one that ran the script.
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
	run := func(eval func(p redis.Pipeliner) *redis.Cmd) (*redis.Cmd, error) {
		var res *redis.Cmd
		var wait *redis.IntCmd
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			res = eval(p)
			wait = redis.NewIntCmd(ctx, "wait", s.minReplicas, timeout.Milliseconds())
			_ = p.Process(ctx, wait)
			return nil
		})
		if res.Err() != nil {
			return res, nil
		}
		if err != nil {
			return res, err
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
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return res
}

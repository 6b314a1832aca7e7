package storage

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// scripts are every Lua script storage runs while serving; Ready checks that
// Redis (every master, on a cluster) has them cached, so a restarted Redis
// gets them back before traffic rather than one NOSCRIPT round trip each.
// Add a new script here. (The email-case migration's scripts run once, at
// start, and are left out.)
var scripts = []*redis.Script{
	readScript, applyScript, claimScript,
	outboxPromote, outboxMove, outboxAddOnce, outboxPace,
	sessionCreate, sessionAttempt,
	directoryLink, directoryRemove,
	fleetRing, fleetDue, fleetSettle, fleetNextSchedule, outboxNext,
}

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

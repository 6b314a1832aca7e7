package storage

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// ScheduleRequests puts in the due queue every waiting invitation request
// that is not there: versions before requests expired wrote none, so the
// sweep would never close them or tell their requesters. ZADD NX leaves an
// entry the sweep or a commit wrote alone, so it is safe beside a running
// replica and a second run finds nothing to do. It reads the organization's
// own requests index (no SCAN), cheap enough for every start.
func (s *Store) ScheduleRequests(ctx context.Context) (int, error) {
	k := s.keys
	ids, err := s.rdb.ZRange(ctx, k.requests(), 0, -1).Result()
	if err != nil || len(ids) == 0 {
		return 0, wrap("schedule requests: requests index", err)
	}
	scores := make([]*redis.FloatCmd, len(ids))
	expires := make([]*redis.StringCmd, len(ids))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			scores[i] = p.ZScore(ctx, k.due(), dueInvitation(id))
			expires[i] = p.HGet(ctx, k.inv(id), "expires")
		}
		return nil
	}); err != nil && err != redis.Nil {
		return 0, wrap("schedule requests: read", err)
	}
	var add []redis.Z
	for i, id := range ids {
		if scores[i].Err() == nil {
			continue // already due
		}
		at, err := strconv.ParseInt(expires[i].Val(), 10, 64)
		if err != nil || at <= 0 {
			continue // no record or no expiry: nothing to close it at
		}
		add = append(add, redis.Z{Score: float64(at), Member: dueInvitation(id)})
	}
	if len(add) == 0 {
		return 0, nil
	}
	n, err := s.rdb.ZAddNX(ctx, k.due(), add...).Result()
	return int(n), wrap("schedule requests: due queue", err)
}

package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// markOnceWith is one mark's SET NX on its own, with nonce as its value
// (see markOnce).
func markOnceWith(ctx context.Context, rdb redis.Cmdable, key, nonce string, ttl time.Duration) (bool, error) {
	ok, err := rdb.SetNX(ctx, key, nonce, ttl).Result()
	if err != nil || ok {
		return ok, err
	}
	return ownMark(ctx, rdb, key, nonce, ttl)
}

// ownMark reports whether key, found set, is this call's own mark (nonce).
func ownMark(ctx context.Context, rdb redis.Cmdable, key, nonce string, ttl time.Duration) (bool, error) {
	v, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		// Gone between the two (expired, or forgotten): take it now.
		return rdb.SetNX(ctx, key, nonce, ttl).Result()
	}
	return err == nil && v == nonce, err
}

// marker groups the marks of requests arriving together (group.go): every
// request a chat adapter receives is marked before it runs, so under load
// the marks would otherwise cost a round trip each.
type marker = group[mark, marked]

// markCalls is how many round trips of marks go at once. A mark is one
// SET NX, so one pipeline carries everyone's: while it is under way the
// next marks queue for the one after it. At 16 clients on 2 cores, 1 takes
// 0.88 Redis round trips per /usher invite (mark and commit), 2 takes
// 1.05, and the commits' 4 took 1.35 (cmd/usher BenchmarkSlackLoad).
const markCalls = 1

type mark struct {
	key, nonce string
	ttl        time.Duration
}

type marked struct {
	first bool
	err   error
}

// markOnce sets key for ttl unless it is set, and reports whether this
// call set it: the replay guards' "first use". go-redis re-sends a command
// whose reply timed out, so under load one SET NX can run twice; a plain
// marker would then answer the retry "already set" and refuse the first
// delivery of a request as its own replay. The mark holds a nonce of this
// call instead: finding its own nonce, the call knows the earlier run was
// its own. The round trip is shared with the marks under way through m.
func markOnce(ctx context.Context, m *marker, rdb redis.Cmdable, key string, ttl time.Duration) (bool, error) {
	b := make([]byte, 12)
	rand.Read(b)
	r := m.do(ctx, mark{key, hex.EncodeToString(b), ttl}, func(ctx context.Context, ms []mark) []marked {
		return markBatch(ctx, rdb, ms)
	})
	return r.first, r.err
}

// markBatch sets the marks of ms in one pipeline; a mark found set is then
// checked on its own (ownMark), which only a replay or a re-sent SET NX
// needs.
func markBatch(ctx context.Context, rdb redis.Cmdable, ms []mark) []marked {
	out := make([]marked, len(ms))
	if len(ms) == 1 {
		out[0].first, out[0].err = markOnceWith(ctx, rdb, ms[0].key, ms[0].nonce, ms[0].ttl)
		return out
	}
	cmds := make([]*redis.BoolCmd, len(ms))
	// Each command's own error is read below; Pipelined's is the first of them.
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range ms {
			cmds[i] = p.SetNX(ctx, m.key, m.nonce, m.ttl)
		}
		return nil
	})
	for i, c := range cmds {
		ok, err := c.Result()
		if err == nil && !ok {
			ok, err = ownMark(ctx, rdb, ms[i].key, ms[i].nonce, ms[i].ttl)
		}
		out[i] = marked{ok, err}
	}
	return out
}

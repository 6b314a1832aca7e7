package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// markOnce sets key for ttl unless it is set, and reports whether this
// call set it: the replay guards' "first use". go-redis re-sends a command
// whose reply timed out, so under load one SET NX can run twice; a plain
// marker would then answer the retry "already set" and refuse the first
// delivery of a request as its own replay. The mark holds a nonce of this
// call instead: finding its own nonce, the call knows the earlier run was
// its own.
func markOnce(ctx context.Context, rdb redis.Cmdable, key string, ttl time.Duration) (bool, error) {
	b := make([]byte, 12)
	rand.Read(b)
	return markOnceWith(ctx, rdb, key, hex.EncodeToString(b), ttl)
}

func markOnceWith(ctx context.Context, rdb redis.Cmdable, key, nonce string, ttl time.Duration) (bool, error) {
	ok, err := rdb.SetNX(ctx, key, nonce, ttl).Result()
	if err != nil || ok {
		return ok, err
	}
	v, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		// Gone between the two (expired, or forgotten): take it now.
		return rdb.SetNX(ctx, key, nonce, ttl).Result()
	}
	return err == nil && v == nonce, err
}

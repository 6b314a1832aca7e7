package storage

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// ChatTimeouts tunes a go-redis client for chat: Slack waits 3 seconds for an
// answer, so a dead or unreachable Redis must fail within about one second
// (and the user be told to try again) rather than be retried at length.
// go-redis's defaults retry a refused dial 5 times, 100 ms apart, per attempt.
func ChatTimeouts(opt *redis.Options) {
	opt.DialTimeout = 500 * time.Millisecond
	opt.ReadTimeout = 800 * time.Millisecond
	opt.WriteTimeout = 800 * time.Millisecond
	opt.MaxRetries = 1
	opt.MinRetryBackoff = 10 * time.Millisecond
	opt.MaxRetryBackoff = 50 * time.Millisecond
	opt.DialerRetries = 1
	opt.DialerRetryTimeout = 20 * time.Millisecond
	opt.PoolTimeout = time.Second
}

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

// ChatTimeoutsUniversal is ChatTimeouts for Sentinel and Cluster clients
// (redis.UniversalOptions, turned into FailoverOptions or ClusterOptions by
// NewUniversalClient). A cluster follows up to 3 MOVED/ASK redirects, enough
// for a resharding or a failover of one slot's master.
func ChatTimeoutsUniversal(opt *redis.UniversalOptions) {
	var o redis.Options
	ChatTimeouts(&o)
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = o.DialTimeout, o.ReadTimeout, o.WriteTimeout
	opt.MaxRetries, opt.MinRetryBackoff, opt.MaxRetryBackoff = o.MaxRetries, o.MinRetryBackoff, o.MaxRetryBackoff
	opt.DialerRetries, opt.DialerRetryTimeout = o.DialerRetries, o.DialerRetryTimeout
	opt.PoolTimeout = o.PoolTimeout
	opt.MaxRedirects = 3
}

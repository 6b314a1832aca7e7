package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/storage"
)

// redisConfig is how usher reaches Redis, from the environment. Exactly one
// of three topologies:
//
//	REDIS_URL             redis://[user:pass@]host:port/db, rediss:// (TLS), unix:///path.sock?db=0
//	REDIS_SENTINEL_ADDRS  host:port,host:port (Sentinels) with REDIS_MASTER_NAME (and REDIS_DB)
//	REDIS_CLUSTER_ADDRS   host:port,host:port (any cluster nodes; the rest are discovered)
//
// and, for all of them: REDIS_USERNAME, REDIS_PASSWORD (override the URL's),
// REDIS_SENTINEL_PASSWORD, REDIS_TLS=true (TLS for Sentinel or Cluster; a
// URL says rediss://), REDIS_MIN_REPLICAS (every change waits until that many
// replicas hold it, see storage.Store.RequireReplicas) and REDIS_WAIT_TIMEOUT
// (how long it waits, default 500ms).
type redisConfig struct {
	url              string
	sentinelAddrs    []string
	masterName       string
	clusterAddrs     []string
	username         string
	password         string
	sentinelPassword string
	tls              bool
	db               int
	minReplicas      int
	waitTimeout      time.Duration
}

// configured reports whether any Redis is configured (else the shell embeds one).
func (r redisConfig) configured() bool {
	return r.url != "" || len(r.sentinelAddrs) > 0 || len(r.clusterAddrs) > 0
}

// describe names the Redis for people, without any password.
func (r redisConfig) describe() string {
	switch {
	case len(r.sentinelAddrs) > 0:
		return fmt.Sprintf("Sentinel master %q via %s", r.masterName, strings.Join(r.sentinelAddrs, ","))
	case len(r.clusterAddrs) > 0:
		return "Cluster " + strings.Join(r.clusterAddrs, ",")
	}
	return redactURL(r.url)
}

func splitAddrs(v string) []string {
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// loadRedisConfig reads the Redis settings; it returns every problem found.
func loadRedisConfig(getenv func(string) string) (redisConfig, []string) {
	r := redisConfig{
		url:              strings.TrimSpace(getenv("REDIS_URL")),
		sentinelAddrs:    splitAddrs(getenv("REDIS_SENTINEL_ADDRS")),
		masterName:       strings.TrimSpace(getenv("REDIS_MASTER_NAME")),
		clusterAddrs:     splitAddrs(getenv("REDIS_CLUSTER_ADDRS")),
		username:         getenv("REDIS_USERNAME"),
		password:         getenv("REDIS_PASSWORD"),
		sentinelPassword: getenv("REDIS_SENTINEL_PASSWORD"),
		waitTimeout:      500 * time.Millisecond,
	}
	var problems []string
	modes := 0
	for _, set := range []bool{r.url != "", len(r.sentinelAddrs) > 0, len(r.clusterAddrs) > 0} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		problems = append(problems, "set only one of REDIS_URL, REDIS_SENTINEL_ADDRS and REDIS_CLUSTER_ADDRS")
	}
	if r.url != "" {
		if _, err := redis.ParseURL(r.url); err != nil {
			problems = append(problems, fmt.Sprintf("REDIS_URL: %v (want redis://, rediss:// or unix://)", redactErr(err, r.url)))
		}
	}
	for _, v := range []struct {
		name  string
		addrs []string
	}{{"REDIS_SENTINEL_ADDRS", r.sentinelAddrs}, {"REDIS_CLUSTER_ADDRS", r.clusterAddrs}} {
		for _, a := range v.addrs {
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				problems = append(problems, fmt.Sprintf("%s: %q is not host:port", v.name, a))
			}
		}
	}
	if len(r.sentinelAddrs) > 0 && r.masterName == "" {
		problems = append(problems, "REDIS_SENTINEL_ADDRS needs REDIS_MASTER_NAME (the master's name in sentinel.conf, e.g. mymaster)")
	}
	if r.masterName != "" && len(r.sentinelAddrs) == 0 {
		problems = append(problems, "REDIS_MASTER_NAME is set but REDIS_SENTINEL_ADDRS is not")
	}
	if v := getenv("REDIS_TLS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("REDIS_TLS %q: want true or false", v))
		}
		r.tls = b
		if b && r.url != "" {
			problems = append(problems, "REDIS_TLS is for Sentinel and Cluster; with REDIS_URL use rediss://")
		}
	}
	if v := getenv("REDIS_DB"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 0:
			problems = append(problems, fmt.Sprintf("REDIS_DB %q: want a database number", v))
		case len(r.clusterAddrs) > 0 && n != 0:
			problems = append(problems, "REDIS_DB: a cluster has only database 0")
		}
		r.db = n
	}
	if v := getenv("REDIS_MIN_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			problems = append(problems, fmt.Sprintf("REDIS_MIN_REPLICAS %q: want a number of replicas (0 turns waiting off)", v))
		}
		r.minReplicas = n
	}
	if v := getenv("REDIS_WAIT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("REDIS_WAIT_TIMEOUT %q: want a duration such as 500ms", v))
		}
		r.waitTimeout = d
	}
	return r, problems
}

// redactErr removes a URL's password from a parse error that quotes it.
func redactErr(err error, url string) string {
	msg := err.Error()
	if i := strings.Index(url, "://"); i >= 0 {
		if at := strings.LastIndex(url, "@"); at > i {
			if _, pass, ok := strings.Cut(url[i+3:at], ":"); ok && pass != "" {
				msg = strings.ReplaceAll(msg, pass, "***")
			}
		}
	}
	return msg
}

// newRedisClient builds the one go-redis client behind usher for the
// configured topology, with storage's chat timeouts. It does not dial.
func newRedisClient(r redisConfig) (redis.UniversalClient, error) {
	if r.url != "" {
		opt, err := redis.ParseURL(r.url)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %s", redactErr(err, r.url))
		}
		if r.username != "" {
			opt.Username = r.username
		}
		if r.password != "" {
			opt.Password = r.password
		}
		storage.ChatTimeouts(opt)
		return redis.NewClient(opt), nil
	}
	u := &redis.UniversalOptions{
		Username:         r.username,
		Password:         r.password,
		SentinelPassword: r.sentinelPassword,
		DB:               r.db,
	}
	if r.tls {
		u.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	storage.ChatTimeoutsUniversal(u)
	switch {
	case len(r.sentinelAddrs) > 0:
		u.Addrs, u.MasterName = r.sentinelAddrs, r.masterName
		return redis.NewFailoverClient(u.Failover()), nil
	case len(r.clusterAddrs) > 0:
		u.Addrs = r.clusterAddrs
		return redis.NewClusterClient(u.Cluster()), nil
	}
	return nil, errors.New("no Redis configured: set REDIS_URL (e.g. redis://localhost:6379/0), REDIS_SENTINEL_ADDRS with REDIS_MASTER_NAME, or REDIS_CLUSTER_ADDRS")
}

// connect opens Redis as configured, or with embedded set and nothing
// configured an in-process miniredis running the very same scripts.
// operatorRedis is the configuration and the Redis connection of an
// operator's command (usher admin, org, scim): the deployment's Redis, never
// the embedded one.
func operatorRedis(ctx context.Context, e env) (config, redis.UniversalClient, func(), error) {
	cfg, err := loadConfig(e.getenv)
	if err != nil {
		return config{}, nil, nil, err
	}
	rdb, closeRedis, err := connect(ctx, cfg, false)
	if err != nil {
		return config{}, nil, nil, err
	}
	return cfg, rdb, closeRedis, nil
}

func connect(ctx context.Context, cfg config, embedded bool) (redis.UniversalClient, func(), error) {
	if !cfg.redis.configured() {
		if !embedded {
			_, err := newRedisClient(cfg.redis)
			return nil, nil, err
		}
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return nil, nil, fmt.Errorf("start embedded redis: %w", err)
		}
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		return rdb, func() { rdb.Close(); mr.Close() }, nil
	}
	rdb, err := newRedisClient(cfg.redis)
	if err != nil {
		return nil, nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("connect to redis (%s): %w", cfg.redis.describe(), err)
	}
	return rdb, func() { rdb.Close() }, nil
}

// newStore opens the organization's store with the configured durability,
// ringing the deployment's due-organizations index (storage.Fleet).
func newStore(cfg config, rdb redis.UniversalClient) (*storage.Store, error) {
	st, err := storage.New(rdb, cfg.org)
	if err != nil {
		return nil, err
	}
	st.RequireReplicas(cfg.redis.minReplicas, cfg.redis.waitTimeout)
	st.SealWith(cfg.secret.sealKey())
	// Every Service of cmd/usher has a deployment (newDeployment), whose
	// person index finds a person's organizations.
	st.IndexPeople()
	if cfg.redis.configured() {
		// What this store commits is found by every replica's background
		// loops (serve's, and the operator's commands'); the embedded demo
		// Redis has no other replica and runs its schedule itself.
		st.UseFleet(storage.NewFleet(rdb))
	}
	return st, nil
}

// migrateEmailCase moves what versions before the email identity rule stored
// under capitalized spellings (storage.MigrateEmailCase) before anything
// reads or writes, and refuses to start when one person is stored twice.
func migrateEmailCase(ctx context.Context, st *storage.Store, log *slog.Logger, clock func() time.Time) error {
	if clock == nil {
		clock = time.Now
	}
	rep, err := st.MigrateEmailCase(ctx, clock())
	if err != nil {
		return fmt.Errorf("migrate email case: %w", err)
	}
	if rep != (storage.EmailCaseReport{}) {
		log.InfoContext(ctx, "moved records stored under capitalized email spellings to their identity",
			"users", rep.Users, "invitations", rep.Invitations, "chat_links", rep.ChatLinks)
	}
	return scheduleRequests(ctx, st, log)
}

// scheduleRequests gives invitation requests written before they expired
// their place in the due queue (storage.ScheduleRequests), so the sweep
// closes them and tells their requesters.
func scheduleRequests(ctx context.Context, st *storage.Store, log *slog.Logger) error {
	n, err := st.ScheduleRequests(ctx)
	if err != nil {
		return fmt.Errorf("schedule invitation requests: %w", err)
	}
	if n > 0 {
		log.InfoContext(ctx, "invitation requests from before requests expired are now due at their expiry", "requests", n)
	}
	return nil
}

// redisLog routes go-redis's own messages (failed dials, sentinel switches)
// into usher's structured log, so that every line of `usher serve` is JSON.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)), "part", "go-redis")
}

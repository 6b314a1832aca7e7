package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/metrics"
	"github.com/usher-chat/usher/handlers/command"
	"github.com/usher-chat/usher/storage"
)

// mountMetrics serves GET /metrics (Prometheus text format) from the
// server's own registry on USHER_METRICS_ADDR (default 127.0.0.1:9090; "off"
// serves none), with the command label limited to real commands, counts failed Redis commands with a go-redis hook,
// and reports the outbox's depth and age at every scrape. Chat adapters add
// their requests with s.metrics.Observe; the scheduler its reminders with
// s.metrics.ReminderSent.
func mountMetrics(s *server) error {
	s.rdb.AddHook(redisErrorHook{s.metrics})
	// The one outbox, set up (stream and consumer group) before build: Stats reads the group.
	if err := s.metrics.Registry().Register(outboxCollector{s.queue.Outbox()}); err != nil {
		return err
	}
	s.metrics.KnownCommands(commandNames(s.svc.Registry()))
	// /metrics has a listener of its own (serve.go), loopback unless told
	// otherwise: it tells whoever reads it what people are doing, and it
	// is nothing a chat platform or a browser needs.
	s.metricsAddr = cmp.Or(strings.TrimSpace(s.getenv("USHER_METRICS_ADDR")), defaultMetricsAddr)
	if s.metricsAddr == "off" {
		s.metricsAddr = ""
	}
	return nil
}

// defaultMetricsAddr is where /metrics is served without USHER_METRICS_ADDR.
const defaultMetricsAddr = "127.0.0.1:9090"

// metricsHandler serves GET /metrics and nothing else.
func (s *server) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	return mux
}

// commandNames maps what someone typed first to the command's name for the
// metrics' command label: a verb or alias gives its command's first word
// (pending -> invitations; workspace create -> workspace), as does the first
// word of a two-word command; anything else is not a command.
func commandNames(reg *command.Registry) func(string) (string, bool) {
	groups := map[string]bool{}
	for _, sp := range reg.Visible() {
		if first, _, ok := strings.Cut(sp.Verb, " "); ok {
			groups[first] = true
		}
	}
	return func(word string) (string, bool) {
		if sp, ok := reg.Lookup(word); ok {
			first, _, _ := strings.Cut(sp.Verb, " ")
			return first, true
		}
		if groups[word] {
			return word, true
		}
		return "", false
	}
}

// redisErrorHook counts Redis commands that failed: connection errors,
// timeouts and error replies, but not a nil reply (a missing key) nor the
// expected NOSCRIPT (go-redis then sends the script), BUSYGROUP (the
// outbox's consumer group already exists) and NOGROUP (no outbox yet).
type redisErrorHook struct{ m *metrics.Metrics }

func (h redisErrorHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			h.m.RedisError("dial")
		}
		return c, err
	}
}

func (h redisErrorHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.count(cmd)
		return err
	}
}

func (h redisErrorHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			h.count(c)
		}
		return err
	}
}

func (h redisErrorHook) count(cmd redis.Cmder) {
	err := cmd.Err()
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "NOSCRIPT") || strings.HasPrefix(msg, "BUSYGROUP") || strings.HasPrefix(msg, "NOGROUP") {
		return
	}
	h.m.RedisError(cmd.Name())
}

// stats is Outbox.Stats, which panics (a nil XPENDING reply) when the
// consumer group is missing: that case becomes a NOGROUP error.
func (c outboxCollector) stats(ctx context.Context) (st storage.OutboxStats, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("outbox stats: NOGROUP? %v", r)
		}
	}()
	return c.ob.Stats(ctx)
}

var (
	outboxJobsDesc = prometheus.NewDesc("usher_outbox_jobs",
		"Chat messages in the outbox (its stream and the legacy one together) by state: waiting (not yet claimed), pending (claimed by a worker), delayed (waiting for a retry), dead.",
		[]string{"state"}, nil)
	outboxAgeDesc = prometheus.NewDesc("usher_outbox_oldest_waiting_seconds",
		"Age of the oldest chat message waiting to be sent, in either stream.", nil, nil)
)

// outboxCollector reads the outbox's stats (a few Redis commands) at scrape time.
type outboxCollector struct{ ob *storage.Outbox }

func (outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxJobsDesc
	ch <- outboxAgeDesc
}

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := c.stats(ctx)
	if err != nil && strings.Contains(err.Error(), "NOGROUP") {
		// The group vanished (a FLUSHALL, a restart without persistence, a
		// failover to an empty replica): recreate it, as the worker does.
		if err = c.ob.Setup(ctx); err == nil {
			st, err = c.stats(ctx)
		}
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxJobsDesc, err)
		return
	}
	for state, n := range map[string]int64{"waiting": st.Waiting, "pending": st.Pending, "delayed": st.Delayed, "dead": st.Dead} {
		ch <- prometheus.MustNewConstMetric(outboxJobsDesc, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(outboxAgeDesc, prometheus.GaugeValue, st.OldestWaiting.Seconds())
}

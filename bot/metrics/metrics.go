// Package metrics is usher's Prometheus instrumentation and per-request
// context for logs: one *Metrics per `usher serve` (its own registry, never
// the global default one, so that tests and several servers in one process
// do not collide), an HTTP middleware that gives every request an id (in the
// context, in every log line written with the request's context, and in the
// X-Request-Id response header) and counts it, and Observe, which a chat
// adapter calls once per command it answers:
//
//	start := time.Now()
//	reply := svc.Handle(ctx, req)
//	m.Observe("slack", verb, metrics.OutcomeOf(reply.Code), time.Since(start))
//
// A nil *Metrics is valid and records nothing, so adapters need no checks.
// It depends on neither storage nor go-redis: cmd/usher wires the Redis error
// hook and the outbox gauges to it.
package metrics

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of a chat command, the values of the "outcome" label.
const (
	OutcomeOK          = "ok"          // done (or answered, for reads)
	OutcomeRefused     = "refused"     // a user-facing refusal: not allowed, bad input, conflict
	OutcomeUnavailable = "unavailable" // Redis unreachable: the user was told to try again
	OutcomeError       = "error"       // an internal error
)

// OutcomeOf maps a reply's org error code ("" when it succeeded) to an
// outcome: "unavailable" for org.CodeUnavailable, "internal" for an internal
// error, anything else is a refusal.
func OutcomeOf(code string) string {
	switch code {
	case "":
		return OutcomeOK
	case "unavailable":
		return OutcomeUnavailable
	case "internal":
		return OutcomeError
	}
	return OutcomeRefused
}

// maxCommands bounds the "command" label's values: commands come from user
// input, so past this many distinct names the rest count as "other".
const maxCommands = 100

// Metrics holds usher's collectors and the registry they are registered in.
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	httpRequests  *prometheus.CounterVec
	httpLatency   *prometheus.HistogramVec
	inflight      prometheus.Gauge
	remindersSent prometheus.Counter
	redisErrors   *prometheus.CounterVec

	mu       sync.Mutex
	commands map[string]bool
	// known names the command label's values (KnownCommands); nil: the
	// first maxCommands names seen.
	known func(word string) (string, bool)
}

// Latency buckets from 5 ms to 5 s: Slack gives a slash command 3 seconds.
var buckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 3, 5}

// New returns fresh collectors in a registry of their own, with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_requests_total", Help: "Chat commands answered, by platform, command and outcome.",
		}, []string{"platform", "command", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "usher_request_duration_seconds", Help: "Time to answer a chat command, by platform and command.", Buckets: buckets,
		}, []string{"platform", "command"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_http_requests_total", Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "usher_http_request_duration_seconds", Help: "HTTP request latency, by route.", Buckets: buckets,
		}, []string{"route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "usher_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		remindersSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "usher_reminders_sent_total", Help: "Reminders sent by the scheduler.",
		}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usher_redis_errors_total", Help: "Redis commands and pipelines that failed (not counting nil replies), by command.",
		}, []string{"command"}),
		commands: map[string]bool{},
	}
	m.reg.MustRegister(m.requests, m.latency, m.httpRequests, m.httpLatency, m.inflight, m.remindersSent, m.redisErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where other parts register their own collectors (the outbox
// gauges, say).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	// One failing collector (the outbox's, while Redis is down) must not
	// hide every other metric.
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// Observe records one chat command: platform ("slack", "teams", "web",
// "shell"), command (the verb, e.g. "invite"; "" counts as "none"), outcome
// (OutcomeOK, ... or OutcomeOf(reply.Code)) and how long answering took.
func (m *Metrics) Observe(platform, command, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	command = m.commandLabel(command)
	m.requests.WithLabelValues(platform, command, outcome).Inc()
	m.latency.WithLabelValues(platform, command).Observe(d.Seconds())
}

func (m *Metrics) commandLabel(c string) string {
	c = strings.ToLower(strings.TrimSpace(c))
	if c == "" {
		return "none"
	}
	if len(c) > 32 {
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known != nil {
		if name, ok := m.known(c); ok {
			return name
		}
		return "other"
	}
	if !m.commands[c] {
		if len(m.commands) >= maxCommands {
			return "other"
		}
		m.commands[c] = true
	}
	return c
}

// KnownCommands makes the "command" label name only real commands: known
// maps the word a person typed first to its command's name (an alias to
// its command's) and reports whether it is one; anything else counts as
// "other". cmd/usher builds it from the command registry. Without it, the
// first 100 names seen are kept, so 100 junk words typed by anyone would
// push every later real command into "other". Call it before serving.
func (m *Metrics) KnownCommands(known func(word string) (string, bool)) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.known = known
}

// ReminderSent counts n reminders sent (the scheduler calls it).
func (m *Metrics) ReminderSent(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.remindersSent.Add(float64(n))
}

// RedisError counts a failed Redis command (cmd/usher's go-redis hook calls it).
func (m *Metrics) RedisError(command string) {
	if m == nil {
		return
	}
	m.redisErrors.WithLabelValues(strings.ToLower(command)).Inc()
}

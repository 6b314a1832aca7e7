package metrics_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestObserveAndCounters(t *testing.T) {
	m := metrics.New()
	m.Observe("slack", "invite", metrics.OutcomeOf(""), 30*time.Millisecond)
	m.Observe("slack", "Invite", metrics.OutcomeOf("unavailable"), time.Second)
	m.Observe("teams", "", metrics.OutcomeOf("forbidden"), time.Millisecond)
	m.Observe("web", "x", metrics.OutcomeOf("internal"), time.Millisecond)
	m.ReminderSent(3)
	m.RedisError("EVALSHA")
	body := scrape(t, m)
	for _, want := range []string{
		`usher_requests_total{command="invite",outcome="ok",platform="slack"} 1`,
		`usher_requests_total{command="invite",outcome="unavailable",platform="slack"} 1`,
		`usher_requests_total{command="none",outcome="refused",platform="teams"} 1`,
		`usher_requests_total{command="x",outcome="error",platform="web"} 1`,
		`usher_request_duration_seconds_bucket{command="invite",platform="slack",le="0.05"} 1`,
		`usher_request_duration_seconds_count{command="invite",platform="slack"} 2`,
		`usher_reminders_sent_total 3`,
		`usher_redis_errors_total{command="evalsha"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s\n%s", want, body)
		}
	}
}

// TestCommandLabelIsBounded: commands come from users; the label's values
// must not grow without limit.
func TestCommandLabelIsBounded(t *testing.T) {
	m := metrics.New()
	for i := 0; i < 500; i++ {
		m.Observe("slack", fmt.Sprintf("cmd%d", i), metrics.OutcomeRefused, time.Millisecond)
	}
	m.Observe("slack", strings.Repeat("a", 100), metrics.OutcomeRefused, time.Millisecond)
	body := scrape(t, m)
	if n := strings.Count(body, "usher_requests_total{"); n > 101 {
		t.Fatalf("%d command series", n)
	}
	if !strings.Contains(body, `usher_requests_total{command="other",outcome="refused",platform="slack"} 401`) {
		t.Errorf("overflow not counted as other")
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	var m *metrics.Metrics
	m.Observe("slack", "invite", metrics.OutcomeOK, time.Millisecond)
	m.ReminderSent(1)
	m.RedisError("get")
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, metrics.RequestID(r.Context()))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Body.String() == "" || rec.Header().Get("X-Request-Id") != rec.Body.String() {
		t.Fatalf("request id %q / header %q", rec.Body, rec.Header().Get("X-Request-Id"))
	}
}

// TestRequestIDInEveryLogLine: the middleware puts an id in the context, the
// response header and every line logged with the request's context.
func TestRequestIDInEveryLogLine(t *testing.T) {
	m := metrics.New()
	var logs bytes.Buffer
	log := slog.New(metrics.LogHandler(slog.NewJSONHandler(&logs, nil))).With("part", "test")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "one")
		log.WithGroup("g").WarnContext(r.Context(), "two", "k", "v")
		w.WriteHeader(http.StatusAccepted)
	})
	h := m.Middleware(mux)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/slack/commands", nil))
	id := rec.Header().Get(metrics.RequestIDHeader)
	if len(id) != 16 {
		t.Fatalf("X-Request-Id %q", id)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines", len(lines))
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["request_id"] != id && (rec["g"] == nil || rec["g"].(map[string]any)["request_id"] != id) {
			t.Errorf("line without the request id %s: %s", id, l)
		}
	}

	// A proxy's well-formed id is kept; a malformed one replaced.
	req := httptest.NewRequest("GET", "/nowhere", nil)
	req.Header.Set("X-Request-Id", "edge-1234abcd")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); got != "edge-1234abcd" {
		t.Errorf("proxy id replaced by %q", got)
	}
	req.Header.Set("X-Request-Id", "bad id\n{\"injected\":1}")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); strings.Contains(got, "injected") {
		t.Errorf("malformed id kept: %q", got)
	}

	body := scrape(t, m)
	for _, want := range []string{
		`usher_http_requests_total{code="202",route="POST /slack/commands"} 1`,
		`usher_http_requests_total{code="404",route="unmatched"} 2`,
		`usher_http_requests_in_flight 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s\n%s", want, body)
		}
	}
}

// TestKnownCommandsOnly: with the command names known, anything else is
// "other" from the first junk word on, and an alias counts as its command.
func TestKnownCommandsOnly(t *testing.T) {
	m := metrics.New()
	m.KnownCommands(func(w string) (string, bool) {
		return map[string]string{"invite": "invite", "pending": "invitations"}[w], w == "invite" || w == "pending"
	})
	for i := 0; i < 150; i++ {
		m.Observe("slack", fmt.Sprintf("junk%d", i), metrics.OutcomeRefused, time.Millisecond)
	}
	m.Observe("slack", "invite", metrics.OutcomeOK, time.Millisecond)
	m.Observe("teams", "Pending", metrics.OutcomeOK, time.Millisecond)
	body := scrape(t, m)
	for _, want := range []string{
		`usher_requests_total{command="other",outcome="refused",platform="slack"} 150`,
		`usher_requests_total{command="invite",outcome="ok",platform="slack"} 1`,
		`usher_requests_total{command="invitations",outcome="ok",platform="teams"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s\n%s", want, body)
		}
	}
	if n := strings.Count(body, "usher_requests_total{"); n != 3 {
		t.Errorf("%d series, want 3", n)
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// mountHealth serves GET /readyz: 200 while Redis answers and has usher's
// Lua scripts (storage.Store.Ready loads any a restarted master lost), 503
// while it does not or once shutdown has begun, so that a load balancer
// stops sending before the server stops accepting. GET /healthz (serve.go)
// only says the process is alive: a Redis outage must not get every replica
// restarted by its liveness probe.
func mountHealth(s *server) {
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if s.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "shutting down\n")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ready(ctx); err != nil {
			s.log.WarnContext(ctx, "not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "redis not ready\n")
			return
		}
		io.WriteString(w, "ready\n")
	})
}

// handler is the server's root handler: every request gets a request id (in
// its context, its log lines and the X-Request-Id header) and is counted.
func (s *server) handler() http.Handler { return s.metrics.Middleware(s.mux) }

// shutdownConfig bounds a graceful stop (SIGTERM):
//
//	USHER_SHUTDOWN_DELAY    how long /readyz answers 503 while still serving
//	                        before the listener closes (default 0; give a load
//	                        balancer or Kubernetes endpoints time to notice, e.g. 5s)
//	USHER_SHUTDOWN_TIMEOUT  how long in-flight requests, then background tasks
//	                        (outbox workers, the scheduler), may take to finish (default 10s)
type shutdownConfig struct{ delay, timeout time.Duration }

func loadShutdownConfig(getenv func(string) string) (shutdownConfig, []string) {
	c := shutdownConfig{timeout: 10 * time.Second}
	var problems []string
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{"USHER_SHUTDOWN_DELAY", &c.delay}, {"USHER_SHUTDOWN_TIMEOUT", &c.timeout}} {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				problems = append(problems, fmt.Sprintf("%s %q: want a duration such as 5s", v.name, s))
				continue
			}
			*v.dst = d
		}
	}
	return c, problems
}

// shutdown stops srv gracefully: /readyz turns 503 at once, the listener
// keeps serving for the configured delay, then closes while in-flight
// requests finish (bounded by the timeout); then background tasks are told
// to stop and waited for (bounded again). Queued chat messages stay in the
// Redis outbox for the next replica: nothing is drained into the void.
func (s *server) shutdown(srv *http.Server, stopBackground context.CancelFunc, wg *sync.WaitGroup) error {
	s.draining.Store(true)
	sc := s.cfg.shutdown
	s.log.Info("usher shutting down", "delay", sc.delay.String(), "timeout", sc.timeout.String())
	if sc.delay > 0 {
		time.Sleep(sc.delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sc.timeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		s.log.Error("in-flight requests did not finish in time", "err", err)
		srv.Close()
	}
	stopBackground()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		if s.webWait != nil {
			s.webWait()
		}
		close(done)
	}()
	bg, cancelBg := context.WithTimeout(context.Background(), sc.timeout)
	defer cancelBg()
	select {
	case <-done:
	case <-bg.Done():
		s.log.Error("background tasks did not stop in time")
		if err == nil {
			err = fmt.Errorf("background tasks did not stop within %v", sc.timeout)
		}
	}
	if err == nil {
		s.log.Info("usher stopped")
	}
	return err
}

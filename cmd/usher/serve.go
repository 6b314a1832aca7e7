package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/metrics"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/storage"
)

// server is what `usher serve` assembles: each platform (Slack, Teams, the web
// pages, the scheduler) mounts itself from its own file with register, adding
// routes to mux and long-running work to background.
type server struct {
	cfg    config
	getenv func(string) string
	log    *slog.Logger
	rdb    redis.UniversalClient
	store  *storage.Store
	svc    *handlers.Service
	mux    *http.ServeMux
	// background runs until ctx ends (Socket Mode, the scheduler, outbox workers).
	background []func(ctx context.Context) error
	// listenAddr is the address the HTTP server listens on.
	listenAddr string
	// deliver hands messages for people (handlers.Delivery) to the chat
	// platform that can reach them; a chat platform's mount sets it. Until one
	// does, deliveries are logged and dropped.
	deliver func(ctx context.Context, ds []handlers.Delivery) error
	// senders are the chat platforms' outbox senders, by platform: one
	// worker per process serves them all (startOutbox), because every
	// platform shares the one outbox stream and consumer group.
	senders map[string]outbox.Sender
	queue   outboxQueue
	// metrics is never nil in serve: chat adapters call
	// s.metrics.Observe(platform, command, outcome, d) per command (metrics.go).
	metrics *metrics.Metrics
	// draining is set once shutdown starts: /readyz answers 503 (health.go).
	draining atomic.Bool
	// metricsAddr is where /metrics listens, apart from listenAddr
	// (metrics.go); "" serves no metrics.
	metricsAddr string
}

// addSender registers a platform's outbox sender; the shared worker starts
// after every part is mounted.
func (s *server) addSender(platform string, send outbox.Sender) {
	if s.senders == nil {
		s.senders = map[string]outbox.Sender{}
	}
	s.senders[platform] = send
}

// outboxQueue is the organization's outbox, set up once and shared by every
// platform's enqueueing and the worker.
func (s *server) outboxQueue(ctx context.Context) (outboxQueue, error) {
	if s.queue.o != nil {
		return s.queue, nil
	}
	ob, err := storage.NewOutbox(s.rdb, s.cfg.org)
	if err != nil {
		return outboxQueue{}, err
	}
	ob.SealWith(s.cfg.secret.sealKey())
	if err := ob.Setup(ctx); err != nil {
		return outboxQueue{}, err
	}
	s.queue = outboxQueue{ob}
	return s.queue, nil
}

// startOutbox runs one outbox worker for every registered sender.
func (s *server) startOutbox(ctx context.Context) error {
	if len(s.senders) == 0 {
		return nil
	}
	q, err := s.outboxQueue(ctx)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	w := &outbox.Worker{Queue: q, Senders: s.senders, Consumer: fmt.Sprintf("%s-%d", host, os.Getpid()), Log: s.log.With("part", "outbox")}
	s.background = append(s.background, w.Run)
	return nil
}

// deliverAll sends deliveries through the configured chat platform.
func (s *server) deliverAll(ctx context.Context, ds []handlers.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	if s.deliver == nil {
		s.log.Warn("no chat platform configured: deliveries dropped", "count", len(ds))
		return nil
	}
	return s.deliver(ctx, ds)
}

// mount configures one part of the server from the environment. A part that
// is not configured (no SLACK_SIGNING_SECRET, say) returns nil and mounts nothing.
type mount struct {
	name string
	fn   func(ctx context.Context, s *server) error
}

var mounts []mount

// register adds a part to `usher serve`; called from init in each part's file.
func register(name string, fn func(ctx context.Context, s *server) error) {
	mounts = append(mounts, mount{name, fn})
}

func runServe(ctx context.Context, e env) error {
	cfg, err := loadConfig(e.getenv)
	if err != nil {
		return err
	}
	log := slog.New(metrics.LogHandler(slog.NewJSONHandler(e.stderr, nil)))
	if cfg.secret.generated {
		log.Warn("USHER_SECRET is not set: using a random one for this process. Set it (the same on every replica): with more than one usher, forms opened on one replica are refused by another and messages queued by one cannot be sent by another; after a restart, messages queued before it cannot be sent.")
	}
	rdb, closeRedis, err := connect(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer closeRedis()
	svc, err := newService(ctx, e, cfg, rdb, log, nil)
	if err != nil {
		return err
	}
	st, err := newStore(cfg, rdb)
	if err != nil {
		return err
	}
	s := &server{cfg: cfg, getenv: e.getenv, log: log, rdb: rdb, store: st, svc: svc, mux: http.NewServeMux(), listenAddr: cfg.addr, metrics: metrics.New()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	for _, m := range mounts {
		if err := m.fn(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
	}
	if err := s.startOutbox(ctx); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}

	ln, err := net.Listen("tcp", s.listenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.listenAddr, err)
	}
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 15 * time.Second}
	if s.metricsAddr != "" {
		mln, err := net.Listen("tcp", s.metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (USHER_METRICS_ADDR): %w", s.metricsAddr, err)
		}
		msrv := &http.Server{Handler: s.metricsHandler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 15 * time.Second}
		go msrv.Serve(mln)
		// Scrapes may stop at once on shutdown: nothing is lost by that.
		defer msrv.Close()
		log.Info("usher metrics serving", "addr", mln.Addr().String())
	}
	log.Info("usher serving", "addr", ln.Addr().String(), "version", versionString(), "org", cfg.org)
	if e.ready != nil {
		e.ready <- ln.Addr().String()
	}

	// Background work outlives ctx (cancelled by SIGTERM) until in-flight
	// requests are done: see shutdown (health.go).
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	var wg sync.WaitGroup
	for _, run := range s.background {
		wg.Go(func() {
			if err := run(bgCtx); err != nil && bgCtx.Err() == nil {
				log.Error("background task stopped", "err", err)
			}
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		stopBackground()
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	return s.shutdown(srv, stopBackground, &wg)
}

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

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/metrics"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// server is what `usher serve` runs. runServe builds it in one place, in an
// order you can read (build): one Store, one Outbox, one delivery router over
// the chat platforms that are configured, then the adapters, the web pages
// and the scheduler that use them. Nothing registers itself.
type server struct {
	cfg    config
	getenv func(string) string
	log    *slog.Logger
	rdb    redis.UniversalClient
	store  *storage.Store
	svc    *handlers.Service
	// queue is the organization's one outbox: the router's and the
	// adapters' jobs, the commits' queued messages, the worker and /metrics.
	queue outboxQueue
	// router delivers messages for people on the platform that knows them.
	router *deliver.Router
	// orgs are the deployment's organizations' parts, the default one's
	// (svc, queue, router above) among them; requests and background work
	// find theirs there.
	orgs *tenants
	// platforms are the chat platforms every organization's router uses.
	platforms []deliver.Platform
	// clock and rand are the services' (nil: the real ones).
	clock func() time.Time
	rand  io.Reader
	mux   *http.ServeMux
	// background runs until ctx ends (Socket Mode, the scheduler, the outbox worker).
	background []func(ctx context.Context) error
	// listenAddr is the address the HTTP server listens on.
	listenAddr string
	// senders are the outbox senders by job platform: the router's, and the
	// adapters' own (Slack's click answers; both adapters' jobs queued by
	// earlier versions). One worker per process serves them all.
	senders map[string]outbox.Sender
	// metrics is never nil in serve: chat adapters call
	// s.metrics.Observe(platform, command, outcome, d) per command (metrics.go).
	metrics *metrics.Metrics
	// draining is set once shutdown starts: /readyz answers 503 (health.go).
	draining atomic.Bool
	// metricsAddr is where /metrics listens, apart from listenAddr
	// (metrics.go); "" serves no metrics.
	metricsAddr string
}

// openOutbox is the default organization's outbox, sealed with the
// deployment secret and with its stream and consumer group in place.
func openOutbox(ctx context.Context, cfg config, rdb redis.UniversalClient) (outboxQueue, error) {
	q, err := openOutboxFor(cfg, rdb, cfg.org)
	if err != nil {
		return outboxQueue{}, err
	}
	if err := q.o.Setup(ctx); err != nil {
		return outboxQueue{}, fmt.Errorf("outbox: %w", err)
	}
	return q, nil
}

// openOutboxFor is organization id's outbox, sealed with the deployment
// secret. Its consumer group is made on first use (Claim), so that 10,000
// organizations cost no start-up round trips.
func openOutboxFor(cfg config, rdb redis.UniversalClient, id org.ID) (outboxQueue, error) {
	ob, err := storage.NewOutbox(rdb, id)
	if err != nil {
		return outboxQueue{}, err
	}
	ob.SealWith(cfg.secret.sealKey())
	return outboxQueue{ob}, nil
}

// attachRouter gives t its delivery router over the deployment's platforms.
func (s *server) attachRouter(t *tenant) error {
	marks, err := storage.NewDeliveryMarks(s.rdb, t.id)
	if err != nil {
		return err
	}
	t.router, err = deliver.New(deliver.Config{Org: t.id, Platforms: s.platforms, Service: t.svc, Queue: t.queue, Marks: marks,
		Log: s.log.With("part", "deliver", "org", string(t.id))})
	return err
}

// build assembles every part of `usher serve`, in this order: health, metrics,
// the chat platforms' configuration and delivery sides, the router over them
// (Slack then Teams by default; the organization's preferred-platform
// setting picks per delivery, so the order in which platforms start changes
// nothing), the chat adapters, the web pages, the scheduler, the outbox worker.
func (s *server) build(ctx context.Context) error {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mountHealth(s)
	if err := mountMetrics(s); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	sp, err := newSlackPart(ctx, s)
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	tp, err := newTeamsPart(s)
	if err != nil {
		return fmt.Errorf("teams: %w", err)
	}
	if sp != nil {
		s.platforms = append(s.platforms, sp.dm)
	}
	if tp != nil {
		s.platforms = append(s.platforms, tp.chat)
	}
	def := &tenant{id: s.cfg.org, store: s.store, svc: s.svc, queue: s.queue}
	if err := s.attachRouter(def); err != nil {
		return err
	}
	s.router = def.router
	s.orgs = newTenants(s, def)
	if sp != nil {
		if err := sp.mount(ctx, s); err != nil {
			return fmt.Errorf("slack: %w", err)
		}
	}
	if tp != nil {
		tp.mount(s)
	}
	if err := mountWeb(ctx, s); err != nil {
		return fmt.Errorf("web: %w", err)
	}
	if err := mountScheduler(s); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	s.startOutbox(len(s.platforms) > 0)
	return nil
}

// startOutbox runs one outbox worker for every sender, when a chat platform
// is on (without one nothing is queued).
func (s *server) startOutbox(chat bool) {
	if !chat {
		return
	}
	s.senders[deliver.JobPlatform] = s.router.Send
	host, _ := os.Hostname()
	w := &outbox.Worker{Queue: s.queue, Senders: s.senders, Consumer: fmt.Sprintf("%s-%d", host, os.Getpid()), Log: s.log.With("part", "outbox")}
	s.background = append(s.background, w.Run)
}

// deliverAll hands deliveries with no chat origin (the web pages', the
// scheduler's) to the router.
func (s *server) deliverAll(ctx context.Context, ds []handlers.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	if len(s.router.Platforms()) == 0 {
		s.log.Warn("no chat platform configured: deliveries dropped", "count", len(ds))
		return nil
	}
	return s.router.Deliver(ctx, ds, deliver.Origin{})
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
	st, err := newStore(cfg, rdb)
	if err != nil {
		return err
	}
	svc, err := newServiceOn(ctx, e, cfg, st, log, nil)
	if err != nil {
		return err
	}
	queue, err := openOutbox(ctx, cfg, rdb)
	if err != nil {
		return err
	}
	s := &server{cfg: cfg, getenv: e.getenv, log: log, rdb: rdb, store: st, svc: svc, queue: queue, mux: http.NewServeMux(),
		listenAddr: cfg.addr, senders: map[string]outbox.Sender{}, metrics: metrics.New(), rand: e.rand}
	if err := s.build(ctx); err != nil {
		return err
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

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
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
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
	queue redisqueue.Queue
	// router delivers messages for people on the platform that knows them.
	router *deliver.Router
	// orgs are the deployment's organizations' parts, the default one's
	// (svc, queue, router above) among them; requests and background work
	// find theirs there.
	orgs *tenants
	// platforms are the chat platforms every organization's router uses.
	platforms []deliver.Platform
	// fleet is the deployment's index of organizations with due work, which
	// every organization's store and outbox ring and the background loops read.
	fleet *storage.Fleet
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
	// platformsPace: every chat platform paces its own conversations
	// (deliver.Config.PlatformsPace).
	platformsPace bool
	// metricsAddr is where /metrics listens, apart from listenAddr
	// (metrics.go); "" serves no metrics.
	metricsAddr string
	// webWait waits for the web's forgot-password requests still being
	// handled after their answer (their links queued); shutdown calls it.
	webWait func()
}

// openOutbox is the default organization's outbox, sealed with the
// deployment secret and with its stream and consumer group in place.
func openOutbox(ctx context.Context, cfg config, rdb redis.UniversalClient, fleet *storage.Fleet) (redisqueue.Queue, error) {
	q, err := openOutboxFor(cfg, rdb, cfg.org, fleet)
	if err != nil {
		return redisqueue.Queue{}, err
	}
	if err := q.Outbox().Setup(ctx); err != nil {
		return redisqueue.Queue{}, fmt.Errorf("outbox: %w", err)
	}
	return q, nil
}

// openOutboxFor is organization id's outbox, sealed with the deployment
// secret, ringing the due-organizations index. Its consumer group is made
// on first use (Claim), so that 10,000 organizations cost no start-up round
// trips.
func openOutboxFor(cfg config, rdb redis.UniversalClient, id org.ID, fleet *storage.Fleet) (redisqueue.Queue, error) {
	ob, err := storage.NewOutbox(rdb, id)
	if err != nil {
		return redisqueue.Queue{}, err
	}
	ob.SealWith(cfg.secret.sealKey())
	ob.UseFleet(fleet)
	return redisqueue.New(ob), nil
}

// attachRouter gives t its delivery router over the deployment's platforms.
func (s *server) attachRouter(t *tenant) error {
	marks, err := storage.NewDeliveryMarks(s.rdb, t.id)
	if err != nil {
		return err
	}
	cfg := deliver.Config{Org: t.id, Platforms: s.platforms, Service: t.svc, Queue: t.queue, Marks: marks, PlatformsPace: s.platformsPace,
		Log: s.log.With("part", "deliver", "org", string(t.id))}
	if s.cfg.mail != nil {
		// After every chat platform: a person not in chat yet gets email.
		email, err := newMailPlatform(*s.cfg.mail, t.svc, s.log.With("part", "mail", "org", string(t.id)))
		if err != nil {
			return err
		}
		cfg.Fallback = []deliver.Platform{email}
	}
	t.router, err = deliver.New(cfg)
	if err == nil {
		t.svc.UseReachability(t.router) // a resend asks first (handlers/reach.go)
	}
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
	if m := s.cfg.mail; m != nil {
		s.log.Info("email delivery on", "smtp", m.String(), "from", m.From.String())
	}
	// Slack's and Teams' shared budgets pace each conversation (email needs
	// none); with either off (SLACK_RATE, TEAMS_RATE), the outbox paces
	// every router job per recipient itself.
	s.platformsPace = (sp != nil || tp != nil) && (sp == nil || !sp.sc.rateOff) && (tp == nil || !tp.rateOff)
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
	if err := mountSCIM(s); err != nil {
		return fmt.Errorf("scim: %w", err)
	}
	if err := mountScheduler(s); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	s.startOutbox(len(s.platforms) > 0 || s.cfg.mail != nil)
	return nil
}

// startOutbox runs the outbox loop over every organization's outbox, when a
// chat platform is on (without one nothing is queued), and the hourly
// rebuild of the due-organizations index (storage.Fleet.Reconcile: the
// repair of a ring lost between a commit and its ring, and the index's
// start for organizations older than it).
func (s *server) startOutbox(chat bool) {
	if chat {
		host, _ := os.Hostname()
		send := &outbox.Fleet{
			Index:  s.fleet.Index(storage.FleetOutbox),
			Open:   s.openOrgOutbox,
			Worker: outbox.Worker{Consumer: fmt.Sprintf("%s-%d", host, os.Getpid()), Log: s.log.With("part", "outbox")},
		}
		if err := send.Init(); err == nil {
			s.fleet.Notify = func(kind storage.FleetKind, _ org.ID) {
				if kind == storage.FleetOutbox {
					send.Wake() // a message queued here goes at once, not at the next poll
				}
			}
			s.background = append(s.background, send.Run, s.ringLegacy)
		} else {
			s.log.Error("outbox: cannot start", "err", err)
		}
	}
	s.background = append(s.background, func(ctx context.Context) error {
		return s.fleet.ReconcileEvery(ctx, time.Hour, time.Now, 30*time.Second)
	})
}

// legacyRing is how often the default organization's outbox is looked at
// whether or not anything rang for it.
const legacyRing = 2 * time.Second

// ringLegacy rings the default organization's outbox every legacyRing:
// versions before the due-organizations index served only that
// organization and queue there without ringing (an old replica during a
// rolling deploy), so without this their messages would wait for the
// hourly reconcile once the old replicas are gone. One ring per replica
// every two seconds; a ring with nothing queued costs the outbox loop one
// read.
func (s *server) ringLegacy(ctx context.Context) error {
	t := time.NewTicker(legacyRing)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := s.fleet.Ring(ctx, storage.FleetOutbox, s.cfg.org, time.Now()); err != nil && ctx.Err() == nil {
				s.log.Warn("outbox: cannot ring the default organization's outbox", "err", err)
			}
		}
	}
}

// openOrgOutbox is organization id's outbox and senders for the outbox
// loop: its router's, and the adapters' own (Slack's click answers; jobs
// queued by earlier versions, which only the default organization has).
func (s *server) openOrgOutbox(_ context.Context, id org.ID) (outbox.Org, bool, error) {
	t, err := s.orgs.get(id)
	if err != nil {
		return outbox.Org{}, false, nil // not an organization id: it leaves the index
	}
	senders := make(map[string]outbox.Sender, len(s.senders)+1)
	for name, send := range s.senders {
		senders[name] = send
	}
	senders[deliver.JobPlatform] = t.router.Send
	return outbox.Org{Queue: t.queue, Senders: senders, Prepare: t.router.Prepare}, true, nil
}

// deliverAll hands deliveries with no chat origin (the web pages') of the
// default organization to its router.
func (s *server) deliverAll(ctx context.Context, ds []handlers.Delivery) error {
	return s.deliverFor(ctx, s.orgs.def, ds)
}

// deliverFor hands deliveries with no chat origin (the scheduler's, the web
// pages') of organization t to its router.
func (s *server) deliverFor(ctx context.Context, t *tenant, ds []handlers.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	if len(t.router.Platforms()) == 0 {
		s.log.Warn("no chat platform configured: deliveries dropped", "org", string(t.id), "count", len(ds))
		return nil
	}
	return t.router.Deliver(ctx, ds, deliver.Origin{})
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
	// One index of the organizations with due work for the whole process:
	// the background loops are woken by its rings (startOutbox).
	fleet := storage.NewFleet(rdb)
	if err := fleet.LoadScripts(ctx); err != nil {
		return err
	}
	fleet.Log = log.With("part", "fleet")
	st.UseFleet(fleet)
	queue, err := openOutbox(ctx, cfg, rdb, fleet)
	if err != nil {
		return err
	}
	s := &server{cfg: cfg, getenv: e.getenv, log: log, rdb: rdb, store: st, svc: svc, queue: queue, mux: http.NewServeMux(),
		listenAddr: cfg.addr, senders: map[string]outbox.Sender{}, metrics: metrics.New(), rand: e.rand, fleet: fleet}
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

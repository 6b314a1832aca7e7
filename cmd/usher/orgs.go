package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// tenant is one organization's parts in `usher serve`: its store, its use
// cases, its outbox and its delivery router. Every request and every piece
// of background work runs on the tenant of its organization, found by the
// tenant the platform signed (route) or by the organization a job or a
// schedule names (get).
type tenant struct {
	id     org.ID
	store  *storage.Store
	svc    *handlers.Service
	queue  redisqueue.Queue
	router *deliver.Router
}

// tenants builds and keeps the tenants of the deployment's organizations.
// Building one is cheap (no round trip: the scripts are loaded once for the
// deployment), so they are built on first use and kept in a bounded map:
// a deployment of 10,000 organizations holds only those in use.
type tenants struct {
	s   *server
	dir *storage.Directory
	def *tenant

	mu    sync.Mutex
	byID  map[org.ID]*tenant
	route map[routeKey]routed
}

// routeKey is a cached answer's question: a tenant, and whether only the
// directory may answer it (linked) or the default organization may too
// (serving).
type routeKey struct {
	t      org.Tenant
	linked bool
}

// routed is a directory answer kept for routeTTL: every Slack request would
// otherwise pay a round trip for it.
type routed struct {
	id      org.ID
	ok      bool
	expires time.Time
}

// routeTTL bounds how long a request may still reach an organization after
// its tenant was moved or it was deleted (`usher org link`, `delete`).
const routeTTL = 5 * time.Second

// maxTenants bounds the tenants kept in memory; past it the map starts over
// (a rebuild costs no round trip).
const maxTenants = 4096

func newTenants(s *server, def *tenant) *tenants {
	return &tenants{s: s, dir: s.store.Directory(), def: def, byID: map[org.ID]*tenant{def.id: def}, route: map[routeKey]routed{}}
}

// get is the tenant of organization id. It does not check that id is in
// the directory: callers hold an id that was (a routed request, a job, a
// schedule, an invitation's token).
func (ts *tenants) get(id org.ID) (*tenant, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	ts.mu.Lock()
	t, ok := ts.byID[id]
	ts.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := ts.s.newTenant(id)
	if err != nil {
		return nil, fmt.Errorf("organization %s: %w", id, err)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if old, ok := ts.byID[id]; ok {
		return old, nil
	}
	if len(ts.byID) >= maxTenants {
		clear(ts.byID)
		ts.byID[ts.def.id] = ts.def
	}
	ts.byID[id] = t
	return t, nil
}

// serving is the organization serving a chat tenant (Slack workspace or
// enterprise, Teams tenant): the one the directory maps it to, else the
// default organization when the configuration names the tenant as the
// default's (configured: the workspace of the one bot token, the Teams
// bot's own tenant) or when it is the deployment's only one (org.Route).
// ok is false when none does.
func (ts *tenants) serving(ctx context.Context, t org.Tenant, configured bool) (org.ID, bool, error) {
	now := time.Now()
	if r, hit := ts.cached(routeKey{t: t}, now); hit {
		return r.id, r.ok, nil
	}
	id, found, err := ts.dir.Resolve(ctx, t)
	if err != nil {
		return "", false, err
	}
	var ok bool
	if found || configured {
		ok = true
		if !found {
			id = ts.def.id
		}
	} else {
		d, err := ts.dir.Deployment(ctx, ts.def.id)
		if err != nil {
			return "", false, err
		}
		id, ok = org.Route(id, found, d)
	}
	ts.remember(routeKey{t: t}, routed{id: id, ok: ok, expires: now.Add(routeTTL)})
	return id, ok, nil
}

// cached is a directory answer kept less than routeTTL ago.
func (ts *tenants) cached(k routeKey, now time.Time) (routed, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	r, hit := ts.route[k]
	return r, hit && now.Before(r.expires)
}

func (ts *tenants) remember(k routeKey, r routed) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.route) >= maxTenants {
		clear(ts.route)
	}
	ts.route[k] = r
}

// linked is the organization the directory links a chat tenant to, and no
// other (a tenant that installs usher itself: MICROSOFT_ALLOWED_TENANTS=
// directory), cached like serving.
func (ts *tenants) linked(ctx context.Context, t org.Tenant) (org.ID, bool, error) {
	now, k := time.Now(), routeKey{t: t, linked: true}
	if r, hit := ts.cached(k, now); hit {
		return r.id, r.ok, nil
	}
	id, found, err := ts.dir.Resolve(ctx, t)
	if err != nil {
		return "", false, err
	}
	ts.remember(k, routed{id: id, ok: found, expires: now.Add(routeTTL)})
	return id, found, nil
}

// forget drops the cached answers for a tenant this process just linked or
// unlinked, so that its next request sees the change at once (other
// replicas see it within routeTTL).
func (ts *tenants) forget(t org.Tenant) {
	ts.mu.Lock()
	delete(ts.route, routeKey{t: t})
	delete(ts.route, routeKey{t: t, linked: true})
	ts.mu.Unlock()
}

// newTenant builds organization id's parts on the deployment's Redis.
func (s *server) newTenant(id org.ID) (*tenant, error) {
	st, err := s.store.For(id)
	if err != nil {
		return nil, err
	}
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: s.cfg.publicURL, Logger: s.log.With("org", string(id)), Clock: s.clock,
		Rand: s.rand, NextTime: scheduler.Next, Deployment: s.portFor(id), Exports: exportsOf(s.cfg, st)})
	if err != nil {
		return nil, err
	}
	queue, err := openOutboxFor(s.cfg, s.rdb, id, s.fleet)
	if err != nil {
		return nil, err
	}
	t := &tenant{id: id, store: st, svc: svc, queue: queue}
	if err := s.attachRouter(t); err != nil {
		return nil, err
	}
	return t, nil
}

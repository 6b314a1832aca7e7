package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// deployment is what every organization's Service of this process reaches
// the others by (handlers.Deployment, one orgPort per organization): the
// link tags in the directory, the person index, and the other
// organizations' Services. In `usher serve` those are the tenants (attached
// by mountWeb), whose routers deliver each organization's messages through
// its own chat; elsewhere (the CLI) a peer is a Service built for the call,
// and its messages are logged and dropped, as the CLI has no chat.
type deployment struct {
	store  *storage.Store // the default organization's; For builds the others'
	people *storage.People
	dir    *storage.Directory
	logins *storage.Logins
	key    []byte
	cfg    config
	log    *slog.Logger
	clock  func() time.Time
	rand   io.Reader

	mu         sync.Mutex
	registered map[org.ID]bool // link tags registered by this process
	orgs       *tenants
}

// newDeployment is the deployment around st's organization, as its Service's
// port (newServiceOn's, whose other organizations' ports it makes).
func newDeployment(cfg config, st *storage.Store, log *slog.Logger, clock func() time.Time, rand io.Reader) handlers.Deployment {
	d := &deployment{store: st, people: st.People(), dir: st.Directory(), logins: st.Logins(), key: cfg.secret.linkTagKey(),
		cfg: cfg, log: log, clock: clock, rand: rand, registered: map[org.ID]bool{}}
	return d.port(st.Org())
}

// deploymentOf is the deployment svc was built with (newServiceOn), so that
// every tenant's port shares it; nil for a Service built otherwise.
func deploymentOf(svc *handlers.Service) *deployment {
	if p, ok := svc.Deployment().(orgPort); ok {
		return p.d
	}
	return nil
}

// portFor is organization id's port; nil (a Service alone) without a deployment.
func (s *server) portFor(id org.ID) handlers.Deployment {
	if d := deploymentOf(s.svc); d != nil {
		return d.port(id)
	}
	return nil
}

// attach makes the serve tenants the peers.
func (d *deployment) attach(ts *tenants) {
	d.mu.Lock()
	d.orgs = ts
	d.mu.Unlock()
}

func (d *deployment) port(id org.ID) orgPort { return orgPort{d: d, id: id} }

// linkTagKey keys the invitation links' organization tags. Without a
// configured secret (a generated one: trying usher out, the shell) the key
// is a constant, so that tags, and the shell's transcripts, are the same in
// every process: such a tag still hides the organization's id from whoever
// does not know it, but not from someone testing candidate ids.
func (s deploymentSecret) linkTagKey() []byte {
	if s.value == nil || s.generated {
		return []byte("usher: no deployment secret")
	}
	k, err := hkdf.Key(sha256.New, s.value, nil, "usher invitation link tag v1", 32)
	if err != nil {
		panic(err) // only for a length over 255 hash sizes
	}
	return k
}

// orgPort is organization id's handlers.Deployment.
type orgPort struct {
	d  *deployment
	id org.ID
}

var _ handlers.Deployment = orgPort{}

func (p orgPort) Org() org.ID     { return p.id }
func (p orgPort) LinkTag() string { return handlers.LinkTagFor(p.d.key, p.id) }

func (p orgPort) RegisterLinkTag(ctx context.Context) error {
	p.d.mu.Lock()
	done := p.d.registered[p.id]
	p.d.mu.Unlock()
	if done {
		return nil
	}
	if err := p.d.dir.RegisterTag(ctx, p.LinkTag(), p.id); err != nil {
		return err
	}
	p.d.mu.Lock()
	p.d.registered[p.id] = true
	p.d.mu.Unlock()
	return nil
}

func (p orgPort) ResolveLinkTag(ctx context.Context, tag string) (org.ID, bool, error) {
	return p.d.dir.ResolveTag(ctx, tag)
}

func (p orgPort) PersonOrgs(ctx context.Context, email string) ([]org.ID, error) {
	return p.d.people.Orgs(ctx, email)
}

func (p orgPort) Peer(ctx context.Context, id org.ID) (*handlers.Service, func(context.Context, []handlers.Delivery) error, error) {
	p.d.mu.Lock()
	ts := p.d.orgs
	p.d.mu.Unlock()
	if ts != nil {
		t, err := ts.get(id)
		if err != nil {
			return nil, nil, err
		}
		return t.svc, func(ctx context.Context, ds []handlers.Delivery) error {
			if len(t.router.Platforms()) == 0 {
				p.d.log.WarnContext(ctx, "no chat platform configured: deliveries dropped", "org", string(id), "count", len(ds))
				return nil
			}
			return t.router.Deliver(ctx, ds, deliver.Origin{})
		}, nil
	}
	st, err := p.d.store.For(id)
	if err != nil {
		return nil, nil, fmt.Errorf("organization %s: %w", id, err)
	}
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: p.d.cfg.publicURL, Logger: p.d.log.With("org", string(id)), Clock: p.d.clock,
		Rand: p.d.rand, NextTime: scheduler.Next, Deployment: p.d.port(id), Exports: exportsOf(p.d.cfg, st)})
	if err != nil {
		return nil, nil, err
	}
	return svc, func(ctx context.Context, ds []handlers.Delivery) error {
		p.d.log.WarnContext(ctx, "no chat here: another organization's messages dropped", "org", string(id), "count", len(ds))
		return nil
	}, nil
}

func (p orgPort) Login(ctx context.Context, email string) (*org.Login, error) {
	return p.d.logins.Get(ctx, email)
}

func (p orgPort) SetLogin(ctx context.Context, l org.Login, version int64, endSessions bool) error {
	return p.d.logins.Set(ctx, l, version, endSessions)
}

func (p orgPort) IssueReset(ctx context.Context, email, hash string, ttl time.Duration) error {
	return p.d.logins.IssueReset(ctx, email, hash, ttl)
}

func (p orgPort) ResetEmail(ctx context.Context, hash string) (string, error) {
	return p.d.logins.ResetEmail(ctx, hash)
}

func (p orgPort) UseReset(ctx context.Context, hash, email, passwordHash string) (bool, error) {
	return p.d.logins.UseReset(ctx, hash, email, passwordHash)
}

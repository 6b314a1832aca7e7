package handlerstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// Fleet is several organizations of one deployment on one Redis, each
// Service wired to the others through a handlers.Deployment built on the
// real person index and directory (what `usher serve` wires), so that tests
// see one person in several organizations.
type Fleet struct {
	RDB    redis.UniversalClient
	Key    []byte // the deployment's link-tag key
	People *storage.People
	Dir    *storage.Directory
	Logins *storage.Logins

	mu   sync.Mutex
	orgs map[org.ID]*Org
	// Delivered are the messages each organization's own chat was handed
	// for a peer's reply (Deployment.Peer's deliver).
	Delivered map[org.ID][]handlers.Delivery
}

// NewFleet starts an empty deployment on rdb.
func NewFleet(tb testing.TB, rdb redis.UniversalClient) *Fleet {
	tb.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	d := storage.NewDirectory(rdb)
	if err := d.LoadScripts(context.Background()); err != nil {
		tb.Fatal(err)
	}
	l := storage.NewLogins(rdb)
	if err := l.LoadScripts(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return &Fleet{RDB: rdb, Key: key, People: storage.NewPeople(rdb), Dir: d, Logins: l, orgs: map[org.ID]*Org{}, Delivered: map[org.ID][]handlers.Delivery{}}
}

// NewOrg adds an organization named name (its display name) whose first
// active admin is admin; cfg configures its Service as for NewOrg.
func (f *Fleet) NewOrg(tb testing.TB, name, admin string, cfg handlers.Config) *Org {
	tb.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	o := &Org{ID: "fleet-" + hex.EncodeToString(b), Clock: NewClock()}
	var err error
	if o.Store, err = storage.New(f.RDB, org.ID(o.ID)); err != nil {
		tb.Fatal(err)
	}
	o.Store.IndexPeople()
	if err := o.Store.LoadScripts(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := f.Dir.Create(ctx, storage.Organization{ID: org.ID(o.ID), Name: name}); err != nil {
		tb.Fatal(err)
	}
	if err := o.Store.Commit(ctx, org.Change{Settings: map[string]string{"name": name}, Now: Start}); err != nil {
		tb.Fatal(err)
	}
	cfg.Store = o.Store
	if cfg.Clock == nil {
		cfg.Clock = o.Clock.Now
	}
	cfg.Deployment = &FleetPort{f: f, id: org.ID(o.ID)}
	if o.Service, err = handlers.New(cfg); err != nil {
		tb.Fatal(err)
	}
	f.mu.Lock()
	f.orgs[org.ID(o.ID)] = o
	f.mu.Unlock()
	if _, err := o.Service.BootstrapAdmin(ctx, admin); err != nil {
		tb.Fatal(err)
	}
	return o
}

// Taken returns and forgets what organization id's chat was handed.
func (f *Fleet) Taken(id string) []handlers.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	ds := f.Delivered[org.ID(id)]
	delete(f.Delivered, org.ID(id))
	return ds
}

// FleetPort is one organization's handlers.Deployment in a Fleet.
type FleetPort struct {
	f  *Fleet
	id org.ID
}

var _ handlers.Deployment = (*FleetPort)(nil)

func (p *FleetPort) Org() org.ID     { return p.id }
func (p *FleetPort) LinkTag() string { return handlers.LinkTagFor(p.f.Key, p.id) }

func (p *FleetPort) RegisterLinkTag(ctx context.Context) error {
	return p.f.Dir.RegisterTag(ctx, p.LinkTag(), p.id)
}

func (p *FleetPort) ResolveLinkTag(ctx context.Context, tag string) (org.ID, bool, error) {
	return p.f.Dir.ResolveTag(ctx, tag)
}

func (p *FleetPort) PersonOrgs(ctx context.Context, email string) ([]org.ID, error) {
	return p.f.People.Orgs(ctx, email)
}

func (p *FleetPort) Peer(_ context.Context, id org.ID) (*handlers.Service, func(context.Context, []handlers.Delivery) error, error) {
	p.f.mu.Lock()
	o := p.f.orgs[id]
	p.f.mu.Unlock()
	if o == nil {
		return nil, nil, fmt.Errorf("no organization %s in the fleet", id)
	}
	deliver := func(_ context.Context, ds []handlers.Delivery) error {
		p.f.mu.Lock()
		p.f.Delivered[id] = append(p.f.Delivered[id], ds...)
		p.f.mu.Unlock()
		return nil
	}
	return o.Service, deliver, nil
}

func (p *FleetPort) Login(ctx context.Context, email string) (*org.Login, error) {
	return p.f.Logins.Get(ctx, email)
}

func (p *FleetPort) SetLogin(ctx context.Context, l org.Login, version int64, endSessions bool) error {
	return p.f.Logins.Set(ctx, l, version, endSessions)
}

func (p *FleetPort) IssueReset(ctx context.Context, email, hash string, ttl time.Duration) error {
	return p.f.Logins.IssueReset(ctx, email, hash, ttl)
}

func (p *FleetPort) ResetEmail(ctx context.Context, hash string) (string, error) {
	return p.f.Logins.ResetEmail(ctx, hash)
}

func (p *FleetPort) UseReset(ctx context.Context, hash, email, passwordHash string) (bool, error) {
	return p.f.Logins.UseReset(ctx, hash, email, passwordHash)
}

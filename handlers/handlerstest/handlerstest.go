// Package handlerstest sets up what the tests of the handlers and of every
// adapter stand on: a fresh organization on a real redis-server, with its
// store, its Service, a bootstrapped admin and a clock the test moves.
package handlerstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// Start is where every test organization's clock starts: a Monday, 09:00 UTC.
var Start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// Clock is the Service's clock (handlers.Config.Clock), moved by the test.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at Start.
func NewClock() *Clock { return &Clock{now: Start} }

func (c *Clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func (c *Clock) Set(t time.Time)         { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// Org is one organization with its own hash tag.
type Org struct {
	ID      string
	Store   *storage.Store
	Service *handlers.Service
	Clock   *Clock
}

// NewOrg starts an organization named prefix + random hex on rdb, whose first
// active admin is admin. cfg configures its Service: NewOrg sets Store, and
// Clock when cfg has none.
func NewOrg(tb testing.TB, rdb redis.UniversalClient, prefix, admin string, cfg handlers.Config) *Org {
	tb.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	o := &Org{ID: prefix + hex.EncodeToString(b), Clock: NewClock()}
	var err error
	if o.Store, err = storage.New(rdb, org.ID(o.ID)); err != nil {
		tb.Fatal(err)
	}
	if err := o.Store.LoadScripts(ctx); err != nil {
		tb.Fatal(err)
	}
	cfg.Store = o.Store
	if cfg.PublicURL != "" && cfg.Exports == nil {
		cfg.Exports = o.Store // a public web address: export links work
	}
	if cfg.Clock == nil {
		cfg.Clock = o.Clock.Now
	}
	if o.Service, err = handlers.New(cfg); err != nil {
		tb.Fatal(err)
	}
	if _, err := o.Service.BootstrapAdmin(ctx, admin); err != nil {
		tb.Fatal(err)
	}
	return o
}

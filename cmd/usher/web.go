package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/web"
	"github.com/usher-chat/usher/handlers/secret"
	"github.com/usher-chat/usher/storage"
)

// webConfig is the web pages' part of the environment.
type webConfig struct {
	clientIPHeader string
	sessionTTL     time.Duration
	// passwordHashes overrides how many password hashes may run at once
	// (0: sized from the memory limit and the CPUs).
	passwordHashes int
}

func loadWebConfig(getenv func(string) string) (webConfig, error) {
	var c webConfig
	var problems []string
	if v := getenv("USHER_WEB_CLIENT_IP_HEADER"); v != "" {
		if strings.ContainsAny(v, " \t:\r\n") {
			problems = append(problems, fmt.Sprintf("USHER_WEB_CLIENT_IP_HEADER %q is not a header name (e.g. X-Forwarded-For)", v))
		}
		c.clientIPHeader = v
	}
	if v := getenv("USHER_WEB_SESSION_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Minute || d > 30*24*time.Hour {
			problems = append(problems, fmt.Sprintf("USHER_WEB_SESSION_TTL %q: want a duration from 5m to 720h, e.g. 12h", v))
		}
		c.sessionTTL = d
	}
	if v := getenv("USHER_PASSWORD_HASHES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 256 {
			problems = append(problems, fmt.Sprintf("USHER_PASSWORD_HASHES %q: want how many password hashes may run at once, 1 to 256 (each holds 19 MiB)", v))
		}
		c.passwordHashes = n
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, nil
}

// limitPasswordHashes bounds the password hashes running at once (each
// holds 19 MiB), so that a burst of sign-ins cannot exhaust the process's
// memory: USHER_PASSWORD_HASHES, else sized from GOMEMLIMIT or, without
// one, the container's cgroup memory limit.
func limitPasswordHashes(log *slog.Logger, override int) {
	limit, source := memoryLimit()
	n := secret.HashSlots(limit, runtime.GOMAXPROCS(0))
	if override > 0 {
		n, source = override, "USHER_PASSWORD_HASHES"
	}
	secret.SetHashLimit(n, secret.DefaultHashWait)
	log.Info("password hashes bounded", "at_once", n, "mib_each", secret.HashMemory>>20, "sized_by", source, "memory_limit_mib", limit>>20)
}

// memoryLimit is the process's memory limit in bytes and where it comes
// from, or 0 when none is known.
func memoryLimit() (int64, string) {
	if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
		return l, "GOMEMLIMIT"
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if l, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && l > 0 && l < 1<<50 {
				return l, "cgroup " + f
			}
		}
	}
	return 0, "CPUs (no memory limit known)"
}

// mountWeb serves the web pages, always on in `usher serve`: invitation
// links (USHER_PUBLIC_URL/invitations/...) must lead somewhere.
func mountWeb(ctx context.Context, s *server) error {
	wc, err := loadWebConfig(s.getenv)
	if err != nil {
		return err
	}
	log := s.log.With("part", "web")
	limitPasswordHashes(log, wc.passwordHashes)
	if u, err := url.Parse(s.cfg.publicURL); err == nil && u.Scheme == "http" && !loopbackName(u.Hostname()) {
		log.Warn("USHER_PUBLIC_URL is plain http on a non-loopback host: browsers get Secure cookies there only over https, so signing in will fail; serve usher behind https.", "public_url", s.cfg.publicURL)
	}
	// Invitation links of every organization arrive here: their Services are
	// the tenants, whose routers tell each inviter in their own chat. A
	// sign-in is a person's, for all their organizations (handlers' login.go),
	// so the sessions are the deployment's, not the default organization's.
	ses, err := storage.NewSessions(s.rdb, s.cfg.org)
	if err != nil {
		return err
	}
	if d := deploymentOf(s.svc); d != nil {
		d.attach(s.orgs)
		ses = storage.NewPersonSessions(s.rdb)
		if err := d.logins.LoadScripts(ctx); err != nil {
			return err
		}
		// At start rather than on the first invitation's commit, which then
		// pays no extra round trip.
		if err := d.port(s.cfg.org).RegisterLinkTag(ctx); err != nil {
			return err
		}
	}
	if err := ses.LoadScripts(ctx); err != nil {
		return err
	}
	h, err := web.New(web.Config{
		Service:        s.svc,
		Sessions:       webSessions{ses},
		Limiter:        webSessions{ses},
		Deliver:        s.deliverAll,
		Secret:         s.cfg.secret.csrfKey(),
		PublicURL:      s.cfg.publicURL,
		ClientIPHeader: wc.clientIPHeader,
		SessionTTL:     wc.sessionTTL,
		NoEmail:        s.cfg.mail == nil,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	h.Mount(s.mux)
	s.webWait = h.Wait
	return nil
}

func loopbackName(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// webSessions adapts storage.Sessions to bot/web's ports: the two packages do
// not import each other, so the types are converted here.
type webSessions struct{ s *storage.Sessions }

var (
	_ web.Sessions = webSessions{}
	_ web.Limiter  = webSessions{}
)

func (w webSessions) Create(ctx context.Context, idHash string, ses web.Session, ttl time.Duration) error {
	return w.s.Create(ctx, idHash, storage.Session(ses), ttl)
}

func (w webSessions) Lookup(ctx context.Context, idHash string) (*web.Session, error) {
	ses, err := w.s.Lookup(ctx, idHash)
	if ses == nil || err != nil {
		return nil, err
	}
	out := web.Session(*ses)
	return &out, nil
}

func (w webSessions) End(ctx context.Context, idHash, email string) error {
	return w.s.End(ctx, idHash, email)
}

func (w webSessions) Attempt(ctx context.Context, now time.Time, limits []web.Limit) (time.Duration, error) {
	ls := make([]storage.Limit, len(limits))
	for i, l := range limits {
		ls[i] = storage.Limit(l)
	}
	return w.s.Attempt(ctx, now, ls)
}

func (w webSessions) Forget(ctx context.Context, key string) error { return w.s.Forget(ctx, key) }

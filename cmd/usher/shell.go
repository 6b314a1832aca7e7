package main

// `usher shell`: every flow in a terminal, on an embedded Redis (miniredis)
// unless one is configured.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/shell"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

func runShell(ctx context.Context, e env) error {
	as := ""
	args := e.args[1:]
	for len(args) > 0 {
		switch {
		case args[0] == "--as" && len(args) > 1:
			as, args = args[1], args[2:]
		case strings.HasPrefix(args[0], "--as="):
			as, args = strings.TrimPrefix(args[0], "--as="), args[1:]
		default:
			return usageError{fmt.Sprintf("usher shell: unexpected %q\nusage: usher shell [--as EMAIL]", args[0])}
		}
	}
	cfg, err := loadConfig(e.getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now
	if e.now != nil {
		start = e.now
	}
	clock := shell.NewClock(start())
	embedded := !cfg.redis.configured()
	if as == "" && len(cfg.admins) > 0 {
		as = cfg.admins[0]
	}
	if as == "" {
		as = "admin@example.com"
	}
	if embedded && len(cfg.admins) == 0 {
		// An empty embedded organization has nobody who may do anything: make
		// the first identity its admin, as `usher admin add` would.
		cfg.admins = []string{as}
	}
	rdb, closeRedis, err := connect(ctx, cfg, embedded)
	if err != nil {
		return err
	}
	defer closeRedis()
	svc, err := newService(ctx, e, cfg, rdb, log, clock.Now)
	if err != nil {
		return err
	}
	if embedded {
		fmt.Fprintln(e.stdout, "usher shell: using an embedded in-process Redis (miniredis); everything is forgotten when you quit. Set REDIS_URL to use a real server.")
	} else {
		fmt.Fprintf(e.stdout, "usher shell: using Redis at %s, organization %q.\n", cfg.redis.describe(), cfg.org)
	}
	fmt.Fprintf(e.stdout, "Admins: %s. You are %s. Type /usher help, or :help for the shell's own commands.\n", strings.Join(cfg.admins, ", "), as)
	sh := shell.New(svc, clock, e.stdout, as)
	dir := storage.NewDirectory(rdb)
	if err := dir.LoadScripts(ctx); err != nil {
		return err
	}
	sh.SetOrgs(shellOrgs{orgCmd: orgCmd{e: e, cfg: cfg, rdb: rdb, dir: dir, log: log}, clock: clock.Now, embedded: embedded}, cfg.org)
	return sh.Run(ctx, e.stdin, e.interactive)
}

// shellOrgs is the deployment's organizations for the shell's :org.
type shellOrgs struct {
	orgCmd
	clock    func() time.Time
	embedded bool
}

func (o shellOrgs) List(ctx context.Context) ([]shell.OrgInfo, error) {
	orgs, err := o.dir.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]shell.OrgInfo, len(orgs))
	for i, g := range orgs {
		out[i] = shell.OrgInfo{ID: g.ID, Name: g.Name}
	}
	return out, nil
}

// Open builds the organization's service as every start builds the default
// one's; USHER_ADMINS are the default organization's admins only.
func (o shellOrgs) Open(ctx context.Context, id org.ID) (shell.Service, error) {
	cfg := o.cfg
	if id != cfg.org {
		cfg.org, cfg.admins = id, nil
	}
	return newService(ctx, o.e, cfg, o.rdb, o.log, o.clock)
}

// Create is `usher org create NAME --admin EMAIL` on the embedded Redis,
// where the shell's user is the operator; a real deployment's
// organizations are the operator's to create.
func (o shellOrgs) Create(ctx context.Context, id org.ID, name, admin string) (string, error) {
	if !o.embedded {
		return "", org.Errorf(org.CodeNotFound, "There is no organization %s in this deployment.", id).
			WithHint("An operator creates it with `usher org create %s --admin EMAIL`; :org lists the ones there are.", shellQuote(name))
	}
	var out strings.Builder
	c := o.orgCmd
	c.e.stdout = &out
	if err := c.create(ctx, id, name, admin, nil); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

// shellQuote quotes s for a command line when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

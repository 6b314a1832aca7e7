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
	return sh.Run(ctx, e.stdin, e.interactive)
}

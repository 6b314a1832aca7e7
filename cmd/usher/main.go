// Command usher runs the usher chat-ops bot: `usher serve` for Slack and
// Teams, `usher shell` to try every flow in a terminal, `usher admin add` to
// bootstrap an admin, `usher org ...` to manage organizations, `usher version`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/mail"
	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// go-redis's own messages as JSON lines too (process-wide, so only here).
		redis.SetLogger(redisLog{slog.New(slog.NewJSONHandler(os.Stderr, nil))})
	}
	err := run(ctx, env{
		args: os.Args[1:], getenv: os.Getenv,
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		interactive: isTerminal(os.Stdin),
	})
	if err != nil {
		var u usageError
		fmt.Fprintln(os.Stderr, "usher:", err)
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// env is everything run takes from the process, so tests can run the real
// program in-process.
type env struct {
	args           []string
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	interactive    bool
	// Tests pin these for reproducible transcripts.
	now  func() time.Time
	rand io.Reader
	// ready, when set, receives the address `serve` listens on.
	ready chan<- string
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

const usage = `usage:
  usher shell [--as EMAIL]   try usher in a terminal (embedded Redis unless REDIS_URL is set)
  usher serve                serve chat platforms over HTTP (needs REDIS_URL)
  usher admin add EMAIL [--force]
                             create EMAIL as an active admin (needs REDIS_URL);
                             --force also promotes or re-activates an existing user
  usher org create|list|show|link|delete ...
                             manage the deployment's organizations (needs REDIS_URL);
                             usher org help lists the subcommands
  usher scim token create|list|revoke ORG ...
                             bearer tokens for SCIM provisioning from Okta or Entra ID
                             (needs REDIS_URL); usher scim help explains them
  usher version              print the version`

func run(ctx context.Context, e env) error {
	if len(e.args) == 0 {
		return usageError{"no command given\n" + usage}
	}
	switch e.args[0] {
	case "shell":
		return runShell(ctx, e)
	case "serve":
		return runServe(ctx, e)
	case "admin":
		force := len(e.args) == 4 && e.args[3] == "--force"
		if len(e.args) != 3 && !force || e.args[1] != "add" {
			return usageError{"usage: usher admin add EMAIL [--force]"}
		}
		return runAdminAdd(ctx, e, e.args[2], force)
	case "org":
		return runOrg(ctx, e)
	case "scim":
		return runSCIM(ctx, e)
	case "version", "--version", "-v":
		fmt.Fprintln(e.stdout, "usher", versionString())
		return nil
	case "help", "--help", "-h":
		fmt.Fprintln(e.stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q\n%s", e.args[0], usage)}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// config is read from the environment once, every problem reported at once.
type config struct {
	redisURL  string
	redis     redisConfig    // redis.go
	shutdown  shutdownConfig // health.go
	org       org.ID         // USHER_ORG: the default organization
	publicURL string
	// webPublic: USHER_PUBLIC_URL is set, so export links can be handed out
	// (the default http://localhost:3000 reaches no one else's browser).
	webPublic bool
	admins    []string
	addr      string
	secret    deploymentSecret // secret.go
	// mail is SMTP_URL and USHER_MAIL_FROM: email as a delivery platform
	// for every organization; nil when SMTP_URL is not set.
	mail *mail.Config
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		redisURL:  getenv("REDIS_URL"),
		publicURL: orDefault(getenv("USHER_PUBLIC_URL"), "http://localhost:3000"),
		webPublic: getenv("USHER_PUBLIC_URL") != "",
		addr:      orDefault(getenv("USHER_ADDR"), ":3000"),
	}
	var problems []string
	id, err := org.ParseID(orDefault(getenv("USHER_ORG"), "default"))
	if err != nil {
		problems = append(problems, "USHER_ORG: "+err.Error())
	}
	c.org = id
	for _, a := range strings.Split(getenv("USHER_ADMINS"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.admins = append(c.admins, a)
		}
	}
	if !strings.HasPrefix(c.publicURL, "http://") && !strings.HasPrefix(c.publicURL, "https://") {
		problems = append(problems, fmt.Sprintf("USHER_PUBLIC_URL %q must start with http:// or https://", c.publicURL))
	}
	var redisProblems []string
	c.redis, redisProblems = loadRedisConfig(getenv)
	problems = append(problems, redisProblems...)
	c.shutdown, redisProblems = loadShutdownConfig(getenv)
	problems = append(problems, redisProblems...)
	c.secret, redisProblems = loadSecret(getenv)
	problems = append(problems, redisProblems...)
	if c.mail, err = mail.FromEnv(getenv); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func newService(ctx context.Context, e env, cfg config, rdb redis.UniversalClient, log *slog.Logger, clock func() time.Time) (*handlers.Service, error) {
	st, err := newStore(cfg, rdb)
	if err != nil {
		return nil, err
	}
	return newServiceOn(ctx, e, cfg, st, log, clock)
}

// newServiceOn is the service on a store the caller keeps (serve's one Store).
func newServiceOn(ctx context.Context, e env, cfg config, st *storage.Store, log *slog.Logger, clock func() time.Time) (*handlers.Service, error) {
	if err := st.LoadScripts(ctx); err != nil {
		return nil, err
	}
	if err := migrateEmailCase(ctx, st, log, clock); err != nil {
		return nil, err
	}
	if err := registerDefaultOrg(ctx, st.Directory(), st, log); err != nil {
		return nil, err
	}
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: cfg.publicURL, Logger: log, Clock: clock, Rand: e.rand,
		NextTime: scheduler.Next, Deployment: newDeployment(cfg, st, log, clock, e.rand), Exports: exportsOf(cfg, st)})
	if err != nil {
		return nil, err
	}
	// USHER_ADMINS only creates the admins that are missing: someone an
	// admin demoted or deactivated in chat stays so across restarts (that
	// change is audited; undoing it is `usher admin add EMAIL --force`).
	for _, a := range cfg.admins {
		outcome, u, err := svc.EnsureAdmin(ctx, a, false)
		if err != nil {
			return nil, fmt.Errorf("USHER_ADMINS %s: %w", a, err)
		}
		switch outcome {
		case handlers.AdminCreated:
			log.InfoContext(ctx, "USHER_ADMINS: created an active admin", "email", a)
		case handlers.AdminSkipped:
			log.WarnContext(ctx, "USHER_ADMINS: not made an admin again, as changed in chat", "email", a, "role", u.Role, "status", u.Status,
				"hint", fmt.Sprintf("to make them an active admin anyway run `usher admin add %s --force`; otherwise drop them from USHER_ADMINS", a))
		}
	}
	return svc, nil
}

func runAdminAdd(ctx context.Context, e env, email string, force bool) error {
	// Validated before connecting; EnsureAdmin gets the operator's spelling,
	// which a new admin keeps for display.
	_, email, err := org.SpellEmail(email)
	if err != nil {
		return err
	}
	cfg, rdb, closeRedis, err := operatorRedis(ctx, e)
	if err != nil {
		return err
	}
	defer closeRedis()
	cfg.admins = nil
	svc, err := newService(ctx, e, cfg, rdb, slog.New(slog.NewTextHandler(e.stderr, nil)), nil)
	if err != nil {
		return err
	}
	outcome, u, err := svc.EnsureAdmin(ctx, email, force)
	if err != nil {
		return err
	}
	if u != nil {
		email = u.Display() // someone already there keeps their spelling
	}
	switch outcome {
	case handlers.AdminCreated:
		fmt.Fprintf(e.stdout, "Created %s as an active admin of %q.\n", email, cfg.org)
	case handlers.AdminRestored:
		fmt.Fprintf(e.stdout, "%s is an active admin of %q again (was %s %s; forced, audited as operator).\n", email, cfg.org, u.Status, u.Role)
	case handlers.AdminSkipped:
		return fmt.Errorf("%s is %s %s in %q, as changed in chat; nothing was changed. Run `usher admin add %s --force` to make them an active admin anyway", email, u.Status, u.Role, cfg.org, email)
	default:
		fmt.Fprintf(e.stdout, "%s is an active admin of %q.\n", email, cfg.org)
	}
	return nil
}

// redactURL drops a password from a Redis URL before printing it.
func redactURL(u string) string {
	if opt, err := redis.ParseURL(u); err == nil && opt.Password != "" {
		return strings.Replace(u, opt.Password, "***", 1)
	}
	return u
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// exportsOf is where export links are kept: nowhere unless usher's web has a
// public address (handlers' export.go then says exports need one).
func exportsOf(cfg config, st *storage.Store) handlers.ExportLinks {
	if !cfg.webPublic {
		return nil
	}
	return st
}

package main

// SCIM provisioning: `usher scim token ...` makes and revokes the bearer
// tokens identity providers sign in with, and `usher serve` mounts the
// endpoint (bot/scim) at /scim/v2/.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/scim"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

const scimUsage = `usage:
  usher scim token create ORG [--name PROVIDER]
                             make a bearer token for an identity provider (Okta, Entra ID) to
                             provision ORG over SCIM at USHER_PUBLIC_URL/scim/v2/; it is printed
                             once and only its hash is stored; PROVIDER (default "idp", e.g.
                             okta, entra) is the actor of its changes in the audit log
  usher scim token list ORG  list ORG's tokens: id, provider, created (never the secret)
  usher scim token revoke ORG [ID]
                             revoke ORG's token ID, or all of ORG's tokens without ID
Every scim command needs Redis (REDIS_URL, or Sentinel / Cluster).`

// scimArgs is a parsed `usher scim token SUB ORG [ID]` line.
type scimArgs struct {
	sub  string
	org  org.ID
	id   string
	name string
	help bool
}

func parseSCIMArgs(args []string) (scimArgs, error) {
	var a scimArgs
	fs := pflag.NewFlagSet("usher scim", pflag.ContinueOnError)
	fs.SetOutput(discard{})
	fs.StringVar(&a.name, "name", "idp", "")
	fs.BoolVarP(&a.help, "help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		return a, usageError{err.Error() + "\n" + scimUsage}
	}
	pos := fs.Args()
	if a.help || len(pos) == 0 || pos[0] == "help" {
		a.help = true
		return a, nil
	}
	if pos[0] != "token" || len(pos) < 2 {
		return a, usageError{fmt.Sprintf("unknown scim command %q\n%s", strings.Join(pos, " "), scimUsage)}
	}
	a.sub = pos[1]
	want := map[string][2]int{"create": {1, 1}, "list": {1, 1}, "revoke": {1, 2}}
	n, ok := want[a.sub]
	if !ok {
		return a, usageError{fmt.Sprintf("unknown scim token command %q\n%s", a.sub, scimUsage)}
	}
	rest := pos[2:]
	if len(rest) < n[0] || len(rest) > n[1] {
		return a, usageError{fmt.Sprintf("usher scim token %s: wrong number of arguments\n%s", a.sub, scimUsage)}
	}
	id, err := orgIDArg(rest[0])
	if err != nil {
		return a, err
	}
	a.org = id
	if len(rest) == 2 {
		a.id = rest[1]
	}
	if a.sub == "create" {
		name := strings.ToLower(strings.TrimSpace(a.name))
		if name == "" || len(name) > 32 || strings.ContainsFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }) {
			return a, usageError{fmt.Sprintf("--name %q: want 1-32 of a-z, 0-9 and '-', e.g. okta or entra\n%s", a.name, scimUsage)}
		}
		a.name = name
	}
	return a, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func runSCIM(ctx context.Context, e env) error {
	a, err := parseSCIMArgs(e.args[1:])
	if err != nil {
		return err
	}
	if a.help {
		fmt.Fprintln(e.stdout, scimUsage)
		return nil
	}
	cfg, rdb, closeRedis, err := operatorRedis(ctx, e)
	if err != nil {
		return err
	}
	defer closeRedis()
	dir := storage.NewDirectory(rdb)
	if _, found, err := dir.Get(ctx, a.org); err != nil {
		return err
	} else if !found && a.org != cfg.org {
		return orgNotFound(a.org)
	}
	tokens := storage.NewSCIMTokens(rdb)
	switch a.sub {
	case "create":
		token, err := scim.NewToken()
		if err != nil {
			return err
		}
		now := time.Now()
		if e.now != nil {
			now = e.now()
		}
		id := "t" + strconv.FormatInt(now.UnixMilli()%1e9, 36) + scim.HashToken(token)[:4]
		if err := tokens.Create(ctx, storage.SCIMToken{ID: id, Org: a.org, Name: a.name, Created: now}, scim.HashToken(token)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "SCIM token %s for %s (provider %s). It is shown only now; usher keeps only its hash:\n\n  %s\n\n", id, a.org, a.name, token)
		fmt.Fprintf(e.stdout, "In the provider: SCIM base URL %s/scim/v2, authentication \"HTTP Header\" / Bearer token.\n", strings.TrimRight(cfg.publicURL, "/"))
		fmt.Fprintf(e.stdout, "Revoke it with: usher scim token revoke %s %s\n", a.org, id)
	case "list":
		ts, err := tokens.List(ctx, a.org)
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			fmt.Fprintf(e.stdout, "%s has no SCIM tokens. Make one with: usher scim token create %s --name okta\n", a.org, a.org)
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROVIDER\tCREATED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.ID, t.Name, t.Created.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "revoke":
		n, err := tokens.Revoke(ctx, a.org, a.id)
		if errors.Is(err, storage.ErrNoSCIMToken) {
			return org.Errorf(org.CodeNotFound, "%s has no SCIM token %s; nothing was revoked.", a.org, a.id).WithHint("List them with: usher scim token list %s", a.org)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Revoked %d SCIM token(s) of %s. Replicas that used one stop accepting it within 10 seconds.\n", n, a.org)
	}
	return nil
}

// scimConfig is the SCIM endpoint's part of the environment.
type scimConfig struct {
	roleAttribute string
	rate          float64
}

func loadSCIMConfig(getenv func(string) string) (scimConfig, error) {
	c := scimConfig{roleAttribute: getenv("USHER_SCIM_ROLE_ATTRIBUTE")}
	if v := getenv("USHER_SCIM_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 || r > 10000 {
			return c, fmt.Errorf("configuration:\n  USHER_SCIM_RATE %q: want requests per second per token, e.g. 25", v)
		}
		c.rate = r
	}
	return c, nil
}

// scimTokens adapts storage's tokens to bot/scim's port.
type scimTokens struct{ t *storage.SCIMTokens }

func (s scimTokens) Lookup(ctx context.Context, hash string) (*scim.Credential, error) {
	t, err := s.t.Lookup(ctx, hash)
	if t == nil || err != nil {
		return nil, err
	}
	return &scim.Credential{ID: t.ID, Org: t.Org, Name: t.Name}, nil
}

// mountSCIM serves /scim/v2/ for every organization: the token names it,
// and its tenant (store, use cases, router) does the work.
func mountSCIM(s *server) error {
	sc, err := loadSCIMConfig(s.getenv)
	if err != nil {
		return err
	}
	srv, err := scim.New(scim.Config{
		Tokens: scimTokens{storage.NewSCIMTokens(s.rdb)},
		Org: func(ctx context.Context, id org.ID) (scim.Org, error) {
			t, err := s.orgs.get(id)
			if err != nil {
				return scim.Org{}, err
			}
			o := scim.Org{Service: t.svc, Deliver: func(ctx context.Context, ds []handlers.Delivery) error { return s.deliverFor(ctx, t, ds) }}
			// With an outbox worker running, a change and what it tells
			// people are stored in one commit, as a chat command's are.
			if len(t.router.Platforms()) > 0 || s.cfg.mail != nil {
				o.Outbox = t.router.Outbox(deliver.Origin{})
			}
			return o, nil
		},
		RoleAttribute: sc.roleAttribute,
		Rate:          sc.rate,
		BaseURL:       strings.TrimRight(s.cfg.publicURL, "/") + "/scim/v2",
		Logger:        s.log.With("part", "scim"),
		Clock:         s.clock,
	})
	if err != nil {
		return err
	}
	srv.Mount(s.mux)
	s.log.Info("SCIM provisioning served", "path", scim.Prefix, "role_attribute", cmp.Or(sc.roleAttribute, "roles"))
	return nil
}

package main

// `usher org ...`: the operator manages the deployment's organizations from
// a terminal. The directory (storage/directory.go) lists them and maps chat
// tenants to them; each organization's own state stays under its hash tag.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

const orgUsage = `usage:
  usher org create NAME --admin EMAIL [--id ID] [--slack-team T]... [--slack-enterprise E]... [--teams-tenant X]...
                             create an organization named NAME (its id is made from NAME
                             unless --id gives one) with EMAIL as its first active admin,
                             and link the chat tenants given
  usher org list             list the organizations, their platforms and tenants
  usher org show ORG         show one organization: name, tenants, people
  usher org link ORG [--slack-team T]... [--slack-enterprise E]... [--teams-tenant X]...
                             link chat tenants to ORG: a Slack workspace (team id T...),
                             every workspace of an Enterprise Grid (enterprise id E...),
                             a Teams tenant (tenant id); refused if another organization has one
  usher org delete ORG [--confirm]
                             delete ORG and everything in it (refused while it has people,
                             unless --confirm; never USHER_ORG, the default organization)
  usher org reindex [ORG]    note every member and open invitation of ORG (default: of every
                             organization) in the person index, which the bell and the web
                             account page read, rebuild each workspace's members index (SCIM
                             groups), and put invitation requests older versions wrote in the
                             due queue (idempotent; safe while usher runs)
Every org command needs Redis (REDIS_URL, or Sentinel / Cluster). Repeated flags may also
be comma-separated (--slack-team T1,T2).`

// orgSubUsage is each subcommand's own usage line, for its errors.
var orgSubUsage = map[string]string{
	"create":  "usage: usher org create NAME --admin EMAIL [--id ID] [--slack-team T]... [--slack-enterprise E]... [--teams-tenant X]...",
	"list":    "usage: usher org list",
	"show":    "usage: usher org show ORG",
	"link":    "usage: usher org link ORG [--slack-team T]... [--slack-enterprise E]... [--teams-tenant X]...",
	"delete":  "usage: usher org delete ORG [--confirm]",
	"reindex": "usage: usher org reindex [ORG]",
}

// orgArgs is a parsed `usher org SUB ...` line.
type orgArgs struct {
	sub        string
	positional []string
	admin, id  string
	slackTeams []string
	slackEnts  []string
	teams      []string
	confirm    bool
	help       bool
}

// parseOrgArgs parses the words after `usher org`, flags anywhere on the
// line; every mistake is a usageError with the subcommand's usage.
func parseOrgArgs(args []string) (orgArgs, error) {
	if len(args) == 0 {
		return orgArgs{}, usageError{"usher org: no subcommand given\n" + orgUsage}
	}
	a := orgArgs{sub: args[0]}
	if a.sub == "help" || a.sub == "--help" || a.sub == "-h" {
		return orgArgs{help: true}, nil
	}
	usage, ok := orgSubUsage[a.sub]
	if !ok {
		return a, usageError{fmt.Sprintf("usher org: unknown subcommand %q\n%s", a.sub, orgUsage)}
	}
	fs := pflag.NewFlagSet("usher org "+a.sub, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVarP(&a.help, "help", "h", false, "")
	switch a.sub {
	case "create":
		fs.StringVar(&a.admin, "admin", "", "")
		fs.StringVar(&a.id, "id", "", "")
		fallthrough
	case "link":
		fs.StringSliceVar(&a.slackTeams, "slack-team", nil, "")
		fs.StringSliceVar(&a.slackEnts, "slack-enterprise", nil, "")
		fs.StringSliceVar(&a.teams, "teams-tenant", nil, "")
	case "delete":
		fs.BoolVar(&a.confirm, "confirm", false, "")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return a, usageError{fmt.Sprintf("usher org %s: %v\n%s", a.sub, err, usage)}
	}
	if a.help {
		return a, nil
	}
	a.positional = fs.Args()
	want := map[string]int{"create": 1, "list": 0, "show": 1, "link": 1, "delete": 1}[a.sub]
	if a.sub == "reindex" && len(a.positional) <= 1 {
		want = len(a.positional) // ORG is optional
	}
	if len(a.positional) != want {
		what := map[string]string{"create": "one NAME (quote a name with spaces)", "list": "no arguments", "show": "one ORG", "link": "one ORG", "delete": "one ORG"}[a.sub]
		return a, usageError{fmt.Sprintf("usher org %s: want %s, got %d: %q\n%s", a.sub, what, len(a.positional), a.positional, usage)}
	}
	if a.sub == "create" && a.admin == "" {
		return a, usageError{fmt.Sprintf("usher org create: --admin EMAIL is required (the organization's first admin)\n%s", usage)}
	}
	if a.sub == "link" && len(a.slackTeams)+len(a.slackEnts)+len(a.teams) == 0 {
		return a, usageError{fmt.Sprintf("usher org link: nothing to link: give --slack-team, --slack-enterprise or --teams-tenant\n%s", usage)}
	}
	return a, nil
}

// tenants are the chat tenants the flags name, each validated.
func (a orgArgs) tenants() ([]org.Tenant, error) {
	var ts []org.Tenant
	for _, t := range a.slackTeams {
		ts = append(ts, org.SlackTenant("", t))
	}
	for _, e := range a.slackEnts {
		ts = append(ts, org.SlackTenant(e, ""))
	}
	for _, x := range a.teams {
		ts = append(ts, org.TeamsTenant(x))
	}
	var errs []error
	for _, t := range ts {
		if err := t.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return ts, errors.Join(errs...)
}

// orgIDArg parses the ORG of show, link and delete.
func orgIDArg(s string) (org.ID, error) { return org.ParseID(strings.TrimSpace(s)) }

func runOrg(ctx context.Context, e env) error {
	a, err := parseOrgArgs(e.args[1:])
	if err != nil {
		return err
	}
	if a.help {
		if u, ok := orgSubUsage[a.sub]; ok {
			fmt.Fprintln(e.stdout, u)
		} else {
			fmt.Fprintln(e.stdout, orgUsage)
		}
		return nil
	}
	// Everything typed is checked before Redis is reached.
	var id org.ID
	var name string
	var tenants []org.Tenant
	switch a.sub {
	case "create":
		if name, err = org.ParseOrgName(a.positional[0]); err != nil {
			return err
		}
		if a.id != "" {
			id, err = org.ParseID(a.id)
		} else {
			id, err = org.IDFromName(name)
		}
		if err != nil {
			return err
		}
		// The operator's spelling (domain lower-cased), which a new admin
		// keeps for display, as with `usher admin add`.
		if _, a.admin, err = org.SpellEmail(a.admin); err != nil {
			return err
		}
	case "show", "link", "delete":
		if id, err = orgIDArg(a.positional[0]); err != nil {
			return err
		}
	}
	if tenants, err = a.tenants(); err != nil {
		return err
	}

	cfg, rdb, closeRedis, err := operatorRedis(ctx, e)
	if err != nil {
		return err
	}
	defer closeRedis()
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := storage.NewDirectory(rdb)
	if err := dir.LoadScripts(ctx); err != nil {
		return err
	}
	o := orgCmd{e: e, cfg: cfg, rdb: rdb, dir: dir, log: log}
	// USHER_ORG is registered as every start does; not when this very
	// command creates it on a fresh deployment (create names it then).
	if a.sub != "create" || id != cfg.org {
		if err := o.registerDefault(ctx); err != nil {
			return err
		}
	}
	switch a.sub {
	case "create":
		return o.create(ctx, id, name, a.admin, tenants)
	case "list":
		return o.list(ctx)
	case "show":
		return o.show(ctx, id)
	case "link":
		return o.link(ctx, id, tenants)
	case "delete":
		return o.delete(ctx, id, a.confirm)
	case "reindex":
		return o.reindex(ctx, a.positional) // reindex.go
	}
	return nil
}

type orgCmd struct {
	e   env
	cfg config
	rdb redis.UniversalClient
	dir *storage.Directory
	log *slog.Logger
}

func (o orgCmd) store(id org.ID) (*storage.Store, error) {
	c := o.cfg
	c.org = id
	return newStore(c, o.rdb)
}

func (o orgCmd) registerDefault(ctx context.Context) error {
	st, err := o.store(o.cfg.org)
	if err != nil {
		return err
	}
	return registerDefaultOrg(ctx, o.dir, st, o.log)
}

// registerDefaultOrg puts USHER_ORG in the directory when it is not there
// (every start of serve, shell, admin add and org: idempotent), so that a
// deployment from before the directory keeps working unchanged and `usher
// org list` shows it. Its name is the one set in chat, if any.
func registerDefaultOrg(ctx context.Context, dir *storage.Directory, st *storage.Store, log *slog.Logger) error {
	snap, err := st.Load(ctx, org.Query{})
	if err != nil {
		return fmt.Errorf("register organization %s: %w", st.Org(), err)
	}
	name := snap.Settings.Name
	if name == org.DefaultSettings().Name {
		name = string(st.Org())
	}
	created, err := dir.Ensure(ctx, storage.Organization{ID: st.Org(), Name: name})
	if err != nil {
		return fmt.Errorf("register organization %s: %w", st.Org(), err)
	}
	if created {
		log.InfoContext(ctx, "registered the default organization (USHER_ORG) in the directory", "org", st.Org(), "name", name)
	}
	return nil
}

func (o orgCmd) create(ctx context.Context, id org.ID, name, admin string, tenants []org.Tenant) error {
	st, err := o.store(id)
	if err != nil {
		return err
	}
	// Keys under the id without a directory entry belong to an organization
	// from before the directory (an earlier USHER_ORG): never adopt them
	// under a new name and admin silently.
	if n, err := st.UserCount(ctx); err != nil {
		return fmt.Errorf("create organization %s: %w", id, err)
	} else if n > 0 {
		if _, found, _ := o.dir.Get(ctx, id); found {
			return fmt.Errorf("create organization %s: %w", id, org.Errorf(org.CodeConflict, "Organization %s already exists.", id).
				WithHint("See it with `usher org show %s`, or choose another id with --id.", id))
		}
		return org.Errorf(org.CodeConflict, "Redis already holds an organization %s (%d people) that is not in the directory; nothing was changed.", id, n).
			WithHint("Run any usher command once with USHER_ORG=%s to register it as it is, or delete it with `usher org delete %s --confirm`.", id, id)
	}
	// The directory first: it claims the id and the tenants atomically (and
	// refuses either if taken) before anything is written under the id.
	if err := o.dir.Create(ctx, storage.Organization{ID: id, Name: name}, tenants...); err != nil {
		return fmt.Errorf("create organization %s: %w", id, err)
	}
	if err := st.LoadScripts(ctx); err != nil {
		return o.undoCreate(ctx, id, err)
	}
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: o.cfg.publicURL, Logger: o.log, Rand: o.e.rand, Deployment: newDeployment(o.cfg, st, o.log, nil, o.e.rand)})
	if err != nil {
		return o.undoCreate(ctx, id, err)
	}
	if _, err := svc.CreateOrganization(ctx, name, admin); err != nil {
		return o.undoCreate(ctx, id, err)
	}
	// A new organization's workspace index is complete from the start (it
	// has none), so its workspaces' members are read from it at once.
	if _, err := st.ReindexWorkspaces(ctx); err != nil {
		return fmt.Errorf("create organization %s: %w", id, err)
	}
	o.log.InfoContext(ctx, "organization created", "org", id, "name", name, "admin", admin, "tenants", len(tenants))
	fmt.Fprintf(o.e.stdout, "Created organization %s (%q) with %s as its first active admin (audited as operator).\n", id, name, admin)
	for _, t := range tenants {
		fmt.Fprintf(o.e.stdout, "  linked %s\n", t)
	}
	return nil
}

// createInstalled creates organization id for a chat tenant that installed
// usher itself ("Add to Slack", a Teams installationUpdate): the very steps
// of `usher org create`, the installer its first admin, the tenant linked
// in the same directory step. A refusal comes back as the *org.Error
// itself, for the installer to read.
func (s *server) createInstalled(ctx context.Context, id org.ID, name, admin string, tenant org.Tenant) error {
	oc := orgCmd{e: env{stdout: io.Discard, rand: s.rand}, cfg: s.cfg, rdb: s.rdb, dir: s.store.Directory(), log: s.log}
	if err := oc.create(ctx, id, name, admin, []org.Tenant{tenant}); err != nil {
		var oe *org.Error
		if errors.As(err, &oe) {
			return oe
		}
		return err
	}
	return nil
}

// undoCreate drops the directory entry of a create whose organization could
// not be written, so that the same command can simply be run again.
func (o orgCmd) undoCreate(ctx context.Context, id org.ID, cause error) error {
	if _, err := o.dir.Remove(ctx, id); err != nil {
		return fmt.Errorf("create organization %s: %w (and its directory entry stays: run `usher org delete %s --confirm`: %v)", id, cause, id, err)
	}
	return fmt.Errorf("create organization %s: %w (nothing was kept)", id, cause)
}

func (o orgCmd) list(ctx context.Context) error {
	orgs, err := o.dir.List(ctx)
	if err != nil {
		return fmt.Errorf("list organizations: %w", err)
	}
	w := tabwriter.NewWriter(o.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tPLATFORMS\tTENANTS\tCREATED")
	for _, g := range orgs {
		id := string(g.ID)
		if g.ID == o.cfg.org {
			id += " (default)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", id, g.Name, orNone(strings.Join(g.Platforms, ",")), orNone(tenantList(g.Tenants)), g.Created.UTC().Format(time.DateOnly))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(o.e.stdout, "%d organization(s).\n", len(orgs))
	return nil
}

func (o orgCmd) show(ctx context.Context, id org.ID) error {
	g, found, err := o.dir.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("show organization %s: %w", id, err)
	}
	if !found {
		return orgNotFound(id)
	}
	st, err := o.store(id)
	if err != nil {
		return err
	}
	n, err := st.UserCount(ctx)
	if err != nil {
		return fmt.Errorf("show organization %s: %w", id, err)
	}
	w := o.e.stdout
	fmt.Fprintf(w, "id:        %s", g.ID)
	if g.ID == o.cfg.org {
		fmt.Fprint(w, " (the default organization, USHER_ORG)")
	}
	fmt.Fprintf(w, "\nname:      %s\nplatforms: %s\ncreated:   %s\npeople:    %d\ntenants:\n", g.Name, orNone(strings.Join(g.Platforms, ", ")), g.Created.UTC().Format(time.RFC3339), n)
	if len(g.Tenants) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, t := range g.Tenants {
		fmt.Fprintf(w, "  %s\n", t)
	}
	return nil
}

func (o orgCmd) link(ctx context.Context, id org.ID, tenants []org.Tenant) error {
	if err := o.dir.Link(ctx, id, tenants...); err != nil {
		return fmt.Errorf("link to organization %s: %w", id, err)
	}
	o.log.InfoContext(ctx, "tenants linked", "org", id, "tenants", len(tenants))
	for _, t := range tenants {
		fmt.Fprintf(o.e.stdout, "Linked %s to organization %s.\n", t, id)
	}
	return nil
}

func (o orgCmd) delete(ctx context.Context, id org.ID, confirm bool) error {
	if id == o.cfg.org {
		return org.Errorf(org.CodeForbidden, "Organization %s is the default organization (USHER_ORG); nothing was deleted.", id).
			WithHint("Every usher start registers it again. Point USHER_ORG at another organization on every replica first.")
	}
	_, registered, err := o.dir.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("delete organization %s: %w", id, err)
	}
	st, err := o.store(id)
	if err != nil {
		return err
	}
	n, err := st.UserCount(ctx)
	if err != nil {
		return fmt.Errorf("delete organization %s: %w", id, err)
	}
	if !registered && n == 0 {
		return orgNotFound(id)
	}
	if n > 0 && !confirm {
		return org.Errorf(org.CodeConflict, "Organization %s has %d people; nothing was deleted.", id, n).
			WithHint("To delete it with everything in it (people, invitations, audit log, queued messages), run `usher org delete %s --confirm`.", id)
	}
	// The directory first, so that no tenant resolves to the organization
	// while its keys go.
	if _, err := o.dir.Remove(ctx, id); err != nil {
		return fmt.Errorf("delete organization %s: %w", id, err)
	}
	// Its SCIM tokens too: they live in the directory's slot.
	if _, err := storage.NewSCIMTokens(o.rdb).Revoke(ctx, id, ""); err != nil {
		return fmt.Errorf("delete organization %s: %w", id, err)
	}
	keys, err := storage.DeleteOrganizationKeys(ctx, o.rdb, id)
	if err != nil {
		return fmt.Errorf("delete organization %s (%d keys deleted, its directory entry already gone; run the command again): %w", id, keys, err)
	}
	o.log.WarnContext(ctx, "organization deleted by the operator", "org", id, "people", n, "keys", keys)
	fmt.Fprintf(o.e.stdout, "Deleted organization %s: %d people, %d keys, and its directory entries.\n", id, n, keys)
	return nil
}

func orgNotFound(id org.ID) error {
	return org.Errorf(org.CodeNotFound, "There is no organization %s.", id).WithHint("`usher org list` lists them.")
}

func tenantList(ts []org.Tenant) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

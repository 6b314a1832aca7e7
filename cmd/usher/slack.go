package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/metrics"
	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

var slackIDPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,20}$`)

// slackConfig is Slack's part of the environment (Bolt's variable names).
type slackConfig struct {
	signingSecret, botToken, appToken, apiURL string
	// botTokens are SLACK_BOT_TOKEN's tokens: one, or one per workspace of
	// an app installed in several (comma-separated); botToken is the first.
	botTokens []string
	// tenants pins the workspaces served (SLACK_TEAM_ID, SLACK_ENTERPRISE_ID);
	// empty: learnt from auth.test at start.
	tenants slack.Tenants
	// clientID and clientSecret (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET) turn
	// on distribution mode: workspaces install usher with "Add to Slack"
	// (install.go) and their tokens live in the installation store.
	// authorizeURL is Slack's consent page (tests point it elsewhere).
	clientID, clientSecret, authorizeURL string
	// limits are Slack's published rate limits times SLACK_RATE; rateOff
	// (SLACK_RATE=off) keeps to none.
	limits  slack.Limits
	rateOff bool
	// tokenSweep (SLACK_TOKEN_SWEEP, a duration) is how often rotating
	// tokens about to expire are refreshed with no request to need them.
	tokenSweep time.Duration
	// gridPerWorkspace (SLACK_GRID_ORGS=workspace) gives each workspace of
	// an org-wide Enterprise Grid install its own organization, instead of
	// one for the whole enterprise (SLACK_GRID_ORGS=enterprise, the default).
	gridPerWorkspace bool
	// dirRefresh (SLACK_DIRECTORY_REFRESH) is when every workspace's users
	// directory is listed again, a cron spec in UTC; "" (off): only when a
	// look-up finds it a day old.
	dirRefresh string
}

// defaultDirectoryRefresh rebuilds the directories once a day, at an hour
// when few invitations are sent.
const defaultDirectoryRefresh = "0 4 * * *"

// distributed reports distribution mode.
func (c slackConfig) distributed() bool { return c.clientID != "" || c.clientSecret != "" }

func (c slackConfig) apiURLOrDefault() string {
	if c.apiURL == "" {
		return "https://slack.com/api/"
	}
	return c.apiURL
}

// splitIDs reads a comma-separated list of Slack ids.
func splitIDs(v string) []string {
	var out []string
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}

func loadSlackConfig(getenv func(string) string) (slackConfig, bool, error) {
	c := slackConfig{
		signingSecret: getenv("SLACK_SIGNING_SECRET"),
		botToken:      getenv("SLACK_BOT_TOKEN"),
		appToken:      getenv("SLACK_APP_TOKEN"),
		apiURL:        getenv("SLACK_API_URL"),
		tenants:       slack.Tenants{Teams: splitIDs(getenv("SLACK_TEAM_ID")), Enterprises: splitIDs(getenv("SLACK_ENTERPRISE_ID"))},
		clientID:      getenv("SLACK_CLIENT_ID"), clientSecret: getenv("SLACK_CLIENT_SECRET"), authorizeURL: getenv("SLACK_AUTHORIZE_URL"),
	}
	c.limits = slack.DefaultLimits()
	switch v := strings.TrimSpace(getenv("SLACK_RATE")); v {
	case "", "1":
	case "off":
		c.rateOff = true
	default:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1000 {
			return c, true, fmt.Errorf("slack configuration:\n  SLACK_RATE %q: want a factor of Slack's published rate limits (1, 2, 0.5...) or off", v)
		}
		c.limits = c.limits.Scaled(f)
	}
	switch v := strings.TrimSpace(getenv("SLACK_DIRECTORY_REFRESH")); v {
	case "":
		c.dirRefresh = defaultDirectoryRefresh
	case "off":
	default:
		if _, err := scheduler.Next(v, "UTC", time.Now()); err != nil {
			return c, true, fmt.Errorf("slack configuration:\n  SLACK_DIRECTORY_REFRESH %q: want a cron spec in UTC such as \"0 4 * * *\" (or @daily), or off: %v", v, err)
		}
		c.dirRefresh = v
	}
	if c.distributed() {
		var problems []string
		c.tokenSweep = tokenSweepEvery
		if v := getenv("SLACK_TOKEN_SWEEP"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > slack.RefreshWithin/2 {
				problems = append(problems, fmt.Sprintf("SLACK_TOKEN_SWEEP %q: want a duration from 1s to %s, such as 15m", v, slack.RefreshWithin/2))
			}
			c.tokenSweep = d
		}
		switch v := strings.ToLower(strings.TrimSpace(getenv("SLACK_GRID_ORGS"))); v {
		case "", "enterprise":
		case "workspace":
			c.gridPerWorkspace = true
		default:
			problems = append(problems, fmt.Sprintf("SLACK_GRID_ORGS %q: want enterprise (one organization for a whole Enterprise Grid install, the default) or workspace (one per workspace)", v))
		}
		return c, true, checkDistributed(c, problems...)
	}
	if c.signingSecret == "" && c.appToken == "" && c.botToken == "" {
		return c, false, nil
	}
	var problems []string
	c.botTokens = splitIDs(c.botToken)
	if len(c.botTokens) > 0 {
		c.botToken = c.botTokens[0]
	}
	for _, t := range c.botTokens {
		if !strings.HasPrefix(t, "xoxb-") && !strings.HasPrefix(t, "xoxe.xoxb-") && len(c.botTokens) > 1 {
			problems = append(problems, "SLACK_BOT_TOKEN: each of several tokens must be a bot token (xoxb-...), comma-separated")
			break
		}
	}
	if len(c.botTokens) > 1 && !c.tenants.Empty() {
		problems = append(problems, "SLACK_TEAM_ID and SLACK_ENTERPRISE_ID pin one token's workspace: with several bot tokens, leave them unset (each token's workspace is learnt from auth.test)")
	}
	if c.botToken == "" {
		problems = append(problems, "SLACK_BOT_TOKEN is not set (the bot token, xoxb-...)")
	}
	if c.signingSecret == "" && c.appToken == "" {
		problems = append(problems, "set SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode, xapp-...)")
	}
	if c.appToken != "" && !strings.HasPrefix(c.appToken, "xapp-") {
		problems = append(problems, "SLACK_APP_TOKEN must be an app-level token (xapp-...)")
	}
	if c.apiURL != "" && !strings.HasPrefix(c.apiURL, "http://") && !strings.HasPrefix(c.apiURL, "https://") {
		problems = append(problems, fmt.Sprintf("SLACK_API_URL %q must start with http:// or https://", c.apiURL))
	}
	for _, id := range c.tenants.Teams {
		if !slackIDPattern.MatchString(id) || id[0] != 'T' {
			problems = append(problems, fmt.Sprintf("SLACK_TEAM_ID %q: want team ids such as T0123ABCD, comma-separated", id))
		}
	}
	for _, id := range c.tenants.Enterprises {
		if !slackIDPattern.MatchString(id) || id[0] != 'E' {
			problems = append(problems, fmt.Sprintf("SLACK_ENTERPRISE_ID %q: want enterprise ids such as E0123ABCD, comma-separated", id))
		}
	}
	if len(problems) > 0 {
		return c, true, fmt.Errorf("slack configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, true, nil
}

// slackPart is Slack in `usher serve`: its configuration and state, and its
// delivery platform (the router's), before the adapter that uses the router.
type slackPart struct {
	sc    slackConfig
	state *storage.SlackState
	dm    *slack.DM
	// served are the workspaces usher has a bot token for; tokens maps
	// each (team or enterprise id) to its token.
	served slack.Tenants
	tokens map[string]string
	// installs holds the workspaces' tokens in distribution mode (nil otherwise).
	installs slack.Installations
}

// newSlackPart reads Slack's configuration and learns which workspace each
// bot token serves; nil when Slack is off.
func newSlackPart(ctx context.Context, s *server) (*slackPart, error) {
	sc, on, err := loadSlackConfig(s.getenv)
	if err != nil || !on {
		return nil, err
	}
	// Keys of Slack's state are Slack's own ids (team:user, a request's
	// hash), unique across workspaces, and the replay check comes before
	// routing: one state for the deployment serves them all.
	state := storage.NewEdgeSlackState(s.rdb)
	p := &slackPart{sc: sc, state: state, served: sc.tenants, tokens: map[string]string{}}
	if sc.distributed() {
		if err := p.distribute(s); err != nil {
			return p, err
		}
		p.dm.UseDirectory(storage.NewSlackDirectory(s.rdb), slack.DirectoryConfig{})
		p.dm.UseBudgets(p.budgets(s), &sc.limits)
		return p, nil
	}
	if p.served.Empty() {
		for _, token := range sc.botTokens {
			// Serve the workspace each bot token was issued in, and no other.
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			t, err := slack.LearnTenants(actx, slack.Config{BotToken: token, APIURL: sc.apiURL})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%w; or set SLACK_TEAM_ID (and/or SLACK_ENTERPRISE_ID)", err)
			}
			for _, id := range append(t.Teams, t.Enterprises...) {
				if _, dup := p.tokens[id]; dup {
					return nil, fmt.Errorf("SLACK_BOT_TOKEN: two tokens are for workspace %s: give one per workspace", id)
				}
				p.tokens[id] = token
			}
			for id, name := range t.Names {
				if p.served.Names == nil {
					p.served.Names = map[string]string{}
				}
				p.served.Names[id] = name
			}
			p.served.Teams = append(p.served.Teams, t.Teams...)
			p.served.Enterprises = append(p.served.Enterprises, t.Enterprises...)
		}
	} else {
		for _, id := range append(p.served.Teams, p.served.Enterprises...) {
			p.tokens[id] = sc.botToken
		}
	}
	// The directory of Slack users and the shared rate budgets: one Web
	// API call per message, at the limits every replica shares.
	p.dm, err = slack.NewDM(slack.Config{BotToken: sc.botToken, Tokens: p.tokens, APIURL: sc.apiURL, State: state,
		WorkspacesOf: p.workspacesOf(s), Logger: s.log.With("platform", "slack"),
		Directory: storage.NewSlackDirectory(s.rdb), Budgets: p.budgets(s), Limits: &sc.limits})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// budgets are the Web API's rate budgets shared by every replica; nil
// (none) with SLACK_RATE=off.
func (p *slackPart) budgets(s *server) slack.Budgets {
	if p.sc.rateOff {
		return nil
	}
	return storage.NewBudgets(s.rdb)
}

// workspacesOf lists where an organization's people are looked for in
// Slack: the workspaces usher has a token for that route to it, as a
// request from there would be routed (a few: one per token).
func (p *slackPart) workspacesOf(s *server) func(ctx context.Context, orgID org.ID) ([]string, error) {
	route := p.serving(s)
	return func(ctx context.Context, orgID org.ID) ([]string, error) {
		var ws []string
		for _, t := range p.served.Teams {
			if id, ok, err := route.org(ctx, org.SlackTenant("", t)); err != nil {
				return nil, err
			} else if ok && id == orgID {
				ws = append(ws, t)
			}
		}
		for _, e := range p.served.Enterprises {
			if id, ok, err := route.org(ctx, org.SlackTenant(e, "")); err != nil {
				return nil, err
			} else if ok && id == orgID {
				ws = append(ws, e)
			}
		}
		return ws, nil
	}
}

// A deployment with one bot token configured it for USHER_ORG: its
// workspace, when the directory maps it to nothing, is the default
// organization's (so a single-workspace deployment keeps working once a
// second organization is created). Several tokens are linked by the
// operator (usher org link).
func (p *slackPart) serving(s *server) slackOrgs {
	return slackOrgs{s: s, served: p.served, configured: len(p.sc.botTokens) == 1 && !p.sc.distributed(), distributed: p.sc.distributed()}
}

type slackOrgs struct {
	distributed bool
	s           *server
	served      slack.Tenants
	configured  bool
}

func (o slackOrgs) Serving(ctx context.Context, team, enterprise string) (slack.Org, bool, error) {
	// In distribution mode the adapter has already found the workspace's
	// installation; the directory alone routes it.
	if !o.distributed && !o.served.Serves(team, enterprise) {
		return slack.Org{}, false, nil
	}
	var id org.ID
	var ok bool
	var err error
	if o.distributed {
		id, ok, err = o.installedOrg(ctx, team, enterprise)
	} else {
		id, ok, err = o.org(ctx, org.SlackTenant(enterprise, team))
	}
	if err != nil || !ok {
		return slack.Org{}, false, err
	}
	t, err := o.s.orgs.get(id)
	if err != nil {
		return slack.Org{}, false, err
	}
	ids, err := storage.NewSlackState(o.s.rdb, id)
	if err != nil {
		return slack.Org{}, false, err
	}
	return slack.Org{ID: id, Service: t.svc, Queue: t.queue, Router: t.router, Identities: ids}, true, nil
}

// mount serves Slack over HTTP (SLACK_SIGNING_SECRET) or Socket Mode
// (SLACK_APP_TOKEN), its messages for people through the router.
func (p *slackPart) mount(ctx context.Context, s *server) error {
	sc, state := p.sc, p.state
	s.log.Info("slack: serving workspaces", "team_ids", p.served.Teams, "enterprise_ids", p.served.Enterprises)
	p.learnNames(ctx, s)
	app, err := slack.New(slack.Config{
		SigningSecret: sc.signingSecret, BotToken: sc.botToken, Tokens: p.tokens, AppToken: sc.appToken, APIURL: sc.apiURL,
		Orgs: p.serving(s), State: state, QueueInCommit: true, Router: s.router, Logger: s.log.With("platform", "slack"),
		Directory: storage.NewSlackDirectory(s.rdb), WorkspacesOf: p.dm.WorkspacesOf(), Budgets: p.budgets(s), Limits: &sc.limits,
		Installations: p.installs, InstallURL: p.installURL(s), ClientID: sc.clientID, ClientSecret: sc.clientSecret,
		OnBroken: p.onBroken(s), OnLifecycle: p.onLifecycle(s),
		Observe: func(verb, code string, d time.Duration) { s.metrics.Observe("slack", verb, metrics.OutcomeOf(code), d) },
	})
	if err != nil {
		return err
	}
	if sc.appToken != "" {
		s.background = append(s.background, app.RunSocketMode)
		s.log.Info("slack: socket mode")
	} else {
		app.Routes(s.mux)
		s.log.Info("slack: serving /slack/commands, /slack/interactions, /slack/events")
		if p.installs != nil {
			if err := p.mountInstall(s); err != nil {
				return err
			}
		}
	}
	s.senders[slack.Platform] = app.Send
	return p.scheduleDirectoryRefresh(s)
}

// scheduleDirectoryRefresh lists every organization's Slack workspaces
// again at each SLACK_DIRECTORY_REFRESH: one replica builds each (the
// directory's build lock); a directory built within half the schedule's
// period (on use, or by another replica's run) is left as it is.
func (p *slackPart) scheduleDirectoryRefresh(s *server) error {
	if p.sc.dirRefresh == "" {
		return nil
	}
	job, err := scheduler.NewPeriodic(scheduler.PeriodicConfig{
		Name: "slack directory refresh", Spec: p.sc.dirRefresh, Log: s.log.With("part", "scheduler"),
		Run: func(ctx context.Context, _ time.Time, period time.Duration) error {
			ids := []org.ID{s.cfg.org}
			all, err := s.store.Directory().List(ctx)
			if err != nil {
				return err
			}
			for _, o := range all {
				if o.ID != s.cfg.org {
					ids = append(ids, o.ID)
				}
			}
			n, err := p.dm.RefreshDirectories(ctx, ids, period/2)
			s.log.InfoContext(ctx, "slack: directories refreshed", "rebuilt", n, "organizations", len(ids))
			return err
		},
	})
	if err != nil {
		return fmt.Errorf("SLACK_DIRECTORY_REFRESH: %w", err)
	}
	s.background = append(s.background, job.Run)
	return nil
}

// org is the organization a Slack tenant routes to.
func (o slackOrgs) org(ctx context.Context, t org.Tenant) (org.ID, bool, error) {
	return o.s.orgs.serving(ctx, t, o.configured)
}

// learnNames gives each organization a Slack workspace routes to that
// workspace's name (auth.test's), while nobody has named it
// (handlers.Service.LearnName: an admin's settings name wins). A failure
// is logged, not fatal: the name is a nicety.
func (p *slackPart) learnNames(ctx context.Context, s *server) {
	route := p.serving(s)
	for team, name := range p.served.Names {
		id, ok, err := route.org(ctx, org.SlackTenant("", team))
		if err == nil && ok {
			var t *tenant
			if t, err = s.orgs.get(id); err == nil {
				_, err = t.svc.LearnName(ctx, name, "slack")
			}
		}
		if err != nil {
			s.log.WarnContext(ctx, "slack: organization not named after its workspace", "team_id", team, "err", err)
		}
	}
}

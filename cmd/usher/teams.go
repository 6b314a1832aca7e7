package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/teams"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// teamsConfig is Teams' part of the environment, with the Bot Framework's
// variable names.
type teamsConfig struct {
	appID, password, tenant, appType string
	allowedTenants                   []string
	// selfInstall: MICROSOFT_ALLOWED_TENANTS has "directory". The
	// allow-list is then the directory (a tenant is served when it links it
	// to an organization), and a tenant that installs the app gets an
	// organization of its own (installationUpdate "add"): any tenant, or,
	// when allowedTenants lists some, only those.
	selfInstall           bool
	metadataURL, tokenURL string
	serviceHosts          []string
	// insecure: no MICROSOFT_APP_ID, MICROSOFT_ALLOW_UNAUTHENTICATED=loopback
	// and a loopback listen address (the Agents Playground).
	insecure bool
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func splitList(s string) []string {
	var out []string
	for _, v := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, strings.TrimSpace(v))
	}
	return out
}

// loadTeamsConfig reads and checks the Teams settings, reporting every
// problem at once. on is false when Teams is not configured at all.
func loadTeamsConfig(getenv func(string) string, listenAddr string) (c teamsConfig, on bool, err error) {
	c = teamsConfig{
		appID:          strings.TrimSpace(getenv("MICROSOFT_APP_ID")),
		password:       getenv("MICROSOFT_APP_PASSWORD"),
		tenant:         strings.TrimSpace(getenv("MICROSOFT_APP_TENANT_ID")),
		appType:        orDefault(strings.TrimSpace(getenv("MICROSOFT_APP_TYPE")), "SingleTenant"),
		allowedTenants: splitList(getenv("MICROSOFT_ALLOWED_TENANTS")),
		metadataURL:    orDefault(getenv("MICROSOFT_OPENID_METADATA_URL"), teams.DefaultMetadataURL),
		tokenURL:       getenv("MICROSOFT_TOKEN_URL"),
		serviceHosts:   splitList(getenv("MICROSOFT_SERVICE_URL_HOSTS")),
	}
	optIn := strings.ToLower(strings.TrimSpace(getenv("MICROSOFT_ALLOW_UNAUTHENTICATED")))
	var problems []string
	if i := slices.IndexFunc(c.allowedTenants, func(t string) bool { return strings.EqualFold(t, "directory") }); i >= 0 {
		c.selfInstall = true
		c.allowedTenants = slices.DeleteFunc(c.allowedTenants, func(t string) bool { return strings.EqualFold(t, "directory") })
		if slices.Contains(c.allowedTenants, "*") {
			problems = append(problems, "MICROSOFT_ALLOWED_TENANTS: \"directory\" with \"*\": \"directory\" alone lets any tenant install usher; list tenant ids after it to let only those")
		}
	}
	if c.appID == "" {
		switch {
		case optIn == "":
			for _, v := range []string{"MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID", "MICROSOFT_ALLOWED_TENANTS"} {
				if getenv(v) != "" {
					return c, true, fmt.Errorf("teams configuration:\n  %s is set but MICROSOFT_APP_ID is not", v)
				}
			}
			return c, false, nil
		case optIn != "loopback":
			return c, true, fmt.Errorf("teams configuration:\n  MICROSOFT_ALLOW_UNAUTHENTICATED must be \"loopback\" (it is %q)", optIn)
		case !loopbackAddr(listenAddr):
			return c, true, fmt.Errorf("teams configuration:\n  refusing unauthenticated Teams activities: USHER_ADDR %q is not a loopback address (use 127.0.0.1:PORT), and MICROSOFT_APP_ID is empty", listenAddr)
		}
		c.insecure = true
		c.serviceHosts = []string{"127.0.0.1", "localhost", "::1"}
		return c, true, nil
	}
	if optIn != "" {
		problems = append(problems, "MICROSOFT_ALLOW_UNAUTHENTICATED is only for local tools without MICROSOFT_APP_ID; unset it")
	}
	if !guidPattern.MatchString(c.appID) {
		problems = append(problems, fmt.Sprintf("MICROSOFT_APP_ID %q is not an app (client) id (a GUID)", c.appID))
	}
	if c.password == "" {
		problems = append(problems, "MICROSOFT_APP_PASSWORD is not set (the app registration's client secret)")
	}
	switch c.appType {
	case "SingleTenant":
		if c.tenant == "" {
			problems = append(problems, "MICROSOFT_APP_TENANT_ID is not set (required for a SingleTenant bot)")
		} else if !guidPattern.MatchString(c.tenant) {
			problems = append(problems, fmt.Sprintf("MICROSOFT_APP_TENANT_ID %q is not a tenant id (a GUID)", c.tenant))
		}
		if len(c.allowedTenants) == 0 && c.tenant != "" && !c.selfInstall {
			c.allowedTenants = []string{c.tenant}
		}
		if c.tokenURL == "" {
			c.tokenURL = teams.TokenURL(c.tenant)
		}
		// Whichever tenant a conversation is in, a single-tenant bot's
		// token comes from its own tenant's authority: the Bot Connector
		// accepts no other (microsoft/teams.ts#507).
		c.tokenURL = strings.ReplaceAll(c.tokenURL, "{tenant}", c.tenant)
	case "MultiTenant":
		if len(c.allowedTenants) == 0 && !c.selfInstall {
			problems = append(problems, "MICROSOFT_ALLOWED_TENANTS is not set: list the tenant ids that may use a MultiTenant bot (or * for any, or directory)")
		}
		if c.tokenURL == "" {
			c.tokenURL = teams.TokenURL("botframework.com")
		}
		c.tokenURL = strings.ReplaceAll(c.tokenURL, "{tenant}", "botframework.com")
	default:
		problems = append(problems, fmt.Sprintf("MICROSOFT_APP_TYPE %q: want SingleTenant or MultiTenant (UserAssignedMSI is not supported)", c.appType))
	}
	for _, t := range c.allowedTenants {
		if t != "*" && !guidPattern.MatchString(t) {
			problems = append(problems, fmt.Sprintf("MICROSOFT_ALLOWED_TENANTS: %q is not a tenant id (a GUID), * or directory", t))
		}
	}
	for name, u := range map[string]string{"MICROSOFT_OPENID_METADATA_URL": c.metadataURL, "MICROSOFT_TOKEN_URL": c.tokenURL} {
		if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://127.0.0.1") && !strings.HasPrefix(u, "http://localhost") {
			problems = append(problems, fmt.Sprintf("%s %q must be https:// (or http:// on loopback, for tests)", name, u))
		}
	}
	if len(c.serviceHosts) == 0 {
		c.serviceHosts = teams.DefaultServiceHosts
	}
	if len(problems) > 0 {
		return c, true, fmt.Errorf("teams configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, true, nil
}

// loopbackAddr reports whether a listen address only accepts local connections.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// teamsPart is Teams in `usher serve`: its configuration, connector and
// delivery platform (the router's), before the bot that uses the router.
type teamsPart struct {
	tc    teamsConfig
	state *storage.TeamsState
	auth  *teams.Validator
	chat  *teams.Chat
	log   *slog.Logger
	// limits are Microsoft's published Bot Connector limits times
	// TEAMS_RATE; rateOff (TEAMS_RATE=off) keeps to none.
	limits  teams.Limits
	rateOff bool
}

// teamsRate reads TEAMS_RATE: a factor of Microsoft's published limits, or
// off.
func teamsRate(getenv func(string) string) (teams.Limits, bool, error) {
	l := teams.DefaultLimits()
	switch v := strings.TrimSpace(getenv("TEAMS_RATE")); v {
	case "", "1":
		return l, false, nil
	case "off":
		return l, true, nil
	default:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1000 {
			return l, false, fmt.Errorf("teams configuration:\n  TEAMS_RATE %q: want a factor of Microsoft's published rate limits (1, 2, 0.5...) or off", v)
		}
		return l.Scaled(f), false, nil
	}
}

// newTeamsPart reads Teams' configuration; nil when Teams is off.
func newTeamsPart(s *server) (*teamsPart, error) {
	tc, on, err := loadTeamsConfig(s.getenv, s.listenAddr)
	if err != nil || !on {
		return nil, err
	}
	limits, rateOff, err := teamsRate(s.getenv)
	if err != nil {
		return nil, err
	}
	state, err := storage.NewTeamsState(s.rdb, s.cfg.org)
	if err != nil {
		return nil, err
	}
	log := s.log.With("platform", "teams")
	hc := &http.Client{Timeout: 10 * time.Second}
	conn := &teams.Connector{Hosts: tc.serviceHosts, HTTP: hc}
	var auth *teams.Validator
	if tc.insecure {
		log.Warn("TEAMS AUTHENTICATION IS OFF: MICROSOFT_APP_ID is empty and MICROSOFT_ALLOW_UNAUTHENTICATED=loopback, " +
			"so /api/messages accepts unsigned activities from anyone who can reach " + s.listenAddr +
			" and replies only to loopback service URLs. Use this only with local tools such as the Agents Playground.")
	} else {
		auth = &teams.Validator{AppID: tc.appID, MetadataURL: tc.metadataURL, AllowedTenants: tc.allowedTenants, HTTP: hc}
		conn.Tokens = &teams.Tokens{URL: tc.tokenURL, ClientID: tc.appID, Secret: tc.password, HTTP: hc}
	}
	p := &teamsPart{tc: tc, state: state, auth: auth, log: log, limits: limits, rateOff: rateOff}
	if auth != nil {
		if tc.selfInstall && len(tc.allowedTenants) == 0 {
			auth.AllowedTenants = []string{"*"} // any tenant may install; routing answers the rest
		}
		// A tenant the directory links (`usher org link`, an install) is
		// allowed whatever the static list says: the operator linked it.
		auth.TenantLinked = func(ctx context.Context, tenant string) (bool, error) {
			_, ok, err := s.orgs.linked(ctx, org.TeamsTenant(tenant))
			return ok, err
		}
	}
	p.chat = &teams.Chat{Connector: conn, StateOf: p.stateOf(s), Log: log, Served: p.served(s)}
	if !rateOff {
		// The Bot Connector's limits, shared by every replica.
		p.chat.Budgets, p.chat.Limits = storage.NewBudgets(s.rdb), &p.limits
	}
	return p, nil
}

// stateOf is an organization's Teams state (its people's conversation
// references and the email index): the default organization's is state.
func (p *teamsPart) stateOf(s *server) func(orgID string) (teams.State, error) {
	return func(orgID string) (teams.State, error) {
		if org.ID(orgID) == s.cfg.org {
			return p.state, nil
		}
		return storage.NewTeamsState(s.rdb, org.ID(orgID))
	}
}

// configured says the configuration names tenant as the default
// organization's (when the directory maps it to nothing): a SingleTenant
// bot's own tenant, the one tenant a MultiTenant bot allows, or any in the
// unauthenticated loopback mode (a local tool, one organization).
func (p *teamsPart) configured(tenant string) bool {
	tc := p.tc
	switch {
	case tc.insecure:
		return true
	case tc.selfInstall:
		return false // the directory says, and only it
	case tc.appType == "SingleTenant":
		return strings.EqualFold(tenant, tc.tenant)
	case len(tc.allowedTenants) == 1 && tc.allowedTenants[0] != "*":
		return strings.EqualFold(tenant, tc.allowedTenants[0])
	}
	return false
}

// teamsOrgs routes an activity by its tenant (bot/teams.Orgs).
type teamsOrgs struct {
	s *server
	p *teamsPart
}

func (o teamsOrgs) Serving(ctx context.Context, tenant string) (teams.Org, bool, error) {
	id, ok, err := o.p.servingOrg(ctx, o.s, tenant)
	if err != nil || !ok {
		return teams.Org{}, false, err
	}
	tn, err := o.s.orgs.get(id)
	if err != nil {
		return teams.Org{}, false, err
	}
	st, err := o.p.stateOf(o.s)(string(id))
	if err != nil {
		return teams.Org{}, false, err
	}
	return teams.Org{ID: id, Service: tn.svc, State: st, Router: tn.router}, true, nil
}

// servingOrg is the organization serving a Teams tenant. With
// MICROSOFT_ALLOWED_TENANTS=directory it is the one the directory links the
// tenant to, and no other: any tenant may pass the allow-list then, so the
// default organization never serves one merely for being the deployment's
// only organization.
func (p *teamsPart) servingOrg(ctx context.Context, s *server, tenant string) (org.ID, bool, error) {
	t := org.TeamsTenant(tenant)
	if p.tc.selfInstall && !p.tc.insecure {
		return s.orgs.linked(ctx, t)
	}
	return s.orgs.serving(ctx, t, p.configured(t.TenantID))
}

// served says whether organization orgID serves Teams tenant (teams.Chat
// asks before each delivery).
func (p *teamsPart) served(s *server) func(ctx context.Context, orgID, tenant string) (bool, error) {
	return func(ctx context.Context, orgID, tenant string) (bool, error) {
		id, ok, err := p.servingOrg(ctx, s, tenant)
		return ok && id == org.ID(orgID), err
	}
}

// mount serves POST /api/messages, its messages for people through the router.
func (p *teamsPart) mount(s *server) {
	bot := &teams.Bot{
		// Before an activity is routed only its replay mark is kept, for the
		// whole deployment; then its organization's state serves it.
		Orgs:    teamsOrgs{s: s, p: p},
		Service: s.svc, Auth: p.auth, Connector: p.chat.Connector, State: storage.NewEdgeTeamsState(s.rdb), Router: s.router, QueueInCommit: true, Log: p.log,
		Observe: func(command, outcome string, d time.Duration) { s.metrics.Observe(teams.Platform, command, outcome, d) },
	}
	if p.tc.selfInstall {
		bot.Installs = teamsInstalls{s: s, p: p}
	}
	s.mux.Handle("POST /api/messages", bot)
	s.senders[teams.Platform] = bot.Send
	p.log.Info("teams: serving POST /api/messages", "app_type", p.tc.appType, "authenticated", !p.tc.insecure,
		"tenants", map[bool]string{true: "the directory (installs link tenants)", false: "configured"}[p.tc.selfInstall])
}

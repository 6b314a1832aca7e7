package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// distributedScopes are the bot scopes "Add to Slack" asks for: those of
// manifests/slack/manifest.distributed.yaml.
var distributedScopes = []string{"commands", "chat:write", "im:write", "im:history", "users:read", "users:read.email"}

// installOrgID is the organization an installed workspace gets: its team
// (or, org-wide, its enterprise) id, which Slack never reuses.
func installOrgID(inst slack.Installation) (org.ID, error) {
	id := inst.Team
	if id == "" {
		id = inst.Enterprise
	}
	return org.ParseID("slack-" + strings.ToLower(id))
}

// mountInstall serves "Add to Slack" (distribution mode).
func (p *slackPart) mountInstall(s *server) error {
	sc := p.sc
	in, err := slack.NewInstaller(slack.InstallConfig{
		ClientID: sc.clientID, ClientSecret: sc.clientSecret, RedirectURL: strings.TrimRight(s.cfg.publicURL, "/") + "/slack/oauth_redirect",
		Scopes: distributedScopes, APIURL: sc.apiURL, AuthorizeURL: sc.authorizeURL, Store: p.installs,
		OnInstall: p.onInstall(s), Logger: s.log.With("platform", "slack", "part", "install"),
	})
	if err != nil {
		return err
	}
	in.Routes(s.mux)
	s.log.Info("slack: distribution mode, serving /slack/install and /slack/oauth_redirect")
	return nil
}

// onInstall links a new installation to its organization: the one the
// directory already maps the workspace to (a reinstall: its data is still
// there), else a new one whose first admin is the installer, by the email
// Slack has verified for them. The installer is then greeted in a DM.
func (p *slackPart) onInstall(s *server) func(ctx context.Context, inst slack.Installation) (slack.Installation, error) {
	return func(ctx context.Context, inst slack.Installation) (slack.Installation, error) {
		api := p.apiWith(inst.BotToken)
		if inst.Team == "" && p.sc.gridPerWorkspace {
			return p.onGridInstall(ctx, s, api, inst)
		}
		// A workspace's own install is its own, even inside an Enterprise
		// Grid whose org-wide install has an organization: never linked by
		// the mere presence of an enterprise id.
		tenant := org.SlackTenant("", inst.Team)
		if inst.Team == "" {
			tenant = org.SlackTenant(inst.Enterprise, "")
		}
		dir := s.store.Directory()
		id, found, err := dir.Resolve(ctx, tenant)
		if err != nil {
			return inst, err
		}
		reinstall := found
		installer, err := verifiedEmail(ctx, api, inst.Installer)
		if err != nil && !reinstall {
			return inst, err
		}
		if !found {
			if id, err = installOrgID(inst); err != nil {
				return inst, err
			}
			name := inst.TeamName
			if name == "" {
				name = string(id)
			}
			if err := p.createOrg(ctx, s, id, name, installer, tenant); err != nil {
				return inst, err
			}
			s.log.InfoContext(ctx, "slack install: organization created", "org", string(id), "team_id", inst.Team, "enterprise_id", inst.Enterprise)
		}
		if installer == "" {
			installer = inst.Installer
		}
		inst.Org = id
		detail := "Add to Slack"
		if reinstall {
			detail = "Add to Slack, again: the organization's data was kept"
		}
		where := inst.Team
		if where == "" {
			where = inst.Enterprise
		}
		p.record(ctx, s, id, tenant, handlers.InstallEvent{Platform: "slack", Action: "install.add", Target: where, Actor: installer, Detail: detail})
		text := fmt.Sprintf("Hi! usher is now installed in this workspace, and you are the first admin of its organization (%s).\n"+
			"Next: type `/usher help` to see what it does, `/usher invite EMAIL` to invite your team (`--role admin` for a second admin).", id)
		if inst.Team == "" {
			text = fmt.Sprintf("Hi! usher is now installed for the whole of %s, one organization (%s) with you as its first admin.\n"+
				"Next: add usher to the workspaces that should use it (%s), then type `/usher help` in any of them.", inst.TeamName, id, slack.AddToWorkspacesURL(inst.Enterprise, inst.AppID))
		}
		if reinstall {
			text = fmt.Sprintf("usher is installed again in this workspace; organization %s and its people are as they were. Type `/usher help` to start.", id)
		}
		p.greet(ctx, s, api, inst.Installer, id, text)
		return inst, nil
	}
}

func (p *slackPart) apiWith(token string) *slackapi.Client {
	return slackapi.New(token, slackapi.OptionAPIURL(strings.TrimRight(p.sc.apiURLOrDefault(), "/")+"/"),
		slackapi.OptionHTTPClient(&http.Client{Timeout: 10 * time.Second}))
}

// verifiedEmail is a Slack user's email, when Slack has verified it: only
// such an address may become an organization's first admin.
func verifiedEmail(ctx context.Context, api *slackapi.Client, user string) (string, error) {
	u, err := api.GetUserInfoContext(ctx, user)
	if err != nil {
		return "", fmt.Errorf("users.info of the installer %s: %w", user, err)
	}
	email := strings.TrimSpace(u.Profile.Email)
	if email == "" || !u.IsEmailConfirmed {
		return "", org.Errorf(org.CodeInvalid, "usher could not read a verified email address for you in Slack, so it cannot make you this workspace's first admin.").
			WithHint("Confirm your email address in Slack (or ask someone whose address is confirmed to install usher), then add usher again.")
	}
	return email, nil
}

// createOrg creates organization id for tenant with admin as its first
// admin: the steps a Teams install takes too (createInstalled).
func (p *slackPart) createOrg(ctx context.Context, s *server, id org.ID, name, admin string, tenant org.Tenant) error {
	return s.createInstalled(ctx, id, name, admin, tenant)
}

// greet writes to user in a DM; the install itself worked, so a failure
// is only logged.
func (p *slackPart) greet(ctx context.Context, s *server, api *slackapi.Client, user string, id org.ID, text string) {
	ch, _, _, err := api.OpenConversationContext(ctx, &slackapi.OpenConversationParameters{Users: []string{user}})
	if err == nil {
		_, _, err = api.PostMessageContext(ctx, ch.ID, slackapi.MsgOptionText(text, false))
	}
	if err != nil {
		s.log.WarnContext(ctx, "slack install: cannot greet the installer", "org", string(id), "err", err)
	}
}

// onGridInstall is an org-wide install when each workspace is to be its
// own organization (SLACK_GRID_ORGS=workspace): no organization yet, since
// an org-wide app starts in no workspace; each workspace the admin adds it
// to gets one as team_access_granted says so (gridWorkspacesAdded), with
// the installer, whose address is checked now, as its first admin.
func (p *slackPart) onGridInstall(ctx context.Context, s *server, api *slackapi.Client, inst slack.Installation) (slack.Installation, error) {
	if _, err := verifiedEmail(ctx, api, inst.Installer); err != nil {
		return inst, err
	}
	inst.Org = ""
	p.greet(ctx, s, api, inst.Installer, "", fmt.Sprintf("Hi! usher is now installed for the whole of %s. Each workspace you add it to (%s) "+
		"gets its own organization, with you as its first admin.", inst.TeamName, slack.AddToWorkspacesURL(inst.Enterprise, inst.AppID)))
	return inst, nil
}

// gridWorkspacesAdded gives each workspace an org-wide install was just
// granted its own organization (SLACK_GRID_ORGS=workspace), unless the
// directory already links it (an earlier grant, or an operator's link).
func (p *slackPart) gridWorkspacesAdded(ctx context.Context, s *server, enterprise string, teams []string) {
	inst, ok, err := p.installs.Find(ctx, enterprise, "")
	if err != nil || !ok || inst.Team != "" || inst.Broken != "" {
		s.log.WarnContext(ctx, "slack: workspaces added to an org-wide install usher cannot read", "enterprise_id", enterprise, "team_ids", teams, "err", err)
		return
	}
	api := p.apiWith(inst.BotToken)
	for _, team := range teams {
		tenant := org.SlackTenant("", team)
		if _, found, err := s.store.Directory().Resolve(ctx, tenant); err != nil || found {
			if err != nil {
				s.log.WarnContext(ctx, "slack: workspace added to an org-wide install", "team_id", team, "err", err)
			}
			continue
		}
		admin, err := verifiedEmail(ctx, api, inst.Installer)
		var id org.ID
		if err == nil {
			id, err = installOrgID(slack.Installation{Team: team})
		}
		if err == nil {
			err = p.createOrg(ctx, s, id, string(id), admin, tenant)
		}
		if err != nil {
			s.log.WarnContext(ctx, "slack: no organization for a workspace added to an org-wide install", "team_id", team, "enterprise_id", enterprise, "err", err)
			continue
		}
		s.log.InfoContext(ctx, "slack install: organization created for a Grid workspace", "org", string(id), "team_id", team, "enterprise_id", enterprise)
		p.record(ctx, s, id, tenant, handlers.InstallEvent{Platform: "slack", Action: "install.add", Target: team, Actor: admin,
			Detail: "added to the workspace from the org-wide install of " + enterprise})
		p.greet(ctx, s, api, inst.Installer, id, fmt.Sprintf("usher was added to workspace %s: its organization (%s) has you as its first admin. "+
			"Type `/usher help` there to start.", team, id))
	}
}

// checkDistributed is loadSlackConfig's check of distribution mode.
func checkDistributed(c slackConfig, problems ...string) error {
	if c.clientID == "" || c.clientSecret == "" {
		problems = append(problems, "distribution mode needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (the app's Basic Information page)")
	}
	if c.signingSecret == "" {
		problems = append(problems, "distribution mode needs SLACK_SIGNING_SECRET (requests come over HTTP)")
	}
	if c.botToken != "" {
		problems = append(problems, "SLACK_BOT_TOKEN is for a single workspace: in distribution mode each workspace's token comes from its install; unset it")
	}
	if c.appToken != "" {
		problems = append(problems, "SLACK_APP_TOKEN (Socket Mode) does not go with distribution mode: Slack sends a distributed app's requests over HTTP")
	}
	if !c.tenants.Empty() {
		problems = append(problems, "SLACK_TEAM_ID and SLACK_ENTERPRISE_ID pin one workspace: in distribution mode the installs say which are served; unset them")
	}
	if c.apiURL != "" && !strings.HasPrefix(c.apiURL, "http://") && !strings.HasPrefix(c.apiURL, "https://") {
		problems = append(problems, fmt.Sprintf("SLACK_API_URL %q must start with http:// or https://", c.apiURL))
	}
	if len(problems) > 0 {
		return fmt.Errorf("slack configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// distribute sets Slack up for distribution mode: no token of its own, each
// workspace's from the installation store.
func (p *slackPart) distribute(s *server) error {
	if s.cfg.publicURL == "" {
		return errors.New("distribution mode needs USHER_PUBLIC_URL: Slack sends installers back to USHER_PUBLIC_URL/slack/oauth_redirect")
	}
	key := s.cfg.secret.sealKey()
	if key == nil {
		// Tokens sealed with a per-process key would be lost at the next start.
		return errors.New("distribution mode needs USHER_SECRET: it seals the workspaces' tokens in Redis, the same on every replica")
	}
	installs := storage.NewSlackInstalls(s.rdb, key)
	p.installs = slackInstallStore{installs}
	var err error
	p.dm, err = slack.NewDM(slack.Config{APIURL: p.sc.apiURL, State: p.state, Installations: p.installs, ClientID: p.sc.clientID, ClientSecret: p.sc.clientSecret,
		WorkspacesOf: p.installedWorkspacesOf(s), OnBroken: p.onBroken(s), Logger: s.log.With("platform", "slack")})
	if err != nil {
		return err
	}
	s.background = append(s.background, p.sweepTokens(s, installs))
	return nil
}

// tokenSweepEvery is how often the sweep looks for rotating tokens about
// to expire: well inside slack.RefreshWithin, so a token is refreshed
// between 2 hours and 1 h 45 min before its expiry whether or not anyone
// uses the workspace meanwhile.
const tokenSweepEvery = 15 * time.Minute

// sweepTokens refreshes, every tokenSweepEvery, the rotating tokens that
// expire within slack.RefreshWithin: a workspace nobody types in for 12
// hours still gets its reminders and digests, and never meets an expired
// token. Every replica sweeps; the refresh's lock makes it once.
func (p *slackPart) sweepTokens(s *server, installs *storage.SlackInstalls) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(p.sc.tokenSweep)
		defer t.Stop()
		for {
			p.sweepOnce(ctx, s, installs)
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

func (p *slackPart) sweepOnce(ctx context.Context, s *server, installs *storage.SlackInstalls) (refreshed int) {
	now := time.Now
	if s.clock != nil {
		now = s.clock
	}
	due, err := installs.Expiring(ctx, now().Add(slack.RefreshWithin), 500)
	if err != nil {
		s.log.WarnContext(ctx, "slack: token sweep", "err", err)
		return 0
	}
	for _, d := range due {
		ok, err := p.dm.RefreshInstallation(ctx, d[0], d[1])
		switch {
		case err != nil:
			s.log.WarnContext(ctx, "slack: token sweep: refresh failed; the next use or sweep tries again", "enterprise_id", d[0], "team_id", d[1], "err", err)
		case !ok:
			// Uninstalled or broken since it was indexed.
			if err := installs.Unindex(ctx, d[0], d[1]); err != nil {
				s.log.WarnContext(ctx, "slack: token sweep", "err", err)
			}
		default:
			refreshed++
		}
	}
	return refreshed
}

// onBroken tells an organization that Slack refused its workspace's refresh
// token: its people there are reached no more, so the admins hear it on
// another platform (Teams, email) if they are on one, and the operator in
// the log whatever happens.
func (p *slackPart) onBroken(s *server) func(ctx context.Context, inst slack.Installation) {
	return func(ctx context.Context, inst slack.Installation) {
		where, name := inst.Team, inst.TeamName
		if where == "" {
			where = inst.Enterprise
		}
		if name == "" {
			name = where
		}
		s.log.ErrorContext(ctx, "slack: installation broken: Slack refused its refresh token; the workspace must add usher again",
			"team_id", inst.Team, "enterprise_id", inst.Enterprise, "org", string(inst.Org), "reason", inst.Broken, "install_url", p.installURL(s))
		tell := fmt.Sprintf("usher can no longer reach the Slack workspace %s: Slack refused to renew its access (invalid_refresh_token), so invitations and reminders there are not delivered.", name)
		if u := p.installURL(s); u != "" {
			tell += " A workspace admin can add usher again at " + u + "; the organization's people and invitations are kept."
		}
		p.record(ctx, s, inst.Org, org.SlackTenant(inst.Enterprise, inst.Team), handlers.InstallEvent{Platform: "slack", Action: "install.broken", Target: where,
			Detail: inst.Broken, Tell: tell})
	}
}

// onLifecycle audits an install lifecycle event in the organization of its
// workspace; an uninstall is also told to the admins (on another platform,
// since Slack no longer reaches them there).
func (p *slackPart) onLifecycle(s *server) func(ctx context.Context, ev slack.Lifecycle) {
	return func(ctx context.Context, ev slack.Lifecycle) {
		target := ev.Team
		if target == "" || ev.EnterpriseInstall {
			target = ev.Enterprise
		}
		var tell string
		action := "install.remove"
		switch ev.Event {
		case "app_uninstalled":
			tell = "usher was uninstalled from the Slack workspace " + target + ": its people are no longer reached there. The organization's data is kept; adding usher again brings it back."
		case "team_access_granted", "team_access_revoked", "app_uninstalled_team":
			action = "install.access"
			target = ev.Enterprise + ": " + strings.Join(ev.Teams, ", ")
			if ev.Event == "team_access_granted" && p.sc.gridPerWorkspace {
				p.gridWorkspacesAdded(ctx, s, ev.Enterprise, ev.Teams)
				return
			}
		}
		p.record(ctx, s, "", org.SlackTenant(ev.Enterprise, ev.Team), handlers.InstallEvent{Platform: "slack", Action: action, Target: target,
			Detail: "Slack event " + ev.Event, Tell: tell})
	}
}

// record audits ev in organization id (or, with no id, the one the
// directory links tenant to) and delivers its notices. A failure is only
// logged: the installation store has already changed.
func (p *slackPart) record(ctx context.Context, s *server, id org.ID, tenant org.Tenant, ev handlers.InstallEvent) {
	var err error
	if id == "" {
		var found bool
		if id, found, err = s.store.Directory().Resolve(ctx, tenant); !found && err == nil {
			return
		}
	}
	if err == nil {
		err = s.recordInstall(ctx, id, ev)
	}
	if err != nil {
		s.log.WarnContext(ctx, "slack: install event not audited", "action", ev.Action, "target", ev.Target, "org", string(id), "err", err)
	}
}

// recordInstall audits a chat platform's install event in organization id
// and delivers its notices to the admins (the router tries their other
// platforms when this one no longer reaches them).
func (s *server) recordInstall(ctx context.Context, id org.ID, ev handlers.InstallEvent) error {
	t, err := s.orgs.get(id)
	if err != nil {
		return err
	}
	ds, err := t.svc.RecordInstall(ctx, ev)
	if err != nil {
		return err
	}
	return s.deliverFor(ctx, t, ds)
}

// installedWorkspacesOf lists an organization's Slack workspaces from the
// directory (an install links its workspace there).
func (p *slackPart) installedWorkspacesOf(s *server) func(ctx context.Context, id org.ID) ([]string, error) {
	return func(ctx context.Context, id org.ID) ([]string, error) {
		o, found, err := s.store.Directory().Get(ctx, id)
		if err != nil || !found {
			return nil, err
		}
		var ws []string
		for _, t := range o.Tenants {
			switch {
			case t.Platform != org.PlatformSlack:
			case t.Team != "":
				ws = append(ws, t.Team)
			case t.Enterprise != "":
				ws = append(ws, t.Enterprise)
			}
		}
		return ws, nil
	}
}

func (p *slackPart) installURL(s *server) string {
	if p.installs == nil || s.cfg.publicURL == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.publicURL, "/") + "/slack/install"
}

// installedOrg is the organization the directory links an installed
// workspace to (its own entry, else its enterprise's), and no other: in
// distribution mode a workspace is never served by the default
// organization because it is the only one.
func (o slackOrgs) installedOrg(ctx context.Context, team, enterprise string) (org.ID, bool, error) {
	return o.s.store.Directory().Resolve(ctx, org.SlackTenant(enterprise, team))
}

// slackInstallStore is the installation store for the Slack adapter, which
// imports no Redis: storage's records converted to bot/slack's.
type slackInstallStore struct{ s *storage.SlackInstalls }

func (w slackInstallStore) Save(ctx context.Context, inst slack.Installation) error {
	return w.s.Save(ctx, storage.SlackInstallation(inst))
}

func (w slackInstallStore) Find(ctx context.Context, enterprise, team string) (slack.Installation, bool, error) {
	inst, ok, err := w.s.Find(ctx, enterprise, team)
	return slack.Installation(inst), ok, err
}

func (w slackInstallStore) Fresh(ctx context.Context, enterprise, team string, within time.Duration, now func() time.Time,
	refresh func(context.Context, string) (slack.Refreshed, error)) (slack.Installation, bool, error) {
	inst, ok, err := w.s.Fresh(ctx, enterprise, team, within, now, func(ctx context.Context, rt string) (storage.Refreshed, error) {
		r, err := refresh(ctx, rt)
		if errors.Is(err, slack.ErrRefreshRevoked) {
			err = fmt.Errorf("%w: %w", storage.ErrRefreshRevoked, err)
		}
		return storage.Refreshed(r), err
	})
	if errors.Is(err, storage.ErrBroken) {
		err = fmt.Errorf("%w: %w", slack.ErrBroken, err)
	}
	return slack.Installation(inst), ok, err
}

func (w slackInstallStore) Remove(ctx context.Context, enterprise, team string) (bool, error) {
	return w.s.Remove(ctx, enterprise, team)
}

func (w slackInstallStore) RevokeBots(ctx context.Context, enterprise, team string, bots []string) (bool, error) {
	return w.s.RevokeBots(ctx, enterprise, team, bots)
}

func (w slackInstallStore) RevokeTeams(ctx context.Context, enterprise string, teams []string) error {
	return w.s.RevokeTeams(ctx, enterprise, teams)
}

func (w slackInstallStore) GrantTeams(ctx context.Context, enterprise string, teams []string) error {
	return w.s.GrantTeams(ctx, enterprise, teams)
}

func (w slackInstallStore) PutState(ctx context.Context, state string) error {
	return w.s.PutState(ctx, state)
}

func (w slackInstallStore) TakeState(ctx context.Context, state string) (bool, error) {
	return w.s.TakeState(ctx, state)
}

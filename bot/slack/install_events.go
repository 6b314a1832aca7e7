package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
)

// installedAPIs reads the bot token of a workspace from the installation
// store (distribution mode); nil without one.
func installedAPIs(cfg Config, hc *http.Client) func(ctx context.Context, ids ...string) (*webAPI, bool, error) {
	store := cfg.Installations
	if store == nil {
		return nil
	}
	apiURL := strings.TrimRight(cfg.APIURL, "/") + "/"
	if cfg.APIURL == "" {
		apiURL = slack.APIURL
	}
	refresh := func(ctx context.Context, rt string) (Refreshed, error) {
		r, err := slack.RefreshOAuthV2TokenContext(ctx, hc, cfg.ClientID, cfg.ClientSecret, rt, slack.OAuthOptionAPIURL(apiURL))
		if err != nil && slackReason(err) == "invalid_refresh_token" {
			return Refreshed{}, fmt.Errorf("oauth.v2.access refresh: %w", ErrRefreshRevoked)
		}
		if err != nil {
			return Refreshed{}, fmt.Errorf("oauth.v2.access refresh: %s", slackReason(err))
		}
		return Refreshed{BotToken: r.AccessToken, RefreshToken: r.RefreshToken, ExpiresIn: time.Duration(r.ExpiresIn) * time.Second}, nil
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context, ids ...string) (*webAPI, bool, error) {
		team, enterprise := splitWorkspace(ids)
		// A rotating token (token_rotation_enabled) lasts 12 hours: one
		// expiring within RefreshWithin is refreshed before this use.
		inst, ok, err := store.Fresh(ctx, enterprise, team, RefreshWithin, now, refresh)
		if errors.Is(err, ErrBroken) {
			// This replica marked it: the one to tell. The workspace is
			// now as good as uninstalled: its people are on no platform.
			if cfg.OnBroken != nil {
				cfg.OnBroken(context.WithoutCancel(ctx), inst)
			}
			return nil, false, nil
		}
		if err != nil || !ok || inst.Broken != "" {
			return nil, false, err
		}
		c := cfg
		c.BotToken = inst.BotToken
		return newAPI(c, hc), true, nil
	}
}

// RefreshWithin: a rotating token expiring sooner than this is refreshed
// before use.
const RefreshWithin = 2 * time.Hour

// errNotInstalled: a message for a workspace usher is no longer installed
// in (uninstalled, its tokens revoked). Retrying cannot help, so the
// outbox dead-letters the message with this reason.
var errNotInstalled = errors.New("usher is not installed in this Slack workspace (uninstalled or its tokens revoked)")

// must is the client for a workspace, for sending: in distribution mode a
// workspace without an installation is a permanent failure rather than a
// call with no token.
func (w workspaceAPIs) must(ctx context.Context, ids ...string) (*webAPI, error) {
	if w.installed == nil {
		return w.of(ctx, ids...), nil
	}
	c, ok, err := w.installed(ctx, ids...)
	if err != nil {
		return nil, fmt.Errorf("slack installation of %v: %w", ids, err)
	}
	if !ok {
		return nil, &outbox.Permanent{Err: fmt.Errorf("workspace %s: %w", strings.Join(ids, "/"), errNotInstalled)}
	}
	return c, nil
}

// splitWorkspace reads workspace ids (Slack's team ids start with T, its
// enterprise ids with E) into a team and an enterprise.
func splitWorkspace(ids []string) (team, enterprise string) {
	for _, id := range ids {
		switch {
		case strings.HasPrefix(id, "E"):
			enterprise = id
		case id != "":
			team = id
		}
	}
	return team, enterprise
}

// notInstalled answers a request from a workspace with no installation,
// or a broken one.
func (a *App) notInstalled(broken bool) handlers.Message {
	m := handlers.Message{Tone: handlers.ToneError, Text: "usher is not installed in this workspace."}
	add := "A workspace admin can add it: "
	if broken {
		m.Text = "usher's access to this workspace has stopped working: Slack refused to renew its token, so nothing was changed."
		add = "A workspace admin can add it again: "
	}
	if a.cfg.InstallURL != "" {
		m.Footer = add + a.cfg.InstallURL
	}
	return m
}

// lifecycleEvent is the part of an Events API delivery the app's lifecycle
// events carry (app_uninstalled, app_uninstalled_team, tokens_revoked,
// team_access_granted, team_access_revoked).
type lifecycleEvent struct {
	Type           string `json:"type"`
	TeamID         string `json:"team_id"`
	EnterpriseID   string `json:"enterprise_id"`
	Authorizations []struct {
		EnterpriseID        string `json:"enterprise_id"`
		TeamID              string `json:"team_id"`
		IsEnterpriseInstall bool   `json:"is_enterprise_install"`
	} `json:"authorizations"`
	Event struct {
		Type   string `json:"type"`
		Tokens struct {
			OAuth []string `json:"oauth"`
			Bot   []string `json:"bot"`
		} `json:"tokens"`
		TeamIDs []string `json:"team_ids"`
	} `json:"event"`
}

// Lifecycle is an install lifecycle event that changed the installation
// store, for Config.OnLifecycle.
type Lifecycle struct {
	Event             string // app_uninstalled, tokens_revoked, app_uninstalled_team, team_access_granted, team_access_revoked
	Team, Enterprise  string
	EnterpriseInstall bool
	Teams             []string // the workspaces team_access_* and app_uninstalled_team concern
}

// parseLifecycle reads a delivery; ok is false for anything else.
func parseLifecycle(body []byte) (lifecycleEvent, bool) {
	var ev lifecycleEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type != "event_callback" {
		return ev, false
	}
	switch ev.Event.Type {
	case "app_uninstalled", "app_uninstalled_team", "tokens_revoked", "team_access_granted", "team_access_revoked":
		return ev, true
	}
	return ev, false
}

// lifecycle applies an install's lifecycle event to the installation
// store. Every step is idempotent and reads no token, so Slack's order
// (tokens_revoked before or after app_uninstalled) and its retries do not
// matter. The organization and its data stay: reinstalling brings them back.
func (a *App) lifecycle(ctx context.Context, body []byte) error {
	store := a.cfg.Installations
	ev, ok := parseLifecycle(body)
	if store == nil || !ok {
		return nil
	}
	enterpriseInstall := false
	for _, au := range ev.Authorizations {
		enterpriseInstall = enterpriseInstall || au.IsEnterpriseInstall
	}
	team, ent := ev.TeamID, ev.EnterpriseID
	// The keys the event may concern: the workspace's own install, and its
	// enterprise's org-wide one when the delivery says it is for that.
	type target struct{ ent, team string }
	targets := []target{}
	if team != "" && !enterpriseInstall {
		targets = append(targets, target{"", team})
	}
	if ent != "" && (enterpriseInstall || team == "") {
		targets = append(targets, target{ent, ""})
	}
	var err error
	changed := false
	note := func(done bool, e error) {
		changed = changed || done
		if e != nil {
			err = e
		}
	}
	switch ev.Event.Type {
	case "app_uninstalled":
		for _, t := range targets {
			note(store.Remove(ctx, t.ent, t.team))
		}
	case "tokens_revoked":
		for _, t := range targets {
			note(store.RevokeBots(ctx, t.ent, t.team, ev.Event.Tokens.Bot))
		}
	case "app_uninstalled_team":
		// One workspace of an org-wide install: the install stays for the others.
		note(store.Remove(ctx, "", team))
		note(true, store.RevokeTeams(ctx, ent, []string{team}))
	case "team_access_revoked":
		note(true, store.RevokeTeams(ctx, ent, ev.Event.TeamIDs))
	case "team_access_granted":
		note(true, store.GrantTeams(ctx, ent, ev.Event.TeamIDs))
	}
	if err != nil {
		return fmt.Errorf("slack %s: %w", ev.Event.Type, err)
	}
	// Only a change is told: Slack's retry of an event already applied, or
	// tokens_revoked after app_uninstalled, adds no second audit entry.
	if changed && a.cfg.OnLifecycle != nil {
		teams := ev.Event.TeamIDs
		if ev.Event.Type == "app_uninstalled_team" {
			teams = []string{team}
		}
		a.cfg.OnLifecycle(ctx, Lifecycle{Event: ev.Event.Type, Team: team, Enterprise: ent, EnterpriseInstall: enterpriseInstall, Teams: teams})
	}
	a.log.InfoContext(ctx, "slack: install lifecycle event", "event", ev.Event.Type, "team_id", team, "enterprise_id", ent,
		"team_ids", ev.Event.TeamIDs, "bot_users", ev.Event.Tokens.Bot)
	return nil
}

// RefreshInstallation refreshes one installation's rotating token if it
// expires within `within`, as a use would (once across replicas); the token
// sweep calls it for tokens that scheduled work will need before any
// request comes. installed is false for an installation gone or broken.
func (d *DM) RefreshInstallation(ctx context.Context, enterprise, team string) (installed bool, err error) {
	if d.apis.installed == nil {
		return false, nil
	}
	_, ok, err := d.apis.installed(ctx, team, enterprise)
	return ok, err
}

package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/metrics"
	"github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/storage"
)

var slackIDPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,20}$`)

// slackConfig is Slack's part of the environment (Bolt's variable names).
type slackConfig struct {
	signingSecret, botToken, appToken, apiURL string
	// tenants pins the workspaces served (SLACK_TEAM_ID, SLACK_ENTERPRISE_ID);
	// empty: learnt from auth.test at start.
	tenants slack.Tenants
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
	}
	if c.signingSecret == "" && c.appToken == "" && c.botToken == "" {
		return c, false, nil
	}
	var problems []string
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
}

// newSlackPart reads Slack's configuration; nil when Slack is off.
func newSlackPart(s *server) (*slackPart, error) {
	sc, on, err := loadSlackConfig(s.getenv)
	if err != nil || !on {
		return nil, err
	}
	state, err := storage.NewSlackState(s.rdb, s.cfg.org)
	if err != nil {
		return nil, err
	}
	dm, err := slack.NewDM(slack.Config{BotToken: sc.botToken, APIURL: sc.apiURL, State: state, Logger: s.log.With("platform", "slack")})
	if err != nil {
		return nil, err
	}
	return &slackPart{sc: sc, state: state, dm: dm}, nil
}

// mount serves Slack over HTTP (SLACK_SIGNING_SECRET) or Socket Mode
// (SLACK_APP_TOKEN), its messages for people through the router.
func (p *slackPart) mount(ctx context.Context, s *server) error {
	sc, state := p.sc, p.state
	var err error
	tenants := sc.tenants
	if len(tenants.Teams) == 0 && len(tenants.Enterprises) == 0 {
		// Serve the workspace the bot token was issued in, and no other.
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		tenants, err = slack.LearnTenants(actx, slack.Config{BotToken: sc.botToken, APIURL: sc.apiURL})
		cancel()
		if err != nil {
			return fmt.Errorf("%w; or set SLACK_TEAM_ID (and/or SLACK_ENTERPRISE_ID)", err)
		}
	}
	s.log.Info("slack: serving workspaces", "team_ids", tenants.Teams, "enterprise_ids", tenants.Enterprises)
	app, err := slack.New(slack.Config{
		SigningSecret: sc.signingSecret, BotToken: sc.botToken, AppToken: sc.appToken, APIURL: sc.apiURL, Tenants: tenants,
		Service: s.svc, State: state, QueueInCommit: true, Queue: s.queue, Router: s.router, Logger: s.log.With("platform", "slack"),
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
	}
	s.senders[slack.Platform] = app.Send
	return nil
}

package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/metrics"
	"github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

func init() { register("slack", mountSlack) }

// slackConfig is Slack's part of the environment (Bolt's variable names).
type slackConfig struct {
	signingSecret, botToken, appToken, apiURL string
}

func loadSlackConfig(getenv func(string) string) (slackConfig, bool, error) {
	c := slackConfig{
		signingSecret: getenv("SLACK_SIGNING_SECRET"),
		botToken:      getenv("SLACK_BOT_TOKEN"),
		appToken:      getenv("SLACK_APP_TOKEN"),
		apiURL:        getenv("SLACK_API_URL"),
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
	if len(problems) > 0 {
		return c, true, fmt.Errorf("slack configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, true, nil
}

// mountSlack serves Slack over HTTP (SLACK_SIGNING_SECRET) or Socket Mode
// (SLACK_APP_TOKEN), and runs the Slack outbox worker.
func mountSlack(ctx context.Context, s *server) error {
	sc, on, err := loadSlackConfig(s.getenv)
	if err != nil || !on {
		return err
	}
	state, err := storage.NewSlackState(s.rdb, s.cfg.org)
	if err != nil {
		return err
	}
	queue, err := s.outboxQueue(ctx)
	if err != nil {
		return err
	}
	app, err := slack.New(slack.Config{
		SigningSecret: sc.signingSecret, BotToken: sc.botToken, AppToken: sc.appToken, APIURL: sc.apiURL,
		Service: s.svc, State: state, QueueInCommit: true, Queue: queue, Logger: s.log.With("platform", "slack"),
		Observe: func(verb, code string, d time.Duration) { s.metrics.Observe("slack", verb, metrics.OutcomeOf(code), d) },
		Workspaces: func(ctx context.Context) ([]string, error) {
			snap, err := s.store.Load(ctx, org.Query{Workspaces: true})
			if err != nil {
				return nil, err
			}
			names := make([]string, 0, len(snap.Workspaces))
			for _, w := range snap.Workspaces {
				names = append(names, w.Name)
			}
			slices.Sort(names)
			return names, nil
		},
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
	s.addSender(slack.Platform, app.Send)
	if s.deliver == nil {
		s.deliver = app.Deliver
	}
	return nil
}

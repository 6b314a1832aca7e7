package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/handlers"
)

// replayWindow is how long a request stays marked as received. Slack's
// signature check accepts a timestamp up to 5 minutes either side of our
// clock, so one signed request can verify for up to 10 minutes after it is
// first seen: the mark must outlive that, or a capture could be replayed
// late. (Slack's own retries come within minutes of the first delivery.)
const replayWindow = 10*time.Minute + time.Minute

// firstUse marks a signed request (path and body) or a Socket Mode envelope
// id as used and reports whether this is its first use: the same request
// again is a replay, or Slack retrying a delivery. Redis keeps the mark
// (usher:{org}:slack:KIND:HASH, SET NX with a TTL), so every replica sees
// it. When Redis cannot answer, the request goes through: nothing can
// change while Redis is down (the command is answered "unavailable"), and
// refusing every request then would hide that answer.
func (a *App) firstUse(ctx context.Context, kind, id string) bool {
	first, err := a.state.SetNX(ctx, kind, hashKey(id), replayWindow)
	if err != nil {
		a.log.WarnContext(ctx, "slack: replay check unavailable", "kind", kind, "err", err)
		return true
	}
	return first
}

// Tenants are the Slack workspaces (team ids, T...) and Enterprise Grid
// organizations (enterprise ids, E...) this deployment serves. A signed
// request from any other workspace (the app installed elsewhere, or a
// distributed app) is refused.
//
// A Config without Orgs serves one organization in these workspaces; with
// Orgs, the directory decides (cmd/usher: storage.Directory and org.Route).
type Tenants struct {
	Teams       []string
	Enterprises []string
	// Names are the workspaces' names as auth.test gives them (team id ->
	// "Acme Inc"), when learned that way; an organization nobody named
	// takes its workspace's (handlers.Service.LearnName).
	Names map[string]string
}

// Serves reports whether a request from team (and enterprise, "" outside
// Enterprise Grid) is for this deployment: its team is pinned, or it comes
// from a pinned Enterprise Grid organization (an org-wide install serves
// every workspace of the organization).
func (t Tenants) Serves(team, enterprise string) bool {
	if team != "" && slices.Contains(t.Teams, team) {
		return true
	}
	return enterprise != "" && slices.Contains(t.Enterprises, enterprise)
}

// Empty says no workspace is named.
func (t Tenants) Empty() bool { return len(t.Teams) == 0 && len(t.Enterprises) == 0 }

func (t Tenants) String() string {
	return "teams=" + strings.Join(t.Teams, ",") + " enterprises=" + strings.Join(t.Enterprises, ",")
}

// notServed is what someone in a workspace no organization serves is told:
// what is missing, and who can set it up with what.
func notServed(team, enterprise string) handlers.Message {
	flag := "--slack-team " + team
	if team == "" {
		flag = "--slack-enterprise " + enterprise
	}
	return handlers.Message{Tone: handlers.ToneError, Text: "usher is not set up for this workspace.",
		Footer: fmt.Sprintf("Whoever runs usher can link it to an organization: usher org link ORG %s", flag)}
}

// unrouted is the answer when the directory could not be read.
var unrouted = handlers.Message{Tone: handlers.ToneError,
	Text:   "usher can't tell which organization this workspace belongs to just now (its database is not answering), so nothing was changed.",
	Footer: "Please try again in a minute."}

// serving finds the organization serving a request's workspace, before
// anything else is read or done; a refusal is logged and answered.
func (a *App) serving(ctx context.Context, kind, team, enterprise string) (Org, *handlers.Message) {
	if a.cfg.Installations != nil {
		inst, ok, err := a.cfg.Installations.Find(ctx, enterprise, team)
		if err != nil {
			a.log.WarnContext(ctx, "slack: cannot read installation", "kind", kind, "team_id", team, "enterprise_id", enterprise, "err", err)
			return Org{}, &unrouted
		}
		if !ok || inst.Broken != "" {
			a.log.WarnContext(ctx, "slack: refused request from a workspace usher is not installed in", "kind", kind, "team_id", team, "enterprise_id", enterprise,
				"broken", inst.Broken)
			m := a.notInstalled(ok)
			return Org{}, &m
		}
	}
	o, ok, err := a.orgs.Serving(ctx, team, enterprise)
	if err != nil {
		a.log.WarnContext(ctx, "slack: cannot route request", "kind", kind, "team_id", team, "enterprise_id", enterprise, "err", err)
		return Org{}, &unrouted
	}
	if !ok {
		a.log.WarnContext(ctx, "slack: refused request from a workspace usher does not serve",
			"kind", kind, "team_id", team, "enterprise_id", enterprise)
		m := notServed(team, enterprise)
		return Org{}, &m
	}
	o.Enterprise = enterprise
	return o, nil
}

// LearnTenants asks Slack which workspace the bot token belongs to
// (auth.test), for a deployment that pins none explicitly: the workspace
// the app is installed in, or, for an org-wide Enterprise Grid install (no
// team of its own), the enterprise.
func LearnTenants(ctx context.Context, cfg Config) (Tenants, error) {
	opts := []slack.Option{}
	if cfg.HTTPClient != nil {
		opts = append(opts, slack.OptionHTTPClient(cfg.HTTPClient))
	} else {
		opts = append(opts, slack.OptionHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(strings.TrimRight(cfg.APIURL, "/")+"/"))
	}
	r, err := slack.New(cfg.BotToken, opts...).AuthTestContext(ctx)
	if err != nil {
		return Tenants{}, fmt.Errorf("slack auth.test (to learn the workspace this bot token serves): %w", err)
	}
	return tenantsOf(r)
}

// tenantsOf is the workspace an auth.test answer names.
func tenantsOf(r *slack.AuthTestResponse) (Tenants, error) {
	switch {
	case r.TeamID != "":
		t := Tenants{Teams: []string{r.TeamID}}
		if r.Team != "" {
			t.Names = map[string]string{r.TeamID: r.Team}
		}
		return t, nil
	case r.EnterpriseID != "":
		return Tenants{Enterprises: []string{r.EnterpriseID}}, nil
	}
	return Tenants{}, errors.New("slack auth.test named no team_id nor enterprise_id")
}

package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// DM is Slack as a delivery platform (bot/deliver.Platform): it finds a
// person by email (users.lookupByEmail), writes to their direct message with
// usher (conversations.open, chat.postMessage carrying the message's key as
// metadata, so a repeat is recognised), and answers a sender where they typed
// (their command's response_url) when the router hands it one.
type DM struct {
	apis  workspaceAPIs
	http  *http.Client
	state State
	log   *slog.Logger
	// workspacesOf lists the Slack workspaces (team or enterprise ids) of an
	// organization, where its people are looked for; nil: the default token's.
	workspacesOf func(ctx context.Context, orgID org.ID) ([]string, error)
}

// Where is what an invitation's delivery record says for a Slack DM.
const Where = "slack direct message"

// NewDM builds the Slack delivery platform from the Web API settings of cfg
// (BotToken, APIURL, HTTPClient), its State (response_url counts) and Logger.
func NewDM(cfg Config) (*DM, error) {
	var missing []string
	if cfg.BotToken == "" && cfg.Installations == nil {
		missing = append(missing, "bot token")
	}
	if cfg.State == nil {
		missing = append(missing, "state")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("slack: missing %s", strings.Join(missing, ", "))
	}
	d := &DM{http: cfg.HTTPClient, state: cfg.State, log: cfg.Logger}
	if d.http == nil {
		d.http = &http.Client{Timeout: 10 * time.Second}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.apis = newWorkspaceAPIs(cfg, d.http)
	d.workspacesOf = cfg.WorkspacesOf
	return d, nil
}

// workspaceAPIs are the Web API clients by Slack workspace: one per bot
// token (Config.Tokens: a distributed app has one per workspace it is
// installed in), and the default one (Config.BotToken) for a workspace
// without its own.
type workspaceAPIs struct {
	def  *slack.Client
	byID map[string]*slack.Client
	// installed finds the token of a workspace installed through "Add to
	// Slack" (Config.Installations), read at each use: an uninstall takes
	// effect at once on every replica.
	installed func(ctx context.Context, ids ...string) (*slack.Client, bool, error)
	log       *slog.Logger
}

func newWorkspaceAPIs(cfg Config, hc *http.Client) workspaceAPIs {
	w := workspaceAPIs{def: newAPI(cfg, hc), byID: map[string]*slack.Client{}, installed: installedAPIs(cfg, hc), log: cfg.Logger}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	for id, token := range cfg.Tokens {
		c := cfg
		c.BotToken = token
		w.byID[id] = newAPI(c, hc)
	}
	return w
}

// of is the client for a workspace (a team id, or the enterprise id of an
// org-wide install).
func (w workspaceAPIs) of(ctx context.Context, ids ...string) *slack.Client {
	if w.installed != nil {
		c, ok, err := w.installed(ctx, ids...)
		if err != nil {
			// invalid_refresh_token among them: the workspace must install usher again.
			w.log.ErrorContext(ctx, "slack: no usable installation token", "workspace", ids, "err", err)
		} else if ok {
			return c
		}
	}
	for _, id := range ids {
		if c, ok := w.byID[id]; ok && id != "" {
			return c
		}
	}
	return w.def
}

func newAPI(cfg Config, hc *http.Client) *slack.Client {
	opts := []slack.Option{slack.OptionHTTPClient(hc)}
	if cfg.APIURL != "" {
		opts = append(opts, slack.OptionAPIURL(strings.TrimRight(cfg.APIURL, "/")+"/"))
	}
	if cfg.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken))
	}
	return slack.New(cfg.BotToken, opts...)
}

// Name is the platform's name.
func (d *DM) Name() string { return Platform }

// Find looks the person up by email; a hint from the message's origin (the
// sender is this Slack user) saves the look-up. A deleted account or a bot
// is not someone usher writes to.
func (d *DM) Find(ctx context.Context, orgID org.ID, email string, hint deliver.Hint) (deliver.Recipient, bool, error) {
	if hint.UserID != "" {
		return deliver.Recipient{Email: email, UserID: hint.UserID, ReplyURL: hint.ReplyURL, Workspace: hint.Workspace}, true, nil
	}
	workspaces := []string{""}
	if d.workspacesOf != nil {
		ws, err := d.workspacesOf(ctx, orgID)
		if err != nil {
			return deliver.Recipient{}, false, fmt.Errorf("slack workspaces of %s: %w", orgID, err)
		}
		// An organization with no Slack workspace of its own has nobody here.
		workspaces = ws
	}
	for _, ws := range workspaces {
		api, err := d.apis.must(ctx, ws)
		if errors.Is(err, errNotInstalled) {
			continue // nobody is reachable there now
		} else if err != nil {
			return deliver.Recipient{}, false, err
		}
		u, err := api.GetUserByEmailContext(ctx, email)
		switch {
		case slackErr(err) == "users_not_found":
			continue
		case err != nil:
			return deliver.Recipient{}, false, classify(fmt.Errorf("slack users.lookupByEmail: %w", err))
		case u.Deleted || u.IsBot:
			continue
		}
		return deliver.Recipient{Email: email, UserID: u.ID, Workspace: ws}, true, nil
	}
	return deliver.Recipient{}, false, nil
}

// Post writes to the person's DM, or (a notice for a sender, never a
// password) ephemerally where they typed while that response_url lasts.
func (d *DM) Post(ctx context.Context, r deliver.Recipient, p deliver.Post) (deliver.Posted, error) {
	if r.ReplyURL != "" && p.Kind != handlers.DeliverPassword {
		err := d.respond(ctx, respondTarget{ResponseURL: r.ReplyURL, UserID: r.UserID, Ephemeral: true, Team: r.Workspace}, p.Message, false)
		return deliver.Posted{Platform: Platform, Where: "shown to them in Slack"}, classify(err)
	}
	api, err := d.apis.must(ctx, r.Workspace)
	if err != nil {
		return deliver.Posted{}, err
	}
	ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{r.UserID}, ReturnIM: true})
	if err != nil {
		if code := slackErr(err); code == "user_not_found" || code == "user_disabled" || code == "cannot_dm_bot" {
			return deliver.Posted{}, fmt.Errorf("slack conversations.open: %s: %w", code, deliver.ErrUnreachable)
		}
		return deliver.Posted{}, classify(fmt.Errorf("slack conversations.open: %w", err))
	}
	posted := deliver.Posted{Platform: Platform, Where: Where, Channel: ch.ID, Workspace: r.Workspace}
	if p.Attempt > 0 {
		// A retried or reclaimed job may have been posted before the crash or
		// failure that brought it back: look for its key before posting again.
		found, ts, err := d.alreadyPosted(ctx, api, ch.ID, p.Key)
		if err != nil {
			return deliver.Posted{}, classify(err)
		}
		if found {
			posted.ID = ts
			return posted, nil
		}
	}
	blocks, text := Render(p.Message)
	_, ts, err := api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"key": p.Key}}))
	if err != nil {
		return deliver.Posted{}, classify(fmt.Errorf("slack chat.postMessage: %w", err))
	}
	posted.ID = ts
	return posted, nil
}

// Update replaces a message usher posted (chat.update).
func (d *DM) Update(ctx context.Context, at deliver.Posted, m handlers.Message) error {
	if at.Channel == "" || at.ID == "" {
		return &outbox.Permanent{Err: errors.New("slack update: the message has no channel or ts (an ephemeral answer cannot be updated)")}
	}
	blocks, text := Render(m)
	api, err := d.apis.must(ctx, at.Workspace)
	if err != nil {
		return err
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, at.Channel, at.ID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
		return classify(fmt.Errorf("slack chat.update: %w", err))
	}
	return nil
}

// alreadyPosted looks for a message carrying key among the conversation's
// latest messages.
func (d *DM) alreadyPosted(ctx context.Context, api *slack.Client, channel, key string) (bool, string, error) {
	h, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: channel, Limit: 50, IncludeAllMetadata: true})
	if err != nil {
		return false, "", fmt.Errorf("slack conversations.history: %w", err)
	}
	for _, m := range h.Messages {
		if m.Metadata.EventType == metadataType && m.Metadata.EventPayload["key"] == key {
			return true, m.Timestamp, nil
		}
	}
	return false, "", nil
}

// respond answers through response_url, or the Web API once it is used up.
func (d *DM) respond(ctx context.Context, t respondTarget, m handlers.Message, replace bool) error {
	blocks, text := Render(m)
	if t.ResponseURL != "" {
		n, err := d.state.Incr(ctx, "rurl", hashKey(t.ResponseURL), 30*time.Minute)
		if err != nil || n <= responseURLUses {
			msg := &slack.WebhookMessage{Text: text, Blocks: &slack.Blocks{BlockSet: blocks}, ReplaceOriginal: replace}
			if !replace {
				msg.ResponseType = slack.ResponseTypeEphemeral
			}
			err := slack.PostWebhookCustomHTTPContext(ctx, t.ResponseURL, d.http, msg)
			if err == nil {
				return nil
			}
			var se slack.StatusCodeError
			if !errors.As(err, &se) || se.Code != http.StatusNotFound {
				// A response_url is a credential for 30 minutes: keep it out of logs.
				var ue *url.Error
				if errors.As(err, &ue) {
					err = ue.Err
				}
				return fmt.Errorf("slack response_url: %w", err)
			}
			// 404: the url expired; fall through to the Web API.
		}
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	api, err := d.apis.must(ctx, t.Team)
	if err != nil {
		return err
	}
	if replace && t.Channel != "" && t.TS != "" && !t.Ephemeral {
		_, _, _, err := api.UpdateMessageContext(ctx, t.Channel, t.TS, opts...)
		if err != nil {
			return fmt.Errorf("slack chat.update: %w", err)
		}
		return nil
	}
	if t.UserID == "" {
		return &outbox.Permanent{Err: errors.New("slack answer with nowhere to go")}
	}
	ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{t.UserID}, ReturnIM: true})
	if err != nil {
		return fmt.Errorf("slack conversations.open: %w", err)
	}
	if _, _, err := api.PostMessageContext(ctx, ch.ID, opts...); err != nil {
		return fmt.Errorf("slack chat.postMessage: %w", err)
	}
	return nil
}

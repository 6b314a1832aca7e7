package slack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// DM is Slack as a delivery platform (bot/deliver.Platform): it finds a
// person by email in the organization's directory of Slack users (one Redis
// read; users.lookupByEmail only for an address the directory lacks),
// writes to their direct message with usher in one Web API call
// (chat.postMessage to their user id, carrying the message's key as
// metadata, so a repeat is recognised), every call within the rate budgets
// every replica shares, and answers a sender where they typed (their
// command's response_url) when the router hands it one.
type DM struct {
	apis  workspaceAPIs
	http  *http.Client
	state State
	log   *slog.Logger
	// workspacesOf lists the Slack workspaces (team or enterprise ids) of an
	// organization, where its people are looked for; nil: the default token's.
	workspacesOf func(ctx context.Context, orgID org.ID) ([]string, error)
	// dir, when set, is the directory of Slack users; nil: every look-up is
	// a users.lookupByEmail, as before the directory.
	dir    Directory
	dirCfg DirectoryConfig
	builds *builds
	pace   pacer
	now    func() time.Time
	// nobody remembers in this process, for localMiss, the addresses the
	// directory says nobody has: the notices of a bulk invite sent from
	// outside chat ask about one sender a thousand times.
	mu     sync.Mutex
	nobody map[string]time.Time
}

// localMiss is how long this process believes "nobody has this address"
// without asking Redis again (a team_join on another replica is seen after
// at most this).
const localMiss = 10 * time.Second

func (d *DM) knownMissing(key string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.nobody[key]
	return ok && now.Before(until)
}

func (d *DM) rememberMissing(key string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nobody == nil || len(d.nobody) > 10000 {
		d.nobody = map[string]time.Time{}
	}
	d.nobody[key] = now.Add(localMiss)
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
	d.http = webClient(d.http)
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.apis = newWorkspaceAPIs(cfg, d.http)
	d.workspacesOf = cfg.WorkspacesOf
	d.dir, d.dirCfg, d.builds = cfg.Directory, cfg.DirectoryConfig.withDefaults(), newBuilds()
	d.pace = newPacer(cfg, d.log)
	d.now = cfg.Now
	if d.now == nil {
		d.now = time.Now
	}
	return d, nil
}

// UseDirectory makes d find people in dir (tuned by cfg) before asking
// Slack.
func (d *DM) UseDirectory(dir Directory, cfg DirectoryConfig) {
	d.dir, d.dirCfg = dir, cfg.withDefaults()
}

// UseBudgets makes every Web API call of d take its slot in budgets first
// (limits nil: DefaultLimits).
func (d *DM) UseBudgets(budgets Budgets, limits *Limits) {
	d.pace = newPacer(Config{Budgets: budgets, Limits: limits}, d.log)
}

// WorkspacesOf is where d looks for an organization's people (nil: the
// default token's workspace); the App's directory events write there too.
func (d *DM) WorkspacesOf() func(ctx context.Context, orgID org.ID) ([]string, error) {
	return d.workspacesOf
}

func newPacer(cfg Config, log *slog.Logger) pacer {
	l := DefaultLimits()
	if cfg.Limits != nil {
		l = *cfg.Limits
	}
	return pacer{budgets: cfg.Budgets, limits: l, log: log}
}

// workspaceAPIs are the Web API clients by Slack workspace: one per bot
// token (Config.Tokens: a distributed app has one per workspace it is
// installed in), and the default one (Config.BotToken) for a workspace
// without its own.
type workspaceAPIs struct {
	def  *webAPI
	byID map[string]*webAPI
	// installed finds the token of a workspace installed through "Add to
	// Slack" (Config.Installations), read at each use: an uninstall takes
	// effect at once on every replica.
	installed func(ctx context.Context, ids ...string) (*webAPI, bool, error)
	log       *slog.Logger
}

func newWorkspaceAPIs(cfg Config, hc *http.Client) workspaceAPIs {
	w := workspaceAPIs{def: newAPI(cfg, hc), byID: map[string]*webAPI{}, installed: installedAPIs(cfg, hc), log: cfg.Logger}
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
func (w workspaceAPIs) of(ctx context.Context, ids ...string) *webAPI {
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

func newAPI(cfg Config, hc *http.Client) *webAPI {
	endpoint := slack.APIURL
	if cfg.APIURL != "" {
		endpoint = strings.TrimRight(cfg.APIURL, "/") + "/"
	}
	opts := []slack.Option{slack.OptionHTTPClient(hc), slack.OptionAPIURL(endpoint)}
	if cfg.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken))
	}
	return &webAPI{Client: slack.New(cfg.BotToken, opts...), token: cfg.BotToken, endpoint: endpoint, hc: hc}
}

// Name is the platform's name.
func (d *DM) Name() string { return Platform }

// Find looks the person up by email: in the directory, else (an address it
// lacks, or no directory) with users.lookupByEmail, whose answer the
// directory keeps (a "nobody" for DirectoryConfig.MissTTL). A hint from the
// message's origin (the sender is this Slack user) saves the look-up. A
// deleted account or a bot is not someone usher writes to. A queued
// delivery (deliver.Queued) that finds the directory still being built for
// the first time waits for it (an *outbox.RetryAfter) rather than spend a
// look-up.
func (d *DM) Find(ctx context.Context, orgID org.ID, email string, hint deliver.Hint) (deliver.Recipient, bool, error) {
	if hint.UserID != "" {
		return deliver.Recipient{Email: email, UserID: hint.UserID, ReplyURL: hint.ReplyURL, Workspace: hint.Workspace, Org: orgID}, true, nil
	}
	// An organization with no Slack workspace of its own has nobody here.
	workspaces, err := d.workspaces(ctx, orgID)
	if err != nil {
		return deliver.Recipient{}, false, fmt.Errorf("slack workspaces of %s: %w", orgID, err)
	}
	for _, ws := range workspaces {
		id, found, err := d.findIn(ctx, orgID, ws, email)
		if errors.Is(err, errNotInstalled) {
			continue // nobody is reachable there now
		} else if err != nil {
			return deliver.Recipient{}, false, err
		}
		if found {
			return deliver.Recipient{Email: email, UserID: id, Workspace: ws, Org: orgID}, true, nil
		}
	}
	return deliver.Recipient{}, false, nil
}

// findIn looks for email in one workspace.
func (d *DM) findIn(ctx context.Context, orgID org.ID, ws, email string) (string, bool, error) {
	if d.dir != nil && orgID != "" {
		local := string(orgID) + "\x00" + ws + "\x00" + strings.ToLower(email)
		if d.knownMissing(local, d.now()) {
			return "", false, nil
		}
		e, ok := prefetched(ctx, orgID, ws, email)
		var err error
		if !ok {
			e, err = d.dir.Lookup(ctx, orgID, ws, email)
		}
		switch {
		case err != nil:
			return "", false, fmt.Errorf("slack directory: %w", err)
		case e.UserID != "":
			d.refresh(ctx, orgID, ws, e)
			return e.UserID, true, nil
		case e.Missing:
			d.rememberMissing(local, d.now())
			return "", false, nil
		case e.Built.IsZero() && d.now().Sub(e.Failed) < d.dirCfg.MissTTL:
			// The last build failed (users.list refused: a missing scope, an
			// old install): ask Slack, and build again after a while.
		case e.Built.IsZero():
			d.startBuild(ctx, orgID, ws)
			if deliver.Queued(ctx) {
				return "", false, &outbox.RetryAfter{Wait: d.dirCfg.buildWait(e.Since, e.Until, d.now())}
			}
		default:
			d.refresh(ctx, orgID, ws, e)
		}
	}
	api, err := d.apis.must(ctx, ws)
	if err != nil {
		return "", false, err
	}
	var u *slack.User
	err = d.pace.call(ctx, orgID, ws, "users.lookupByEmail", "", func() (err error) {
		u, err = api.GetUserByEmailContext(ctx, email)
		return err
	})
	switch {
	case slackErr(err) == "users_not_found":
		d.remember(ctx, orgID, ws, email, DirUser{})
		return "", false, nil
	case err != nil:
		return "", false, classify(fmt.Errorf("slack users.lookupByEmail: %w", err))
	}
	du := dirUser(u.ID, email, u.Deleted, u.IsBot)
	d.remember(ctx, orgID, ws, email, du)
	return u.ID, du.Reachable, nil
}

// refresh lists the workspace again in the background once its directory
// is older than DirectoryConfig.Refresh.
func (d *DM) refresh(ctx context.Context, orgID org.ID, ws string, e DirEntry) {
	if !e.Building && !e.Built.IsZero() && d.now().Sub(e.Built) > d.dirCfg.Refresh {
		d.startBuild(ctx, orgID, ws)
	}
}

// remember keeps a users.lookupByEmail answer in the directory: the user,
// or (no ID, or someone usher does not write to) "nobody" for a while.
func (d *DM) remember(ctx context.Context, orgID org.ID, ws, email string, u DirUser) {
	if d.dir == nil || orgID == "" {
		return
	}
	var err error
	if u.Reachable {
		err = d.dir.Put(ctx, orgID, ws, []DirUser{u})
	} else {
		err = d.dir.Miss(ctx, orgID, ws, email, d.dirCfg.MissTTL)
	}
	if err != nil {
		d.log.WarnContext(ctx, "slack: could not keep a look-up in the directory", "err", err)
	}
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
	posted := deliver.Posted{Platform: Platform, Where: Where, Workspace: r.Workspace, Org: r.Org, UserID: r.UserID}
	if p.Attempt > 0 {
		// A retried or reclaimed job may have been posted before the crash or
		// failure that brought it back: look for its key before posting
		// again. Only then is the DM's channel id needed (conversations.open,
		// then conversations.history): a first attempt is one call.
		var ch *slack.Channel
		err := d.pace.call(ctx, r.Org, r.Workspace, "conversations.open", "", func() (err error) {
			ch, _, _, err = api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{r.UserID}, ReturnIM: true})
			return err
		})
		if err != nil {
			if code := slackErr(err); code == "user_not_found" || code == "user_disabled" || code == "cannot_dm_bot" {
				return deliver.Posted{}, fmt.Errorf("slack conversations.open: %s: %w", code, deliver.ErrUnreachable)
			}
			return deliver.Posted{}, classify(fmt.Errorf("slack conversations.open: %w", err))
		}
		posted.Channel = ch.ID
		found, ts, err := d.alreadyPosted(ctx, api, r, ch.ID, p.Key)
		if err != nil {
			return deliver.Posted{}, classify(err)
		}
		if found {
			posted.ID = ts
			return posted, nil
		}
	}
	blocks, text := Render(p.Message)
	// channel = the user id: Slack posts to the app's DM with them (its
	// Messages tab), opening it if need be, and answers with the DM's id
	// (https://docs.slack.dev/reference/methods/chat.postMessage: "an
	// encoded ID ... IM channel"; conversations.app_home:create: "start a
	// DM with a user by calling chat.postMessage and passing the user's ID
	// as the channel", no conversations.open first).
	target := cmp.Or(posted.Channel, r.UserID)
	var ch, ts string
	err = d.pace.call(ctx, r.Org, r.Workspace, postMethod, r.UserID, func() (err error) {
		ch, ts, err = api.postMessage(ctx, postBody{Channel: target, Text: text, Blocks: blocks,
			Metadata: slack.SlackMetadata{EventType: metadataType, EventPayload: map[string]any{"key": p.Key}}})
		return err
	})
	if err != nil {
		if code := slackErr(err); code == "user_not_found" || code == "user_disabled" || code == "cannot_dm_bot" {
			return deliver.Posted{}, fmt.Errorf("slack chat.postMessage: %s: %w", code, deliver.ErrUnreachable)
		}
		return deliver.Posted{}, classify(fmt.Errorf("slack chat.postMessage: %w", err))
	}
	posted.Channel, posted.ID = cmp.Or(ch, posted.Channel), ts
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
	err = d.pace.call(ctx, at.Org, at.Workspace, "chat.update", "", func() error {
		_, _, _, err := api.UpdateMessageContext(ctx, at.Channel, at.ID, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
		return err
	})
	if err != nil {
		return classify(fmt.Errorf("slack chat.update: %w", err))
	}
	return nil
}

// alreadyPosted looks for a message carrying key among the conversation's
// latest messages.
func (d *DM) alreadyPosted(ctx context.Context, api *webAPI, r deliver.Recipient, channel, key string) (bool, string, error) {
	var h *slack.GetConversationHistoryResponse
	err := d.pace.call(ctx, r.Org, r.Workspace, "conversations.history", "", func() (err error) {
		h, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: channel, Limit: 50, IncludeAllMetadata: true})
		return err
	})
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
	// To their user id: Slack posts in the DM (see Post), one call.
	if _, _, err := api.PostMessageContext(ctx, t.UserID, opts...); err != nil {
		return fmt.Errorf("slack chat.postMessage: %w", err)
	}
	return nil
}

// Package slack is usher's Slack adapter: it verifies Slack's requests,
// turns slash commands and button clicks into handlers.Requests made by the
// Slack user (identified by their Slack email), renders handlers.Replies as
// Block Kit, and sends deliveries as direct messages through the outbox. It
// translates only: every decision is the handlers'.
package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Platform is the outbox platform name of Slack jobs.
const Platform = "slack"

// Service is what the adapter needs of the use cases.
type Service interface {
	Handle(ctx context.Context, req handlers.Request) handlers.Reply
	// InviteForm says whether the actor may open the invite modal, and
	// with which workspaces (nil refusal: they may).
	InviteForm(ctx context.Context, actor org.Identity) (handlers.InviteForm, *handlers.Reply)
}

// State is small, expiring adapter state in Redis (storage.SlackState):
// cached identities, de-duplication marks, response_url use counts. Keys are
// (kind, id) pairs; the store namespaces them per organization.
type State interface {
	Get(ctx context.Context, kind, id string) ([]byte, bool, error)
	Set(ctx context.Context, kind, id string, v []byte, ttl time.Duration) error
	// SetNX marks (kind, id) for ttl and reports whether it was not marked yet.
	SetNX(ctx context.Context, kind, id string, ttl time.Duration) (bool, error)
	// Forget removes (kind, id): its next SetNX is new again.
	Forget(ctx context.Context, kind, id string) error
	// Incr counts uses of (kind, id) within ttl of the first.
	Incr(ctx context.Context, kind, id string, ttl time.Duration) (int64, error)
}

// Router delivers a reply's messages for people on whichever platform knows
// them (bot/deliver.Router): queued after the reply, or encoded into the
// command's own commit, and it takes over "dm" jobs queued by earlier versions.
type Router interface {
	Deliver(ctx context.Context, ds []handlers.Delivery, from deliver.Origin) error
	Outbox(from deliver.Origin) handlers.Outbox
	Resume(ctx context.Context, attempt int, j deliver.Job) error
}

// Config wires an App.
type Config struct {
	SigningSecret string // SLACK_SIGNING_SECRET (HTTP mode)
	BotToken      string // SLACK_BOT_TOKEN
	AppToken      string // SLACK_APP_TOKEN (Socket Mode)
	APIURL        string // SLACK_API_URL, default https://slack.com/api/
	Service       Service
	State         State
	// Queue holds the answers to clicks and modals (response_url jobs).
	Queue outbox.Queue
	// Router delivers the messages for other people.
	Router Router
	// QueueInCommit says that Service's store writes messages into the same
	// outbox the router's jobs go to (usher serve wires both to one
	// organization's Redis): a command then queues its messages in its own
	// commit (one atomic step, one round trip) instead of after it.
	QueueInCommit bool
	// Tenants are the Slack workspaces and Enterprise Grid organizations
	// served, by the one organization of Service, State, Queue and Router:
	// requests from any other are refused. Orgs replaces all five.
	Tenants Tenants
	// Orgs, when set, finds the organization serving each request by the
	// workspace Slack signed it for; Service, Queue and Router are then
	// that organization's, and Tenants is not used. Router stays the
	// sender of jobs queued by versions before the delivery router (the
	// default organization's).
	Orgs Orgs
	// Tokens are the bot tokens of the workspaces (team ids, or enterprise
	// ids for org-wide installs) that have their own; the others use BotToken.
	Tokens map[string]string
	// Installations, when set (distribution mode), holds each workspace's
	// bot token, installed through "Add to Slack" (install.go); BotToken is
	// then not needed, and a request from a workspace without an
	// installation is refused. InstallURL is where to add usher.
	Installations Installations
	InstallURL    string
	// ClientID and ClientSecret refresh rotating installation tokens.
	ClientID, ClientSecret string
	// OnBroken is told, once across replicas, of an installation this
	// process found broken (Slack refused its refresh token): the admins
	// must hear of it on another platform, or the operator in the log.
	OnBroken func(ctx context.Context, inst Installation)
	// OnLifecycle is told of each lifecycle event that changed an
	// installation (not of a retry or a repeat that changed nothing): the
	// organization audits it.
	OnLifecycle func(ctx context.Context, ev Lifecycle)
	// WorkspacesOf lists an organization's Slack workspaces, where DM looks
	// for its people; nil: BotToken's workspace, for every organization.
	WorkspacesOf func(ctx context.Context, orgID org.ID) ([]string, error)
	// Directory, when set, is the organizations' directories of Slack users
	// (storage.SlackDirectory): DM finds people there, and the team_join
	// and user_change events keep it fresh. DirectoryConfig tunes it.
	Directory       Directory
	DirectoryConfig DirectoryConfig
	// Budgets, when set, are the Web API rate limits shared by every replica
	// (storage.Budgets); Limits, the limits kept to (default DefaultLimits).
	Budgets Budgets
	Limits  *Limits
	// OrgID is the organization of Service when Orgs is not set (its
	// directory's key).
	OrgID  org.ID
	Logger *slog.Logger
	// HTTPClient calls the Web API and response_urls; default: 10 s timeout.
	HTTPClient *http.Client
	// Budget bounds the work done before answering Slack (which waits 3 s).
	Budget time.Duration
	// IdentityTTL is how long a user's Slack email is cached (default 1 h).
	IdentityTTL time.Duration
	Now         func() time.Time
	// Observe, when set, is told of every command and click answered: its
	// verb, the reply's code ("" when done) and how long the answer took.
	Observe func(verb, code string, d time.Duration)
}

// Org is the organization serving one request: its use cases, its outbox
// and its delivery router.
type Org struct {
	ID      org.ID
	Service Service
	Queue   outbox.Queue
	Router  Router
	// Identities caches who the organization's Slack users are (their
	// email); nil: the App's State.
	Identities State
	// Enterprise is the request's Enterprise Grid, whose org-wide install
	// may be the one whose token serves it (set by the App, not by Orgs).
	Enterprise string
}

// Orgs finds the organization that serves a Slack workspace.
type Orgs interface {
	// Serving is the organization serving team (of enterprise, "" outside
	// Enterprise Grid); ok is false when none does.
	Serving(ctx context.Context, team, enterprise string) (o Org, ok bool, err error)
}

// pinned is the one organization of a Config without Orgs.
type pinned struct {
	tenants Tenants
	org     Org
}

func (p pinned) Serving(_ context.Context, team, enterprise string) (Org, bool, error) {
	return p.org, p.tenants.Serves(team, enterprise), nil
}

// App is the Slack adapter.
type App struct {
	cfg    Config
	apis   workspaceAPIs
	http   *http.Client
	log    *slog.Logger
	orgs   Orgs
	state  State
	dm     *DM // response_url answers, shared with the delivery platform's code
	budget time.Duration
	ttl    time.Duration

	mu    sync.Mutex
	local map[string]localProfile // in-process cache in front of State
}

// New checks cfg and builds an App.
func New(cfg Config) (*App, error) {
	var missing []string
	if cfg.BotToken == "" && cfg.Installations == nil {
		missing = append(missing, "bot token")
	}
	if cfg.Service == nil && cfg.Orgs == nil {
		missing = append(missing, "service")
	}
	if cfg.State == nil {
		missing = append(missing, "state")
	}
	if cfg.Queue == nil && cfg.Orgs == nil {
		missing = append(missing, "outbox queue")
	}
	if cfg.Router == nil {
		missing = append(missing, "delivery router")
	}
	if cfg.Tenants.Empty() && cfg.Orgs == nil {
		missing = append(missing, "served workspace (team or enterprise id)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("slack: missing %s", strings.Join(missing, ", "))
	}
	a := &App{cfg: cfg, http: cfg.HTTPClient, log: cfg.Logger, orgs: cfg.Orgs, state: cfg.State,
		budget: cfg.Budget, ttl: cfg.IdentityTTL, local: map[string]localProfile{}}
	if a.orgs == nil {
		a.orgs = pinned{tenants: cfg.Tenants, org: Org{ID: cfg.OrgID, Service: cfg.Service, Queue: cfg.Queue, Router: cfg.Router}}
	}
	a.http = webClient(a.http)
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.budget == 0 {
		a.budget = 2500 * time.Millisecond
	}
	if a.ttl == 0 {
		a.ttl = time.Hour
	}
	if a.cfg.Now == nil {
		a.cfg.Now = time.Now
	}
	a.apis = newWorkspaceAPIs(cfg, a.http)
	a.dm = &DM{apis: a.apis, http: a.http, state: a.state, log: a.log, pace: newPacer(cfg, a.log)}
	return a, nil
}

// profile is what usher keeps of a Slack user.
type profile struct {
	Email      string `json:"email"`
	Name       string `json:"name"`
	Bot        bool   `json:"bot,omitempty"`
	Deleted    bool   `json:"deleted,omitempty"`
	Restricted bool   `json:"restricted,omitempty"`
}

type localProfile struct {
	p       profile
	expires time.Time
}

// localTTL bounds how stale the in-process copy may be: a user deactivated in
// Slack loses access within a minute even while Redis holds the longer copy.
const localTTL = time.Minute

// lookup finds a Slack user's profile: in process, in Redis, else users.info.
func (a *App) lookup(ctx context.Context, o Org, team, user string) (profile, error) {
	cache := o.Identities
	if cache == nil {
		cache = a.state
	}
	key := team + ":" + user
	now := a.cfg.Now()
	a.mu.Lock()
	lp, ok := a.local[key]
	a.mu.Unlock()
	if ok && now.Before(lp.expires) {
		return lp.p, nil
	}
	var p profile
	raw, found, cacheErr := cache.Get(ctx, "user", key)
	if cacheErr != nil {
		a.log.WarnContext(ctx, "slack: identity cache unavailable", "err", cacheErr)
	}
	if found && json.Unmarshal(raw, &p) == nil {
		a.remember(key, p, now)
		return p, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	u, err := a.apis.of(callCtx, team, o.Enterprise).GetUserInfoContext(callCtx, user)
	if err != nil {
		return profile{}, fmt.Errorf("slack users.info %s: %w", user, err)
	}
	err = cacheErr // Redis is down: don't wait for it twice
	p = profile{Email: u.Profile.Email, Name: firstNonEmpty(u.Profile.DisplayName, u.Profile.RealName, u.RealName, u.Name),
		Bot: u.IsBot || u.ID == "USLACKBOT", Deleted: u.Deleted, Restricted: u.IsRestricted || u.IsUltraRestricted}
	if raw, merr := json.Marshal(p); merr == nil && err == nil {
		if err := cache.Set(ctx, "user", key, raw, a.ttl); err != nil {
			a.log.WarnContext(ctx, "slack: could not cache identity", "err", err)
		}
	}
	a.remember(key, p, now)
	return p, nil
}

func (a *App) remember(key string, p profile, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.local) > 10000 {
		clear(a.local)
	}
	a.local[key] = localProfile{p: p, expires: now.Add(localTTL)}
}

// identity is the acting Slack user as usher sees them, or the reason they
// cannot act.
func (a *App) identity(ctx context.Context, o Org, team, user string) (org.Identity, *handlers.Message) {
	p, err := a.lookup(ctx, o, team, user)
	if err != nil {
		a.log.WarnContext(ctx, "slack: cannot identify user", "team", team, "user", user, "err", err)
		return org.Identity{}, &handlers.Message{Tone: handlers.ToneError,
			Text:   "usher couldn't ask Slack who you are just now, so nothing was changed.",
			Footer: "Please try again in a minute."}
	}
	switch {
	case p.Bot:
		return org.Identity{}, &handlers.Message{Tone: handlers.ToneError, Text: "Bots can't use usher: only people with an email address can."}
	case p.Deleted:
		return org.Identity{}, &handlers.Message{Tone: handlers.ToneError, Text: "Your Slack account is deactivated, so usher can't act for you."}
	case p.Email == "":
		why := "your Slack profile has no email address usher may read"
		if p.Restricted {
			why = "guest accounts in this Slack workspace have no email address usher may read"
		}
		return org.Identity{}, &handlers.Message{Tone: handlers.ToneError,
			Text:   fmt.Sprintf("usher can't tell who you are: %s, and usher identifies people by their verified email.", why),
			Footer: "Ask your Slack admin to add an email to your account (or to let apps read it), then try again."}
	}
	email, err := org.NormalizeEmail(p.Email)
	if err != nil {
		return org.Identity{}, &handlers.Message{Tone: handlers.ToneError, Text: "usher can't read the email address on your Slack profile, so it can't tell who you are."}
	}
	return org.Identity{Platform: "slack", Team: team, UserID: user, Email: email, Name: p.Name}, nil
}

// resolveMentions replaces "<@U123>" (what Unwrap leaves of a mention) with
// the mentioned person's email.
func (a *App) resolveMentions(ctx context.Context, o Org, team, text string, ids []string) (string, *handlers.Message) {
	for _, id := range ids {
		p, err := a.lookup(ctx, o, team, id)
		if err != nil || p.Email == "" || p.Bot {
			return "", &handlers.Message{Tone: handlers.ToneError,
				Text: fmt.Sprintf("usher can't see an email address for <@%s>; type their email address instead.", id)}
		}
		text = strings.ReplaceAll(text, "<@"+id+">", p.Email)
	}
	return text, nil
}

// slow is the answer when usher could not finish in Slack's 3 s.
var slow = handlers.Reply{Code: org.CodeUnavailable, Message: handlers.Message{Tone: handlers.ToneWarning,
	Text:   "usher is temporarily unavailable (its database is not answering in time).",
	Footer: "It may still finish what you asked: check with /usher invitations (or members) before trying again."}}

// within runs work and returns its reply if it is done by deadline, else
// slow: Slack gives up on an answer after 3 seconds, so the answer is always
// sent in time and the work, if still under way, finishes on its own.
func (a *App) within(ctx context.Context, deadline time.Time, text string, work func(ctx context.Context) handlers.Reply) (reply handlers.Reply) {
	if a.cfg.Observe != nil {
		start := time.Now()
		defer func() {
			verb, _, _ := strings.Cut(strings.TrimSpace(text), " ")
			a.cfg.Observe(strings.ToLower(verb), string(reply.Code), time.Since(start))
		}()
	}
	done := make(chan handlers.Reply, 1)
	// The work outlives the request's context (Slack hangs up at 3 s; a
	// commit under way must still queue its messages), bounded by its own.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	go func() {
		defer cancel()
		done <- work(wctx)
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case r := <-done:
		return r
	case <-timer.C:
		a.log.WarnContext(ctx, "slack: command did not finish in time", "budget", a.budget)
		return slow
	}
}

// act identifies the Slack user and runs text as them, then queues the
// reply's deliveries. first, when set, is called with the reply before its
// deliveries are queued (a click's answer goes out before the messages it
// causes).
func (a *App) act(ctx context.Context, o Org, team, user, text string, mentions []string, rc replyContext, first func(handlers.Reply)) handlers.Reply {
	id, why := a.identity(ctx, o, team, user)
	if why == nil && len(mentions) > 0 {
		text, why = a.resolveMentions(ctx, o, team, text, mentions)
	}
	if why != nil {
		r := handlers.Reply{Code: org.CodeForbidden, Message: *why}
		if first != nil {
			first(r)
		}
		return r
	}
	req := handlers.Request{Actor: id, Text: text}
	from := deliver.OriginOf(id, rc.responseURL)
	if a.cfg.QueueInCommit {
		req.Outbox = o.Router.Outbox(from)
	}
	r := o.Service.Handle(ctx, req)
	if first != nil {
		first(r)
	}
	if err := o.Router.Deliver(ctx, r.Deliveries, from); err != nil {
		a.log.ErrorContext(ctx, "slack: could not queue deliveries", "count", len(r.Deliveries), "err", err)
		r.Footer = strings.TrimSpace(r.Footer + "\nusher could not queue the messages for the other people involved; use resend once it is back.")
	}
	return r
}

// replyContext is where a reply came from, for telling the actor later.
type replyContext struct {
	responseURL string
	channel     string
}

func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// slackErr is the Web API error code of err, "" when it is not one.
func slackErr(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

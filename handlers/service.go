// Package handlers holds usher's use cases: one per command, each taking a
// platform-neutral Request and returning a Reply. It knows nothing of Slack,
// Teams or Redis: the Store port below is all it needs of storage.
package handlers

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/usher-chat/usher/handlers/command"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Store reads and changes an organization's state. Load answers a whole query
// in one round trip; Commit applies a change atomically or refuses it with
// *org.PreconditionError when what it was computed from has moved.
type Store interface {
	Load(ctx context.Context, q org.Query) (*org.Snapshot, error)
	Commit(ctx context.Context, c org.Change) error
}

// Config wires a Service.
type Config struct {
	Store     Store
	PublicURL string // base of invitation links, e.g. https://usher.example.com
	Logger    *slog.Logger
	Clock     func() time.Time // default time.Now
	Rand      io.Reader        // default crypto/rand; tests make it deterministic
	// NextTime reads cron schedules (bot/scheduler.Next): the first time
	// after `after` that spec fires in zone tz. Without it reminders are not
	// aligned to reminder-schedule and schedule settings cannot be changed.
	NextTime func(spec, tz string, after time.Time) (time.Time, error)
	// Sweep tunes the scheduled work (remind.go); the zero value is fine.
	Sweep SweepConfig
	// Deployment reaches the deployment's other organizations (deployment.go):
	// tagged invitation links, the bell across organizations. Nil: this
	// organization alone.
	Deployment Deployment
	// Exports stores export links (export.go); nil when usher's web is not
	// served at a public address, and exports are then refused in chat.
	Exports ExportLinks
	// Progress keeps bulk invitations' progress records (progress.go);
	// default: Store, when it does.
	Progress ProgressStore
	// BulkBatch is how many people one commit of a bulk invitation writes
	// (invite_bulk.go); 0: 100.
	BulkBatch int
}

// Service runs commands.
type Service struct {
	store     Store
	publicURL string
	log       *slog.Logger
	clock     func() time.Time
	rand      io.Reader
	registry  *command.Registry
	run       map[string]func(context.Context, *call) (Reply, error)
	sched     scheduling                   // remind.go
	views     *views                       // view.go
	deploy    Deployment                   // deployment.go; nil when alone
	reach     atomic.Pointer[Reachability] // reach.go; nil: not asked
	exports   ExportLinks                  // export.go; nil without a public web
	progress  ProgressStore                // progress.go; nil: no progress messages
	bulkBatch int                          // invite_bulk.go
}

// Request is one command from one person.
type Request struct {
	Actor org.Identity // Email must be verified by the platform and normalized
	Text  string       // the command text, without the platform's "/usher"
	// Outbox, when set, lets a command queue its messages in its own atomic
	// commit instead of leaving them in Reply.Deliveries for the adapter to
	// queue after it.
	Outbox Outbox
}

// Outbox encodes deliveries as the adapter's outbox messages, for a store
// that writes them into the outbox the adapter's workers read.
type Outbox interface {
	Encode([]Delivery) ([]org.QueuedMessage, error)
}

// call is one command being run.
type call struct {
	req   Request
	cmd   command.Command
	email string
	now   time.Time
	// attempt counts runs of this command: the second one follows a commit
	// refused because what it was decided on moved.
	attempt int
	// provider is the identity provider making this change over SCIM
	// (provision.go); nil for people.
	provider *Provider
}

// who is the actor's address as people see it (their display spelling) when
// snap read them, else their identity.
func (c *call) who(snap *org.Snapshot) string {
	if c.provider != nil {
		return c.provider.Display()
	}
	if snap != nil && snap.Actor != nil && snap.Actor.Email == c.email {
		return snap.Actor.Display()
	}
	return c.email
}

// identity is the acting chat identity's key (org.Identity.Key), or "" when
// the command comes from no chat user (the shell, the web pages).
func (c *call) identity() string {
	if c.req.Actor.UserID == "" {
		return ""
	}
	return c.req.Actor.Key()
}

// New checks cfg and builds a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("handlers: no store")
	}
	s := &Service{
		store:     cfg.Store,
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		log:       cfg.Logger,
		clock:     cfg.Clock,
		rand:      cfg.Rand,
		deploy:    cfg.Deployment,
		exports:   cfg.Exports,
		progress:  cfg.Progress,
		bulkBatch: cmp.Or(cfg.BulkBatch, defaultBulkBatch),
	}
	if p, ok := cfg.Store.(ProgressStore); ok && s.progress == nil {
		s.progress = p
	}
	if s.deploy != nil {
		s.store = deploymentStore{Store: cfg.Store, d: s.deploy}
	}
	if s.publicURL == "" {
		s.publicURL = "http://localhost:3000"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	s.sched = newScheduling(cfg)
	s.views = newViews()
	specs, run := s.verbs()
	reg, err := command.NewRegistry(specs...)
	if err != nil {
		return nil, fmt.Errorf("handlers: %w", err)
	}
	s.registry, s.run = reg, run
	return s, nil
}

// Registry exposes the command language, e.g. for a Slack manifest's hints.
func (s *Service) Registry() *command.Registry { return s.registry }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.clock().UTC() }

// maxAttempts bounds how often a command re-reads after losing a race; a
// second read sees the winner's state and answers from it.
const maxAttempts = 3

var errBusy = org.Errorf(org.CodeConflict, "Others changed the same thing at the same moment, so nothing was changed.").
	WithHint("Please try again.")

// Handle runs one command and always returns a reply to show.
func (s *Service) Handle(ctx context.Context, req Request) Reply {
	email, err := org.NormalizeEmail(req.Actor.Email)
	if err != nil {
		return s.refuse(org.Errorf(org.CodeForbidden, "usher can't tell who you are: your chat account has no verified email address.").
			WithHint("Ask your chat workspace's admin to add one, then try again."))
	}
	cmd, err := s.registry.Parse(req.Text)
	if err != nil {
		return s.fail(ctx, req, "", err)
	}
	c := &call{req: req, cmd: cmd, email: email}
	for attempt := 1; ; attempt++ {
		c.now, c.attempt = s.Now(), attempt
		reply, err := s.run[cmd.Verb](ctx, c)
		var stale *org.PreconditionError
		if errors.As(err, &stale) {
			if attempt < maxAttempts {
				s.log.DebugContext(ctx, "state moved, deciding again", "verb", cmd.Verb, "what", stale.What, "attempt", attempt)
				continue
			}
			err = errBusy
		}
		if err != nil {
			r := s.fail(ctx, req, cmd.Verb, err)
			// A refused click still replaces its message, so stale buttons go,
			// and what the refusal set in motion (an inviter told that their
			// invitation expired) is still delivered.
			r.Replace, r.Deliveries = reply.Replace, reply.Deliveries
			if org.ErrorCode(err) == org.CodeNotMember {
				r = s.offerOpen(ctx, c, r) // not_member.go
			}
			return r
		}
		return reply
	}
}

// fail turns an error into a reply: user-facing errors are shown as they are,
// parse errors with the usage line, anything else as a reference to the log.
func (s *Service) fail(ctx context.Context, req Request, verb string, err error) Reply {
	var perr *command.Error
	if errors.As(err, &perr) {
		text := upperFirst(perr.Problem) + "."
		if perr.Suggestion != "" {
			text += " " + upperFirst(perr.Suggestion)
		}
		r := Reply{Code: org.CodeInvalid, Message: Message{Tone: ToneError, Text: text}}
		if perr.Usage != "" {
			r.Footer = "Usage: " + perr.Usage
		} else {
			r.Footer = "Type help to see every command."
		}
		return r
	}
	var uerr *org.Error
	if errors.As(err, &uerr) {
		if uerr.Code == org.CodeUnavailable {
			s.log.WarnContext(ctx, "storage unavailable", "verb", verb, "err", err, "maybe_applied", errors.Is(err, org.ErrMaybeApplied))
		}
		if errors.Is(err, org.ErrMaybeApplied) {
			uerr = uerr.WithHint("%s", checkHint(req.Actor.Platform, verb))
		}
		r := s.refuse(uerr)
		if spec, ok := s.registry.Lookup(verb); ok && uerr.Code == org.CodeInvalid {
			r.Footer = "Usage: " + spec.Usage
		}
		return r
	}
	ref, _ := secret.NewID(s.rand)
	s.log.ErrorContext(ctx, "command failed", "ref", ref, "verb", verb, "actor", req.Actor.Email, "err", err)
	return Reply{
		Code: "internal",
		Ref:  ref,
		Message: Message{Tone: ToneError, Text: fmt.Sprintf("Something went wrong on usher's side, and nothing was changed (ref %s).", ref),
			Footer: "Try again; if it keeps failing, give the ref to whoever runs usher."},
	}
}

// checkHint is where to look, after a change that may or may not have gone
// through (org.ErrMaybeApplied), to see whether it did: the list that shows
// the verb's outcome (on the web, the page itself).
func checkHint(platform, verb string) string {
	if platform == "web" {
		return "Reload the page to see whether it did before trying again."
	}
	look := "members"
	switch verb {
	case "invite", "link", "resend", "revoke", "approve", "deny", "requests":
		look = "invitations"
	case "accept", "decline":
		look = "invitations --mine"
	case "workspace create", "workspace rename", "workspace delete":
		look = "workspaces"
	case "settings":
		look = "settings"
	}
	return "Check with: " + look + " before trying again."
}

func (s *Service) refuse(e *org.Error) Reply {
	text := e.Message
	if e.Hint != "" {
		text += "\n" + e.Hint
	}
	return Reply{Code: e.Code, Message: Message{Tone: ToneError, Text: text}}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// load reads q with the actor always included.
func (s *Service) load(ctx context.Context, c *call, q org.Query) (*org.Snapshot, error) {
	q.Actor = c.email
	snap, err := s.store.Load(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.cmd.Verb, err)
	}
	return snap, nil
}

// commit applies ch, stamping time and linking the actor's chat identity.
func (s *Service) commit(ctx context.Context, c *call, snap *org.Snapshot, ch org.Change) error {
	ch.Now = c.now
	if snap != nil {
		s.planReminders(c.now, snap.Settings, &ch) // remind.go
	}
	if snap != nil && snap.Actor != nil {
		ch.Actor, ch.ActorVersion = snap.Actor.Email, snap.Actor.Version
	}
	if id := c.identity(); id != "" && snap != nil && snap.Actor != nil && snap.IdentityUser != c.email {
		ch.Links = append(ch.Links, org.IdentityLink{Identity: id, Email: c.email})
	}
	for i := range ch.Audit {
		if ch.Audit[i].At.IsZero() {
			ch.Audit[i].At = c.now
		}
		if ch.Audit[i].Actor == "" {
			ch.Audit[i].Actor = c.email
			ch.Audit[i].Via = c.req.Actor.String()
		}
	}
	if err := s.store.Commit(ctx, ch); err != nil {
		return fmt.Errorf("%s: %w", c.cmd.Verb, err)
	}
	return nil
}

// commitDelivering applies ch together with the messages ds when the adapter
// can encode them for its outbox (Request.Outbox): the change and what it
// tells people are stored in one step, and one round trip. It returns the
// deliveries left for the adapter to queue after the reply: all of them
// without an encoder, none with one.
func (s *Service) commitDelivering(ctx context.Context, c *call, snap *org.Snapshot, ch org.Change, ds []Delivery) ([]Delivery, error) {
	if c.req.Outbox != nil && len(ds) > 0 {
		msgs, err := c.req.Outbox.Encode(ds)
		if err != nil {
			return nil, fmt.Errorf("%s: encode messages: %w", c.cmd.Verb, err)
		}
		ch.Messages = append(ch.Messages, msgs...)
		ds = nil
	}
	return ds, s.commit(ctx, c, snap, ch)
}

// link is an invitation's URL for a token.
// With a Deployment it carries the organization's tag, so that the web
// pages find the organization without the link naming it.
func (s *Service) link(t secret.Token) string {
	if s.deploy != nil {
		return s.publicURL + "/invitations/" + s.deploy.LinkTag() + linkSep + string(t)
	}
	return s.publicURL + "/invitations/" + string(t)
}

// target reads a command argument that must be an email.
func target(arg string) (string, error) { return org.NormalizeEmail(arg) }

// confirmed reports whether the command carries the confirmation its button adds.
func (c *call) confirmed() bool { return c.cmd.Has("confirm") }

// quote makes an argument safe to re-parse.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Package deliver is usher's one delivery protocol: for each message the use
// cases have for a person (handlers.Delivery) it picks the chat platform of
// the organization that knows them (Slack or Teams first, by the setting
// preferred-platform, then the others), posts it there, records where an
// invitation went, and tells the sender once (OnDelivered), or, when no
// platform knows the person, tells the sender instead (OnUnreachable, which
// may carry the link to forward).
//
// The platforms (bot/slack, bot/teams, bot/shell) only find, post and update;
// they implement Platform, which this package owns. In `usher serve`
// deliveries go through the durable outbox (Router.Deliver, Router.Outbox,
// then Router.Send in the worker); the shell delivers at once (no Queue).
package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// JobPlatform is the outbox platform of the router's jobs.
const JobPlatform = "deliver"

// Platform is one chat platform a message for a person can go through.
type Platform interface {
	// Name is the platform's name, as org.Identity.Platform and the
	// preferred-platform setting spell it ("slack", "teams", "shell").
	Name() string
	// Find looks for the person with email in organization orgID. ok is
	// false when this platform does not know them or cannot write to them
	// (not in this Slack, never installed the Teams app, blocks the bot).
	// hint is what the message's origin knows of them here, when it does.
	Find(ctx context.Context, orgID org.ID, email string, hint Hint) (r Recipient, ok bool, err error)
	// Post sends a message privately to r. When p.Attempt > 0 it may have
	// gone already (a retry, a job taken over from a crashed worker): a
	// platform that can look for p.Key first should. An error wrapping
	// ErrUnreachable says the person cannot get it here after all.
	Post(ctx context.Context, r Recipient, p Post) (Posted, error)
	// Update replaces a message posted before (buttons gone, outcome shown).
	Update(ctx context.Context, at Posted, m handlers.Message) error
}

// Prefetcher is what a platform may offer to do, for a whole claim of
// jobs at once (outbox.Worker.Prepare), the per-message work of its Find
// and Post that costs a round trip each (a Slack directory look-up, a rate
// slot): one round trip for the batch. It stashes what it found in the
// batch (outbox.BatchOf); its Find and Post pick it up, and do the work
// themselves for what is not there.
type Prefetcher interface {
	Prefetch(ctx context.Context, orgID org.ID, wants []Want)
}

// Want is one message of a batch a Prefetcher is asked about: to Email, or
// to the user Hint names on this platform.
type Want struct {
	Key   string
	Email string
	Hint  Hint
}

// ErrUnreachable is what Post wraps when the person turned out not to be
// reachable on the platform (a Slack user_not_found, a Teams 403
// MessageWritesBlocked): the router then tries the next platform.
var ErrUnreachable = errors.New("recipient unreachable on this platform")

// Hint is what a message's origin knows of a recipient on one platform: the
// sender of a command typed in Slack is that Slack user, and the answer may
// go where they typed (ReplyURL, a Slack response_url).
type Hint struct {
	Platform string
	UserID   string
	ReplyURL string
	// Workspace is where on the platform UserID is (a Slack team id, for a
	// deployment serving several workspaces); "" for the only one.
	Workspace string
}

// Recipient is a person found on a platform; the platform fills what it
// needs to post (its user id, a reply URL).
type Recipient struct {
	Email    string
	UserID   string
	ReplyURL string
	// Workspace is where the platform found them (a Slack team id): the
	// post uses that workspace's credentials.
	Workspace string
	// Org is the organization the recipient was found for (its rate
	// budgets and directory are keyed by it).
	Org org.ID
}

// Post is one message to send.
type Post struct {
	Key     string // unique per message: a platform may tag the post with it to detect a repeat
	Attempt int
	Kind    handlers.DeliveryKind
	Message handlers.Message
}

// Posted is where a message went.
type Posted struct {
	Platform string
	// Where is what an invitation's delivery record says ("slack direct message").
	Where   string
	Channel string // the conversation
	ID      string // the message in it
	UserID  string // the recipient on the platform
	// Workspace is the Recipient's, for updating the post later.
	Workspace string
	// Org is the Recipient's.
	Org org.ID `json:",omitempty"`
}

// Origin is who caused a delivery and where: the acting chat identity of the
// command, with where its answer was shown (ReplyURL). A notice to the sender
// goes back there first. The zero value is "no chat origin" (the scheduler,
// the web pages).
type Origin struct {
	Platform string
	Email    string
	UserID   string
	ReplyURL string
	// Workspace is the actor's chat workspace (org.Identity.Team).
	Workspace string
}

// OriginOf is the origin of a command by actor.
func OriginOf(actor org.Identity, replyURL string) Origin {
	return Origin{Platform: actor.Platform, Email: actor.Email, UserID: actor.UserID, ReplyURL: replyURL, Workspace: actor.Team}
}

// Service is what the router needs of the use cases.
type Service interface {
	RecordDelivery(ctx context.Context, invitationID, where string) error
	// PreferredPlatform is the organization's preferred-platform setting.
	PreferredPlatform(ctx context.Context) (string, error)
}

// Queue is the part of the durable outbox the router adds jobs to.
type Queue interface {
	Add(ctx context.Context, j outbox.Job) (string, error)
}

// Marks remember, across retries and workers, that a message's sender was
// told (storage.DeliveryMarks).
type Marks interface {
	Marked(ctx context.Context, id string) (bool, error)
	Mark(ctx context.Context, id string, ttl time.Duration) error
}

// Config wires a Router.
type Config struct {
	// Org is the organization delivered for.
	Org org.ID
	// Platforms in their default order; the preferred one goes first.
	Platforms []Platform
	// Fallback are tried, in this order, after every one of Platforms
	// whatever preferred-platform says (email: a person not in chat yet).
	// They alone carry DeliverResetLink.
	Fallback []Platform
	Service  Service
	// Queue, when set, makes Deliver queue jobs for Send; without it Deliver
	// sends at once (the shell).
	Queue Queue
	// Marks are required with a Queue.
	Marks Marks
	// PlatformsPace says that every platform paces its own conversations
	// (Slack's rate budgets, shared by every replica): the outbox then does
	// not pace the router's jobs per recipient too, which would cost a
	// second script call per delivery and hold the notices to one sender
	// of a bulk invite to one a second even when they go nowhere.
	PlatformsPace bool
	Log           *slog.Logger
	// Progress keeps bulk invitations' progress messages (progress.go);
	// default: Service, when it does. ProgressEvery is how often one is
	// edited at most (0: 3 s).
	Progress      Progress
	ProgressEvery time.Duration
}

// Router is the delivery protocol.
type Router struct {
	cfg Config
	log *slog.Logger
	up  *updater // nil: no progress messages
}

// New checks cfg and builds a Router.
func New(cfg Config) (*Router, error) {
	var missing []string
	if cfg.Service == nil {
		missing = append(missing, "service")
	}
	if cfg.Queue != nil && cfg.Marks == nil {
		missing = append(missing, "marks (required with a queue)")
	}
	seen := map[string]bool{}
	for _, p := range slices.Concat(cfg.Platforms, cfg.Fallback) {
		if seen[p.Name()] {
			return nil, fmt.Errorf("deliver: platform %q given twice", p.Name())
		}
		seen[p.Name()] = true
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("deliver: missing %s", strings.Join(missing, ", "))
	}
	r := &Router{cfg: cfg, log: cfg.Log}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	p := cfg.Progress
	if sp, ok := cfg.Service.(Progress); ok && p == nil {
		p = sp
	}
	if p != nil {
		r.up = newUpdater(r, p, cfg.ProgressEvery, cfg.Queue == nil)
	}
	return r, nil
}

// Platforms names the platforms in their default order, the fallbacks last.
func (r *Router) Platforms() []string {
	var out []string
	for _, p := range slices.Concat(r.cfg.Platforms, r.cfg.Fallback) {
		out = append(out, p.Name())
	}
	return out
}

// Deliver hands deliveries caused by from to the platforms: queued for the
// outbox worker, or (without a queue) sent at once.
func (r *Router) Deliver(ctx context.Context, ds []handlers.Delivery, from Origin) error {
	var errs []error
	for _, d := range ds {
		j := NewJob(d, from)
		if r.cfg.Queue == nil {
			if err := r.Resume(ctx, 0, j); err != nil {
				errs = append(errs, fmt.Errorf("deliver %s message: %w", d.Kind, err))
			}
			continue
		}
		if err := r.add(ctx, j); err != nil {
			errs = append(errs, fmt.Errorf("queue %s message: %w", d.Kind, err))
		}
	}
	return errors.Join(errs...)
}

// Outbox is the encoder a command uses to queue its messages in its own
// atomic commit (handlers.Request.Outbox), caused by from.
func (r *Router) Outbox(from Origin) handlers.Outbox { return commitOutbox{from, r} }

type commitOutbox struct {
	from Origin
	r    *Router
}

// paceChannel is the outbox pacing key of j: none when the platforms pace.
func (r *Router) paceChannel(j Job) string {
	if r.cfg.PlatformsPace {
		return ""
	}
	return j.PaceChannel()
}

func (o commitOutbox) Encode(ds []handlers.Delivery) ([]org.QueuedMessage, error) {
	out := make([]org.QueuedMessage, 0, len(ds))
	for _, d := range ds {
		j := NewJob(d, o.from)
		raw, err := j.Encode()
		if err != nil {
			return nil, fmt.Errorf("encode %s message: %w", d.Kind, err)
		}
		out = append(out, org.QueuedMessage{Platform: JobPlatform, Channel: o.r.paceChannel(j), Payload: raw})
	}
	return out, nil
}

func (r *Router) add(ctx context.Context, j Job) error {
	raw, err := j.Encode()
	if err != nil {
		return err
	}
	_, err = r.cfg.Queue.Add(ctx, outbox.Job{Platform: JobPlatform, Channel: r.paceChannel(j), Payload: raw})
	return err
}

// Send is the outbox sender of the router's jobs.
func (r *Router) Send(ctx context.Context, oj outbox.Job) error {
	j, ok := r.prepared(ctx, oj.ID)
	if !ok {
		var err error
		if j, err = DecodeJob(oj.Payload); err != nil {
			return &outbox.Permanent{Err: fmt.Errorf("deliver job %s: %w", oj.ID, err)}
		}
	}
	return r.Resume(WithQueued(ctx), oj.Attempt, j)
}

// preparedJob is a job Prepare decoded, in the batch's stash.
type preparedJob struct {
	r  *Router
	id string
}

func (r *Router) prepared(ctx context.Context, id string) (Job, bool) {
	v, ok := outbox.BatchOf(ctx).Stashed(preparedJob{r, id})
	if !ok {
		return Job{}, false
	}
	return v.(Job), true
}

// Prepare is the outbox worker's look at a claim before it is sent: each
// platform that can (Prefetcher) finds the recipients it is the first to
// try, and takes their rate slots, in one round trip for them all. First
// attempts only: a retry looks for its earlier post first, call by call.
func (r *Router) Prepare(ctx context.Context, jobs []outbox.Job) {
	b := outbox.BatchOf(ctx)
	if b == nil {
		return
	}
	order, err := r.order(ctx, "")
	if err != nil || len(order) == 0 {
		return
	}
	wants := map[Platform][]Want{}
	for _, oj := range jobs {
		if oj.Platform != JobPlatform {
			continue
		}
		j, err := DecodeJob(oj.Payload)
		if err != nil {
			continue // Send says so
		}
		b.Stash(preparedJob{r, oj.ID}, j)
		if oj.Attempt > 0 || j.Delivery.Kind == handlers.DeliverResetLink {
			continue
		}
		first := order[0]
		for _, p := range order {
			if p.Name() == j.Hint.Platform {
				first = p
			}
		}
		w := Want{Key: j.Key, Email: j.Delivery.To}
		if j.Hint.Platform == first.Name() {
			w.Hint = j.Hint
		}
		wants[first] = append(wants[first], w)
	}
	for p, ws := range wants {
		if pf, ok := p.(Prefetcher); ok {
			pf.Prefetch(ctx, r.cfg.Org, ws)
		}
	}
}

type queuedKey struct{}

// WithQueued marks ctx as the sending of a queued job: a platform may then
// answer *outbox.RetryAfter (send me later) where a person waiting for an
// answer (Reachable, the shell) must get one now.
func WithQueued(ctx context.Context) context.Context {
	return context.WithValue(ctx, queuedKey{}, true)
}

// Queued reports whether ctx is the sending of a queued job (WithQueued).
func Queued(ctx context.Context) bool { v, _ := ctx.Value(queuedKey{}).(bool); return v }

// Resume runs the protocol for one job: find the person on the platforms in
// order, post, record, tell the sender. attempt > 0 says it may have run
// before. Adapters hand their own older payloads here (decoded), so that a
// deploy does not strand jobs queued by the previous version.
func (r *Router) Resume(ctx context.Context, attempt int, j Job) error {
	d := j.Delivery
	log := r.log.With("key", j.Key, "kind", string(d.Kind), "invitation", d.InvitationID)
	if attempt > 0 && r.cfg.Marks != nil {
		// Settled before the job came back (its ack was lost, or it was
		// taken over from a crashed worker): posted, recorded, the sender
		// told. Not even posted again, on a platform that cannot look for
		// its key (Teams).
		if done, err := r.cfg.Marks.Marked(ctx, j.Key+":told"); err != nil {
			return fmt.Errorf("read told mark: %w", err)
		} else if done {
			log.InfoContext(ctx, "deliver: already settled")
			return nil
		}
	}
	order, err := r.order(ctx, j.Hint.Platform)
	if err != nil {
		return err
	}
	if d.Kind == handlers.DeliverResetLink {
		// It proves the person owns the address: the address alone gets it.
		order = r.cfg.Fallback
		if len(order) == 0 {
			log.WarnContext(ctx, "deliver: a reset link goes by email only, and email is not configured (SMTP_URL): not sent")
		}
	} else {
		order = slices.Concat(order, r.cfg.Fallback)
	}
	for _, p := range order {
		hint := Hint{}
		if j.Hint.Platform == p.Name() {
			hint = j.Hint
		}
		rc, ok, err := p.Find(ctx, r.cfg.Org, d.To, hint)
		if err != nil {
			return fmt.Errorf("%s: find recipient: %w", p.Name(), err)
		}
		if !ok {
			continue
		}
		posted, err := p.Post(ctx, rc, Post{Key: j.Key, Attempt: attempt, Kind: d.Kind, Message: d.Message})
		if errors.Is(err, ErrUnreachable) {
			log.InfoContext(ctx, "deliver: recipient unreachable; trying the next platform", "platform", p.Name(), "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: post: %w", p.Name(), err)
		}
		log.InfoContext(ctx, "deliver: delivered", "platform", p.Name())
		if d.ProgressAnchor && d.Progress != "" && r.up != nil {
			r.up.anchored(ctx, d.Progress, posted)
		}
		fallback := slices.Contains(r.cfg.Fallback, p)
		tell := d.OnDelivered
		if d.OnEmailed != nil && fallback {
			tell = d.OnEmailed // not "in a direct message"
		}
		outcome := org.ProgressDelivered
		if fallback {
			outcome = org.ProgressEmailed
		}
		return r.settle(ctx, attempt, j, posted.Where, tell, outcome)
	}
	log.InfoContext(ctx, "deliver: recipient on no platform", "platforms", r.Platforms())
	where, tell := "", d.OnUnreachable
	switch {
	case r.counts(j):
		// One of a bulk: counted and listed in its progress record, whose
		// message offers every such link a page at a time ("Show their
		// links"), not one notice each (500 of them would be 500 messages a
		// second apart). The job still carries the notice for a replica of
		// the previous version, which sends it as before.
		tell = nil
	case d.Sender != "" && d.OnUnreachable != nil:
		where = "shown to " + d.Sender
	}
	return r.settle(ctx, attempt, j, where, tell, org.ProgressUnreachable)
}

// settle records where an invitation went and tells the sender, once: a job
// retried after this step (its sender told, the ack lost) does neither again.
// The mark is set after the notice is queued: a crash in between may repeat
// the notice, never lose it (it may carry the link to forward).
func (r *Router) settle(ctx context.Context, attempt int, j Job, where string, tell *handlers.Message, outcome org.ProgressOutcome) error {
	d := j.Delivery
	unreachable := outcome == org.ProgressUnreachable
	mark := j.Key + ":told"
	progress := r.counts(j)
	if where == "" && !progress && (tell == nil || d.Sender == "" || j.Followup) {
		// Nothing went anywhere, nothing is counted and nobody is to hear
		// of it (a notice for a sender no platform reaches): nothing to
		// record or to mark, and a retry would do the same nothing. Two
		// round trips saved per notice sent from outside chat.
		r.log.InfoContext(ctx, "deliver: recipient unreachable; nobody to tell", "kind", string(d.Kind))
		return nil
	}
	if r.cfg.Marks != nil && attempt > 0 {
		// Another worker may have settled it meanwhile (it took the job
		// over while this one was slow). A first attempt is not looked up:
		// that takes a worker outliving its lease, and then the notice may
		// repeat (never be lost) and the record is the same.
		done, err := r.cfg.Marks.Marked(ctx, mark)
		if err != nil {
			return fmt.Errorf("read told mark: %w", err)
		}
		if done {
			return nil
		}
	}
	var record *handlers.DeliveryRecord
	batch := r.batchOf(ctx)
	switch {
	case progress && batch != nil:
		// Part of a bulk invitation: recorded and counted with the rest of
		// the batch, in one step; then its progress message may be due an
		// update (flush pokes it).
		record = &handlers.DeliveryRecord{InvitationID: d.InvitationID, Where: where, Progress: d.Progress, Outcome: outcome}
	case progress:
		if err := r.up.p.RecordProgress(ctx, d.Progress, d.InvitationID, where, outcome); err != nil {
			return fmt.Errorf("record delivery of %s: %w", d.InvitationID, err)
		}
		defer r.up.poke(ctx, d.Progress)
	case where != "" && d.Kind == handlers.DeliverInvitation && d.InvitationID != "":
		record = &handlers.DeliveryRecord{InvitationID: d.InvitationID, Where: where}
		if batch == nil {
			if err := r.cfg.Service.RecordDelivery(ctx, d.InvitationID, where); err != nil {
				return fmt.Errorf("record delivery of %s: %w", d.InvitationID, err)
			}
			record = nil
		}
	}
	// What is left (the record, in a batch; the mark) is done by finish,
	// after the notice is queued.
	finish := func() {
		if batch != nil {
			batch.Defer(r, r.flush, settled{record: record, mark: mark})
			return
		}
		r.mark(ctx, mark)
	}
	if tell == nil || d.Sender == "" || j.Followup {
		if unreachable {
			r.log.InfoContext(ctx, "deliver: recipient unreachable; nobody to tell", "kind", string(d.Kind))
		}
		finish()
		return nil
	}
	kind := handlers.DeliverNotice
	if d.Kind == handlers.DeliverPassword && unreachable {
		kind = handlers.DeliverPassword // it carries the password: private chat only
	}
	next := Job{Key: j.Key + "-s", Followup: true,
		Delivery: handlers.Delivery{To: d.Sender, Kind: kind, InvitationID: d.InvitationID, Message: *tell}}
	if strings.EqualFold(j.Origin.Email, d.Sender) && j.Origin.Platform != "" {
		next.Hint = Hint{Platform: j.Origin.Platform, UserID: j.Origin.UserID, Workspace: j.Origin.Workspace}
		if d.Kind != handlers.DeliverPassword {
			// Back where they typed; what follows a password (which may
			// carry it) goes to their private chat only.
			next.Hint.ReplyURL = j.Origin.ReplyURL
		}
	}
	if r.cfg.Queue == nil {
		return r.Resume(ctx, 0, next)
	}
	if r.nobodyToTell(ctx, next) {
		r.log.InfoContext(ctx, "deliver: the sender is on no platform; nobody to tell", "kind", string(d.Kind))
		finish()
		return nil
	}
	if err := r.add(ctx, next); err != nil {
		return fmt.Errorf("queue the notice to the sender: %w", err)
	}
	finish()
	return nil
}

// counts reports whether j is an invitation of a bulk whose settling is
// counted in its progress record.
func (r *Router) counts(j Job) bool {
	d := j.Delivery
	return d.Progress != "" && r.up != nil && d.Kind == handlers.DeliverInvitation && d.InvitationID != ""
}

// Batching: in an outbox worker's batch (outbox.BatchOf), the router
// records where the batch's invitations went in one commit, and marks
// them settled in one round trip, at the batch's end, before their jobs
// are acknowledged; one message then costs two Redis round trips fewer.
// A failed flush leaves the jobs to come back (Attempt > 0): the platform
// finds its post already made and the job settles again, as after a
// crash (the notice may repeat, never be lost).

// settled is one job's deferred work.
type settled struct {
	record *handlers.DeliveryRecord
	mark   string
}

// Recorder records many deliveries at once (handlers.Service).
type Recorder interface {
	RecordDeliveries(ctx context.Context, rs []handlers.DeliveryRecord) error
}

// ManyMarks marks many deliveries at once (storage.DeliveryMarks).
type ManyMarks interface {
	MarkMany(ctx context.Context, ids []string, ttl time.Duration) error
}

// batchOf is the outbox batch the job runs in, when the router can defer
// to it (its service and marks do many at once).
func (r *Router) batchOf(ctx context.Context) *outbox.Batch {
	b := outbox.BatchOf(ctx)
	if b == nil || r.cfg.Marks == nil {
		return nil
	}
	if _, ok := r.cfg.Service.(Recorder); !ok {
		return nil
	}
	if _, ok := r.cfg.Marks.(ManyMarks); !ok {
		return nil
	}
	return b
}

func (r *Router) flush(ctx context.Context, items []any) error {
	var records []handlers.DeliveryRecord
	var marks []string
	for _, it := range items {
		s := it.(settled)
		if s.record != nil {
			records = append(records, *s.record)
		}
		marks = append(marks, s.mark)
	}
	rec := r.cfg.Service.(Recorder)
	if err := rec.RecordDeliveries(ctx, records); err != nil {
		// One commit for many can lose to a busy organization's commands
		// where one each would not: record them one by one.
		r.log.WarnContext(ctx, "deliver: recording a batch failed; one by one", "deliveries", len(records), "err", err)
		var errs []error
		for _, one := range records {
			if err := rec.RecordDeliveries(ctx, []handlers.DeliveryRecord{one}); err != nil {
				errs = append(errs, fmt.Errorf("record delivery of %s: %w", one.InvitationID, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	if r.up != nil {
		poked := map[string]bool{}
		for _, one := range records {
			if one.Progress != "" && !poked[one.Progress] {
				poked[one.Progress] = true
				r.up.poke(ctx, one.Progress)
			}
		}
	}
	if err := r.cfg.Marks.(ManyMarks).MarkMany(ctx, marks, markTTL); err != nil {
		// The deliveries are recorded; a retry settles again, tells again.
		r.log.WarnContext(ctx, "deliver: could not mark the deliveries settled", "err", err)
	}
	return nil
}

// nobodyToTell reports whether the notice next would find its sender on no
// platform (the look-up its job would make first), when nothing is known
// of them on one (a command typed in the shell or on the web): the notice
// is then not queued at all, rather than queued, claimed and dropped. Any
// doubt (an error, a directory still being built) queues it.
func (r *Router) nobodyToTell(ctx context.Context, next Job) bool {
	for _, p := range slices.Concat(r.cfg.Platforms, r.cfg.Fallback) {
		if p.Name() == next.Hint.Platform {
			return false // the origin's own platform knows them
		}
	}
	for _, p := range slices.Concat(r.cfg.Platforms, r.cfg.Fallback) {
		if _, ok, err := p.Find(ctx, r.cfg.Org, next.Delivery.To, Hint{}); err != nil || ok {
			return false
		}
	}
	return true
}

// mark remembers that a queued job is settled. Failing that, a retry may
// post or tell again; the job itself is done, so it is not failed for it.
func (r *Router) mark(ctx context.Context, mark string) {
	if r.cfg.Marks == nil {
		return
	}
	if err := r.cfg.Marks.Mark(ctx, mark, markTTL); err != nil {
		r.log.WarnContext(ctx, "deliver: could not mark the delivery settled", "err", err)
	}
}

// markTTL outlives every retry of a job (8 attempts, at most 5 minutes apart).
const markTTL = 24 * time.Hour

// order is the platforms to try: first the one the job's origin points at,
// then the organization's preferred one, then the rest in their default
// order.
func (r *Router) order(ctx context.Context, first string) ([]Platform, error) {
	if len(r.cfg.Platforms) < 2 {
		return r.cfg.Platforms, nil // nothing to choose: spare the read
	}
	preferred, err := r.cfg.Service.PreferredPlatform(ctx)
	if err != nil {
		return nil, fmt.Errorf("read preferred-platform: %w", err)
	}
	out := slices.Clone(r.cfg.Platforms)
	rank := func(p Platform) int {
		switch p.Name() {
		case first:
			return 0
		case preferred:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(out, func(a, b Platform) int { return rank(a) - rank(b) })
	return out, nil
}

// Reachable is whether some platform would take a message for email now:
// the question each delivery asks (Platform.Find), asked before a command
// changes anything (handlers.Reachability). A platform that takes anyone
// (email) makes everyone reachable.
func (r *Router) Reachable(ctx context.Context, email string) (bool, error) {
	for _, p := range slices.Concat(r.cfg.Platforms, r.cfg.Fallback) {
		if _, ok, err := p.Find(ctx, r.cfg.Org, email, Hint{}); err != nil {
			return false, fmt.Errorf("%s: find recipient: %w", p.Name(), err)
		} else if ok {
			return true, nil
		}
	}
	return false, nil
}

// Update replaces a message posted before, on the platform that posted it.
func (r *Router) Update(ctx context.Context, at Posted, m handlers.Message) error {
	for _, p := range slices.Concat(r.cfg.Platforms, r.cfg.Fallback) {
		if p.Name() == at.Platform {
			return p.Update(ctx, at, m)
		}
	}
	return fmt.Errorf("deliver: update on %q: no such platform", at.Platform)
}

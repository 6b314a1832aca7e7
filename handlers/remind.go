package handlers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Scheduled work: reminders, expiry and the admin digest. The rules of what
// is due live in the domain (org/reminder.go); this file is the use case. A
// scheduler (bot/scheduler, or the shell's :advance) calls Sweep at each run
// of the organization's schedule; Sweep claims what is due from the store's
// due queue (DueWork) and, for each item, decides and commits the transition
// with its audit entry in one atomic write guarded by the invitation's
// version, so that two replicas holding the same item (a lease that ran out
// under a slow replica) cannot both send: the loser's commit is refused, it
// reads again and finds nothing due.

// DueWork is the store's queue of scheduled work (storage.Store implements it).
type DueWork interface {
	// Claim takes up to max items due at or before now for this caller. Until
	// they are acknowledged nobody else gets them; an item not acknowledged
	// within lease (its replica died) goes back to the queue.
	Claim(ctx context.Context, now time.Time, lease time.Duration, max int) ([]org.DueItem, error)
	// Ack drops the claims on items whose work is committed.
	Ack(ctx context.Context, items []org.DueItem) error
}

// SweepConfig tunes scheduled work; the zero value is fine.
type SweepConfig struct {
	// Due is the queue of scheduled work; by default the Store, which
	// implements it when it is usher's Redis store.
	Due DueWork
	// Lease is how long a claimed item stays with this replica before others
	// may take it over (default 1 minute): longer than a batch takes to work.
	Lease time.Duration
	// Batch is how many items one claim takes (default 500).
	Batch int
}

type scheduling struct {
	next  func(spec, tz string, after time.Time) (time.Time, error)
	due   DueWork
	lease time.Duration
	batch int
	mu    *sync.Mutex // guards the Service's rand while a sweep makes links
}

func newScheduling(cfg Config) scheduling {
	sc := scheduling{next: cfg.NextTime, due: cfg.Sweep.Due, lease: cfg.Sweep.Lease, batch: cfg.Sweep.Batch, mu: new(sync.Mutex)}
	if sc.due == nil {
		sc.due, _ = cfg.Store.(DueWork)
	}
	if sc.lease <= 0 {
		sc.lease = time.Minute
	}
	if sc.batch <= 0 {
		sc.batch = 500
	}
	return sc
}

// maxSweepRounds bounds one Sweep (rounds of Batch items), so that a sweep
// ends even if work kept falling due under it.
const maxSweepRounds = 10_000

var schedulerIdentity = org.Identity{Platform: "scheduler", Email: "usher"}

// Sweep does the scheduled work due now: it reminds invitees whose reminder
// fell due, expires invitations past their expiry (telling their inviters),
// and sends the admin digest when its slot came. It returns the messages for
// people; the caller delivers them. Work is claimed from the due queue, so a
// sweep costs what is due, not what exists, and several replicas sweeping at
// once share the work, each item done once. On an error, what was claimed and
// not done returns to the queue when its lease ends.
func (s *Service) Sweep(ctx context.Context) ([]Delivery, error) {
	due := s.sched.due
	if due == nil {
		return nil, errors.New("sweep: the store has no due queue")
	}
	c := s.systemCall("sweep", schedulerIdentity)
	head, err := s.store.Load(ctx, org.Query{Digest: true})
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	set := head.Settings
	if err := s.planDigest(ctx, c, set, head.Digest); err != nil {
		return nil, fmt.Errorf("sweep: plan the digest: %w", err)
	}
	var (
		out     []Delivery
		digests []org.DueItem // done last, so that the digest counts what the run left pending
	)
	ack := func(done []org.DueItem) {
		if err := due.Ack(ctx, done); err != nil {
			// Not fatal: the claims end with their leases, and whoever takes
			// the items then finds their work committed.
			s.log.WarnContext(ctx, "sweep: acknowledge", "err", err, "items", len(done))
		}
	}
	for range maxSweepRounds {
		items, err := due.Claim(ctx, c.now, s.sched.lease, s.sched.batch)
		if err != nil {
			return out, fmt.Errorf("sweep: %w", err)
		}
		if len(items) == 0 {
			break
		}
		var rest []org.DueItem
		for _, it := range items {
			if it.Kind == org.DueDigest {
				digests = append(digests, it)
			} else {
				rest = append(rest, it)
			}
		}
		ds, done, err := s.work(ctx, c, set, rest)
		out = append(out, ds...)
		ack(done)
		if err != nil {
			return out, fmt.Errorf("sweep: %w", err)
		}
		if len(items) < s.sched.batch {
			break
		}
	}
	for _, it := range digests {
		ds, err := s.sendDigest(ctx, c)
		if err != nil {
			return out, fmt.Errorf("sweep: digest: %w", err)
		}
		out = append(out, ds...)
		ack([]org.DueItem{it})
	}
	return out, nil
}

// work does one claimed batch of invitations, read in one round trip. It
// returns the messages and the items done; an item that failed stays claimed.
func (s *Service) work(ctx context.Context, c *call, set org.Settings, items []org.DueItem) ([]Delivery, []org.DueItem, error) {
	var ids []string
	for _, it := range items {
		if it.InvitationID != "" {
			ids = append(ids, it.InvitationID)
		}
	}
	var invs map[string]*org.Invitation
	if len(ids) > 0 {
		snap, err := s.store.Load(ctx, org.Query{Invitations: ids})
		if err != nil {
			return nil, nil, err
		}
		invs = snap.Invitations
	}
	var (
		out  []Delivery
		done []org.DueItem
		errs []error
	)
	for _, it := range items {
		if it.InvitationID == "" {
			done = append(done, it) // not a kind this usher knows: drop it
			continue
		}
		ds, err := s.dueInvitation(ctx, c, set, it.InvitationID, invs[it.InvitationID])
		if err != nil {
			s.log.ErrorContext(ctx, "sweep: due item failed", "kind", it.Kind, "invitation", it.InvitationID, "err", err)
			if len(errs) < 3 {
				errs = append(errs, err)
			}
			continue
		}
		out = append(out, ds...)
		done = append(done, it)
	}
	return out, done, errors.Join(errs...)
}

// dueInvitation does what fell due for one invitation (inv as read, nil if it
// is gone), reading it again whenever another writer got there first.
func (s *Service) dueInvitation(ctx context.Context, c *call, set org.Settings, id string, inv *org.Invitation) ([]Delivery, error) {
	for attempt := 1; ; attempt++ {
		if inv == nil {
			return nil, nil
		}
		ds, err := s.doDue(ctx, c, set, inv)
		var stale *org.PreconditionError
		if !errors.As(err, &stale) || attempt >= maxAttempts {
			if err != nil {
				return nil, fmt.Errorf("invitation %s: %w", id, err)
			}
			return ds, nil
		}
		snap, err := s.store.Load(ctx, org.Query{Invitation: id})
		if err != nil {
			return nil, fmt.Errorf("invitation %s: %w", id, err)
		}
		inv = snap.Invitation
	}
}

func (s *Service) doDue(ctx context.Context, c *call, set org.Settings, inv *org.Invitation) ([]Delivery, error) {
	switch inv.DueAction(c.now, set) {
	case org.DueExpire:
		return s.expire(ctx, c, nil, inv)
	case org.DueRemind:
		return s.remind(ctx, c, set, inv)
	case org.DueStop:
		next := inv.Clone()
		next.NextRemind, next.Updated = time.Time{}, c.now
		return nil, s.commitSystem(ctx, c, org.Change{
			Invitations: []org.InvitationWrite{{Invitation: next, Expect: org.InvitationPending, Version: inv.Version}},
			Audit: []org.AuditEntry{{Actor: "usher", Via: "scheduler", Action: "invitation.reminders_stop", Target: inv.Email,
				Detail: fmt.Sprintf("id %s; %d sent; max-reminders is %d", inv.ID, inv.Reminders, set.MaxReminders)}},
		})
	}
	return nil, nil
}

// remind sends the invitee a reminder of the same invitation, with its
// Accept and Decline buttons. The link is not sent again: usher keeps only
// its hash, and the invitee has it from the first message. Only when that
// first message never went out (no delivery recorded) does the reminder make
// a new link, which then replaces the undelivered one.
func (s *Service) remind(ctx context.Context, c *call, set org.Settings, inv *org.Invitation) ([]Delivery, error) {
	next := inv.Reminded(c.now, set, s.align(set))
	w := org.InvitationWrite{Invitation: next, Expect: org.InvitationPending, Version: inv.Version}
	detail := fmt.Sprintf("id %s; reminder %d of %d", inv.ID, next.Reminders, next.RemindersInAll(set, s.align(set)))
	if next.NextRemind.IsZero() {
		detail += "; the last"
	} else {
		detail += "; next " + next.NextRemind.Format("Mon Jan 2 15:04 MST")
	}
	var token secret.Token
	if inv.Delivery == "" {
		s.sched.mu.Lock()
		t, err := secret.NewToken(s.rand)
		s.sched.mu.Unlock()
		if err != nil {
			return nil, err
		}
		token, w.NewTokenHash = t, t.Hash()
		detail += "; new link (the first was never delivered)"
	}
	err := s.commitSystem(ctx, c, org.Change{
		Invitations: []org.InvitationWrite{w},
		Audit:       []org.AuditEntry{{Actor: "usher", Via: "scheduler", Action: "invitation.remind", Target: inv.Email, Detail: detail}},
	})
	if err != nil {
		return nil, err
	}
	inviterMaySeeLink := false
	if token != "" {
		// Like a first invitation: an unreachable invitee's link goes to an
		// admin inviter; others are told to ask an admin.
		snap, err := s.store.Load(ctx, org.Query{Users: []string{inv.Inviter}})
		if err != nil {
			return nil, err
		}
		u := snap.Users[inv.Inviter]
		inviterMaySeeLink = u != nil && u.IsActiveAdmin()
	}
	return []Delivery{s.reminderDelivery(c, set, next, token, inviterMaySeeLink)}, nil
}

// reminderDelivery is the reminder to the invitee. When they cannot be
// reached in chat, their inviter is told instead, with what they can do.
func (s *Service) reminderDelivery(c *call, set org.Settings, inv *org.Invitation, token secret.Token, inviterMaySeeLink bool) Delivery {
	var d Delivery
	if token != "" {
		d = s.invitationDelivery(set, inv, token, inviterMaySeeLink, "Reminder:", inv.Inviter)
		d.OnDelivered, d.OnEmailed = nil, nil
	} else {
		d = Delivery{To: inv.Email, Kind: DeliverInvitation, InvitationID: inv.ID, Sender: inv.Inviter, Message: invitationMessage(set, inv, "", "Reminder:")}
		d.Message.Footer = "You can also open the link from the first invitation in a browser."
		d.OnUnreachable = &Message{Tone: ToneWarning,
			Text: fmt.Sprintf("%s hasn't answered your invitation to %s (sent %s, expires %s), and isn't in chat, so usher couldn't remind them. Remind them yourself, or resend or revoke it.",
				inv.Display(), set.Name, org.Ago(c.now, inv.Created), org.In(c.now, inv.Expires)),
			Buttons: pendingItem(c, inv, false).Buttons,
		}
	}
	d.Message.Title = "Reminder: you're invited to " + set.Name
	d.Message.Text = fmt.Sprintf("%s invited you to join %s as %s %s, and the invitation is still open.", inv.InviterDisplay(), set.Name, inv.Role, org.Ago(c.now, inv.Created))
	stop := "Declining stops the reminders."
	if inv.NextRemind.IsZero() {
		stop = "This is the last reminder."
	}
	d.Message.Footer = strings.TrimSpace(fmt.Sprintf("Reminder %d of %d. %s %s", inv.Reminders, inv.RemindersInAll(set, s.align(set)), stop, d.Message.Footer))
	if inv.Delivery == bulkUnreachableWhere {
		// Listed on its bulk's progress message (Show their links), where
		// the inviter finds them and fresh links: a reminder that still
		// finds nobody tells nobody, or a bulk of 500 such people would
		// send the inviter 500 notices at every reminder.
		d.OnUnreachable = nil
	}
	return d
}

// sendDigest sends the admins the digest of pending invitations, once per
// slot of digest-schedule: the commit moving the digest to its next slot is
// guarded by the slot read, so of several replicas only one sends it.
func (s *Service) sendDigest(ctx context.Context, c *call) ([]Delivery, error) {
	var out []Delivery
	err := retry(func() error {
		out = nil
		snap, err := s.store.Load(ctx, org.Query{Digest: true, Pending: true, Admins: true, Requests: true})
		if err != nil {
			return err
		}
		st := snap.Digest
		if st.Next.IsZero() || c.now.Before(st.Next) {
			return nil // sent by another replica, or turned off
		}
		set := snap.Settings
		next, sched := s.nextDigest(set, c.now)
		ch := org.Change{Digest: &org.DigestWrite{ExpectNext: st.Next, Next: next, Schedule: sched}}
		admins := slices.Sorted(slices.Values(snap.Admins))
		if (len(snap.Pending) > 0 || len(snap.Requests) > 0) && len(admins) > 0 {
			msg := digestMessage(c, set, snap.Pending, snap.PendingTotal)
			digestRequests(c, &msg, snap.Requests) // request_lifecycle.go
			for _, a := range admins {
				out = append(out, Delivery{To: a, Kind: DeliverNotice, Message: msg})
			}
			ch.Audit = []org.AuditEntry{{Actor: "usher", Via: "scheduler", Action: "digest.send", Target: "admins",
				Detail: fmt.Sprintf("%s; sent to %s", plural(snap.PendingTotal, "pending invitation", "pending invitations"), plural(len(admins), "admin", "admins"))}}
		}
		return s.commitSystem(ctx, c, ch)
	})
	var stale *org.PreconditionError
	if errors.As(err, &stale) {
		return nil, nil // another replica kept moving it: it sent this slot's digest
	}
	return out, err
}

// digestShown bounds the invitations a digest lists with buttons.
const digestShown = 10

func digestMessage(c *call, set org.Settings, pending []*org.Invitation, total int) Message {
	if len(pending) == 0 { // only requests wait (digestRequests)
		return Message{Title: "Pending invitations in " + set.Name, Text: "No invitations are waiting for an answer.",
			Footer: "Change when this digest comes with: settings digest-schedule"}
	}
	oldest := pending[0]
	m := Message{
		Title: "Pending invitations in " + set.Name,
		Text: fmt.Sprintf("%s waiting for an answer. The oldest: %s, sent by %s %s.",
			plural(total, "invitation is", "invitations are"), oldest.Display(), oldest.InviterDisplay(), org.Ago(c.now, oldest.Created)),
		Footer: "See them all with: invitations. Change when this digest comes with: settings digest-schedule",
	}
	counts := map[string]int{}
	shown := map[string]string{} // inviter identity -> as people see them
	for _, inv := range pending {
		counts[inv.Inviter]++
		if _, ok := shown[inv.Inviter]; !ok {
			shown[inv.Inviter] = inv.InviterDisplay()
		}
	}
	inviters := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	var by []string
	for _, who := range inviters {
		by = append(by, fmt.Sprintf("%s (%d)", shown[who], counts[who]))
	}
	label := "Sent by"
	if total > len(pending) {
		label = fmt.Sprintf("Sent by (the %d oldest)", len(pending))
	}
	m.Fields = []Field{{Label: label, Value: strings.Join(by, ", ")}}
	for _, inv := range pending[:min(len(pending), digestShown)] {
		m.Items = append(m.Items, pendingItem(c, inv, true))
	}
	return m
}

// planDigest puts the digest's next slot in the due queue when none is
// planned or digest-schedule (or the timezone) changed since it was.
func (s *Service) planDigest(ctx context.Context, c *call, set org.Settings, st org.DigestState) error {
	if s.sched.next == nil {
		return nil
	}
	// A slot at this very instant counts: the sweep that plans it sends it.
	next, sched := s.nextDigest(set, c.now.Add(-time.Nanosecond))
	if st.Schedule == sched && (!st.Next.IsZero() || next.IsZero()) {
		return nil
	}
	err := s.commitSystem(ctx, c, org.Change{Digest: &org.DigestWrite{ExpectNext: st.Next, Next: next, Schedule: sched}})
	var stale *org.PreconditionError
	if errors.As(err, &stale) {
		return nil // another replica planned it
	}
	return err
}

// nextDigest is the digest's first slot after `after`, and the schedule it
// is planned on (zero and "off" when digests are off or cannot be planned).
func (s *Service) nextDigest(set org.Settings, after time.Time) (time.Time, string) {
	if set.DigestSchedule == "off" || s.sched.next == nil {
		return time.Time{}, "off"
	}
	sched := set.DigestSchedule + " in " + set.Timezone
	next, err := s.sched.next(set.DigestSchedule, set.Timezone, after)
	if err != nil {
		s.log.Warn("digest-schedule cannot be read", "schedule", set.DigestSchedule, "err", err)
		return time.Time{}, sched
	}
	return next, sched
}

// NextTick is the organization's next scheduled run after `after`: the next
// run of reminder-schedule or digest-schedule, whichever comes first, read
// from the settings now (so a changed schedule applies at once).
func (s *Service) NextTick(ctx context.Context, after time.Time) (time.Time, error) {
	if s.sched.next == nil {
		return time.Time{}, errors.New("next tick: no schedule reader configured")
	}
	snap, err := s.store.Load(ctx, org.Query{})
	if err != nil {
		return time.Time{}, fmt.Errorf("next tick: %w", err)
	}
	set := snap.Settings
	next, err := s.sched.next(set.ReminderSchedule, set.Timezone, after)
	if err != nil {
		err = fmt.Errorf("next tick: reminder-schedule: %w", err)
	}
	if set.DigestSchedule != "off" {
		if d, derr := s.sched.next(set.DigestSchedule, set.Timezone, after); derr == nil && (next.IsZero() || d.Before(next)) {
			next, err = d, nil
		}
	}
	return next, err
}

// align moves a time to the next run of the reminder schedule at or after it,
// so a reminder's planned time is when it is really sent (and the pending
// list shows that). Nil without a schedule reader: reminders are then due at
// their unaligned time.
func (s *Service) align(set org.Settings) func(time.Time) time.Time {
	if s.sched.next == nil {
		return nil
	}
	return func(t time.Time) time.Time {
		n, err := s.sched.next(set.ReminderSchedule, set.Timezone, t.Add(-time.Nanosecond))
		if err != nil {
			s.log.Warn("reminder-schedule cannot be read", "schedule", set.ReminderSchedule, "err", err)
			return t
		}
		return n
	}
}

// planReminders plans the first reminder of every invitation a change makes
// pending (a new invitation, an approved request). Service.commit calls it,
// so every way an invitation becomes pending gets one.
func (s *Service) planReminders(now time.Time, set org.Settings, ch *org.Change) {
	for _, w := range ch.Invitations {
		inv := w.Invitation
		if inv.Status != org.InvitationPending || w.Expect == org.InvitationPending || !inv.NextRemind.IsZero() || inv.Reminders > 0 {
			continue
		}
		inv.NextRemind = org.NextReminder(inv, set, now, s.align(set))
	}
}

// checkSetting completes the domain's check of a changed setting with what
// needs the scheduler: a schedule's fields, and when it next runs (note, for
// the reply).
func (s *Service) checkSetting(now time.Time, set org.Settings, st org.Setting, value string) (note string, err error) {
	spec, tz, what := value, set.Timezone, "Next run"
	switch {
	case st.Schedule && value == "off":
		return "", nil
	case st.Schedule:
	case st.Key == "timezone":
		spec, tz, what = set.ReminderSchedule, value, "Next reminder run"
	default:
		return "", nil
	}
	if s.sched.next == nil {
		if st.Schedule {
			return "", org.Errorf(org.CodeConflict, "%s can't be changed here: this usher has no scheduler.", st.Key)
		}
		return "", nil
	}
	next, err := s.sched.next(spec, tz, now)
	if err != nil {
		if st.Schedule {
			return "", st.Invalid(err.Error())
		}
		return "", nil
	}
	if zone, _ := org.SplitSchedule(spec); zone != "" {
		tz = zone
	}
	return fmt.Sprintf(" %s: %s.", what, next.In(org.Location(tz)).Format("Mon Jan 2 15:04 MST")), nil
}

// reminderField shows when a pending invitation's next reminder goes out.
func reminderField(now time.Time, inv *org.Invitation) (Field, bool) {
	if inv.NextRemind.IsZero() || inv.Status != org.InvitationPending || inv.ExpiredAt(now) {
		return Field{}, false
	}
	return Field{Label: "Next reminder", Value: fmt.Sprintf("%s (%s)", org.In(now, inv.NextRemind), inv.NextRemind.UTC().Format("Mon Jan 2 15:04 MST"))}, true
}

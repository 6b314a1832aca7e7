package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// defaultBulkBatch is how many people one commit of a bulk invitation
// writes. Each batch is one call of apply.lua, which blocks Redis for
// everyone while it runs: 100 invitations with their audit entries and
// sealed outbox messages are ~1,000 writes, a few milliseconds.
const defaultBulkBatch = 100

// bulkInvite invites a long list (more than bulkOver addresses). Every
// address is decided first, on one read, with the same rules as a short
// list (domains, roles, the daily quota, approval); then the invitations
// are committed in batches, each one atomic with its audit entries and its
// messages, so that a failure leaves whole batches only. A batch refused
// because something it was decided on moved (another admin invited one of
// the same people) sends the rest back to be decided again on a fresh read.
// The answer counts what was invited, skipped and refused, grouped by why,
// with a few examples each; a progress message follows, updated in place as
// the invitations are delivered (progress.go).
func (s *Service) bulkInvite(ctx context.Context, c *call, req org.InviteSpec, list addressList) (Reply, error) {
	day := c.now.UTC().Format("20060102")
	t := newBulkTally(list)
	var (
		snap     *org.Snapshot
		decision org.InviteDecision
		progress string
		left     []Delivery // for the adapter to deliver after the reply (no outbox)
		failure  error
		todo     = req.Emails
	)
	for round := 1; len(todo) > 0; round++ {
		if round > maxAttempts {
			failure = errBusy
			t.fail(todo, nil)
			break
		}
		sub := req
		sub.Emails = todo
		var err error
		snap, err = s.load(ctx, c, org.Query{Users: todo, OpenFor: todo, Workspaces: true, Admins: true, QuotaOf: c.email, QuotaDay: day, Identity: c.identity()})
		var plan *org.InvitePlan
		if err == nil {
			sub = sub.WithAllWorkspaces(snap.Workspaces)
			plan, err = org.DecideInvite(sub, snap, c.now)
		}
		if err == nil && plan.OverLimit != nil {
			err = plan.OverLimit
		}
		if err != nil {
			if round == 1 {
				return Reply{}, err // refused as a whole: nothing was done
			}
			failure = err
			t.fail(todo, err)
			break
		}
		decision = plan.Decision
		if decision == org.InviteSend && progress == "" {
			if progress, err = secret.NewID(s.rand); err != nil {
				return Reply{}, err
			}
		}
		var ready []org.InviteFor
		for _, f := range plan.For {
			if f.Outcome == org.InviteNew || f.Outcome == org.InviteUpdated {
				ready = append(ready, f)
			} else {
				t.skip(f)
			}
		}
		todo = nil
		for i := 0; i < len(ready); i += s.bulkBatch {
			part := ready[i:min(i+s.bulkBatch, len(ready))]
			ds, err := s.commitBulkBatch(ctx, c, sub, snap, plan, part, day, progress)
			var moved *org.PreconditionError
			if errors.As(err, &moved) {
				s.log.DebugContext(ctx, "bulk invite: state moved, deciding the rest again", "what", moved.What, "left", len(ready)-i)
				for _, f := range ready[i:] {
					todo = append(todo, f.Email)
				}
				break
			}
			if err != nil {
				failure = err
				t.fail(emailsOf(ready[i:]), err)
				break
			}
			t.done(part, decision)
			left = append(left, ds...)
		}
		if failure != nil {
			break
		}
	}
	r := t.reply(decision, failure)
	switch {
	case progress == "" || t.invited == 0:
	case org.ErrorCode(failure) == org.CodeUnavailable:
		// Another step would wait out the same outage, past what a chat
		// platform waits for the answer: the saved batches' invitations
		// go all the same, without a progress message.
		r.Footer += " No progress message follows: see where they went with: invitations"
	default:
		anchor, err := s.startProgress(ctx, c, snap, progress, t.invited)
		if err != nil {
			s.log.WarnContext(ctx, "bulk invite: the progress message could not be started", "progress", progress, "err", err)
			r.Footer = "usher couldn't start the progress message; the invitations are on their way all the same. See them with: invitations"
		} else {
			left = append(anchor, left...) // posted first: the rest count into it
		}
	}
	r.Deliveries = left
	return r, nil
}

// commitBulkBatch commits one batch of a bulk invitation, decided by plan:
// its invitations, their audit entries, its share of the daily quota and of
// the progress record's total, and its messages, in one atomic step. It
// returns the messages left for the adapter to deliver.
func (s *Service) commitBulkBatch(ctx context.Context, c *call, req org.InviteSpec, snap *org.Snapshot, plan *org.InvitePlan, part []org.InviteFor, day, progress string) ([]Delivery, error) {
	w, err := s.writeInvites(c, snap, req, part, plan.Decision, false)
	if err != nil {
		return nil, err
	}
	ch := w.ch
	if len(w.created) > 0 {
		ch.Quota = &org.QuotaUse{Email: c.email, Day: day, N: len(w.created), Limit: plan.Limit}
	}
	ds := s.inviteDeliveries(ctx, c, snap, plan.Decision, w)
	if progress != "" {
		n := 0
		for i := range ds {
			if ds[i].Kind != DeliverInvitation || ds[i].InvitationID == "" {
				continue
			}
			// Heard through the progress message, not one notice each:
			// someone on no platform too, counted and listed there for its
			// "Show their links" (unreachable.go). OnUnreachable stays for a
			// replica of the previous version, which sends it as before.
			ds[i].Progress, ds[i].OnDelivered, ds[i].OnEmailed = progress, nil, nil
			n++
		}
		if n > 0 {
			noLinks := org.Authorize(snap.Actor, snap.Settings, org.ActShowLink) != nil
			ch.Progress = []org.ProgressWrite{{ID: progress, Sender: c.email, Add: n, NoLinks: noLinks}}
		}
	}
	ch.PinRevision, ch.Revision = true, snap.Revision
	for _, inv := range w.created {
		ch.NoUsers = append(ch.NoUsers, inv.Email)
	}
	return s.commitDelivering(ctx, c, snap, ch, ds)
}

// startProgress seals the progress record (no batch follows) and sends its
// sender the progress message, in one step; without an outbox the message
// is returned for the adapter to post.
func (s *Service) startProgress(ctx context.Context, c *call, snap *org.Snapshot, id string, total int) ([]Delivery, error) {
	d := Delivery{To: c.email, Kind: DeliverNotice, Progress: id, ProgressAnchor: true,
		Message: ProgressMessage(org.ProgressState{Total: total})}
	ch := org.Change{Progress: []org.ProgressWrite{{ID: id, Seal: true}}}
	return s.commitDelivering(ctx, c, snap, ch, []Delivery{d})
}

func emailsOf(fs []org.InviteFor) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Email
	}
	return out
}

// bulkTally counts a bulk invitation's outcomes, grouped by why, keeping a
// few examples of each.
type bulkTally struct {
	list     addressList
	invited  int // new invitations or requests, and updates
	updated  int
	groups   map[bulkGroup]*bulkExamples
	failedBy error
}

// bulkGroup is why people were skipped or refused.
type bulkGroup int

const (
	groupRepeated bulkGroup = iota
	groupMember
	groupPending
	groupRequested
	groupOpenElsewhere
	// The refusals: nobody of these got anything, and it needs doing otherwise.
	groupInvalid
	groupDomain
	groupDeactivated
	groupFailed
)

const bulkExamplesShown = 5

type bulkExamples struct {
	n        int
	examples []string
}

func newBulkTally(list addressList) *bulkTally {
	t := &bulkTally{list: list, groups: map[bulkGroup]*bulkExamples{}}
	for _, w := range list.Invalid {
		t.add(groupInvalid, w)
	}
	for _, w := range list.Repeats {
		t.add(groupRepeated, w)
	}
	return t
}

func (t *bulkTally) add(g bulkGroup, who string) {
	e := t.groups[g]
	if e == nil {
		e = &bulkExamples{}
		t.groups[g] = e
	}
	e.n++
	if len(e.examples) < bulkExamplesShown {
		e.examples = append(e.examples, truncate(who, 60))
	}
}

func (t *bulkTally) skip(f org.InviteFor) {
	switch f.Outcome {
	case org.InviteDomainNotAllowed:
		t.add(groupDomain, f.Spelling)
	case org.InviteMember:
		t.add(groupMember, f.Spelling)
	case org.InviteDeactivated:
		t.add(groupDeactivated, f.Spelling)
	case org.InviteOpenElsewhere:
		t.add(groupOpenElsewhere, f.Spelling)
	case org.InviteRequested:
		t.add(groupRequested, f.Spelling)
	default: // org.InvitePending
		t.add(groupPending, f.Spelling)
	}
}

func (t *bulkTally) done(part []org.InviteFor, _ org.InviteDecision) {
	for _, f := range part {
		t.invited++
		if f.Outcome == org.InviteUpdated {
			t.updated++
		}
	}
}

func (t *bulkTally) fail(emails []string, err error) {
	for _, e := range emails {
		t.add(groupFailed, org.Spelled(e, t.list.Spellings[e]))
	}
	if t.failedBy == nil {
		t.failedBy = err
	}
}

// count is how many a group holds.
func (t *bulkTally) count(g bulkGroup) int {
	if e := t.groups[g]; e != nil {
		return e.n
	}
	return 0
}

// reply is the answer: one line of totals, then one row per group with
// its count, why, and a few examples, so 1,000 addresses answer in a dozen
// lines (and well within Slack's 50 blocks and 3,000 characters a section).
func (t *bulkTally) reply(d org.InviteDecision, failure error) Reply {
	named := t.list.Size() + len(t.list.Repeats)
	skipped := 0
	for g := groupRepeated; g < groupInvalid; g++ {
		skipped += t.count(g)
	}
	refused := 0
	for g := groupInvalid; g <= groupFailed; g++ {
		refused += t.count(g)
	}
	verb := "Invited"
	if d == org.InviteRequest {
		verb = "Sent for approval"
	}
	var r Reply
	done := thousands(t.invited)
	if t.updated > 0 {
		// --update: a pending invitation given new terms is no new one.
		done = fmt.Sprintf("%s and updated %s", thousands(t.invited-t.updated), thousands(t.updated))
	}
	r.Text = fmt.Sprintf("%s %s of %s; %s skipped, %s refused.", verb, done, plural(named, "address", "addresses"), thousands(skipped), thousands(refused))
	r.Tone = ToneSuccess
	switch {
	case t.invited == 0 && failure != nil:
		r.Tone, r.Code = ToneError, org.ErrorCode(failure)
		if r.Code == "" {
			r.Code = "internal"
		}
	case t.invited == 0:
		r.Tone, r.Code = ToneError, org.CodeConflict
		r.Text = "No invitation was sent. " + r.Text
	case refused > 0 || failure != nil:
		r.Tone = ToneWarning
	}
	rows := []struct {
		g         bulkGroup
		one, many string
	}{
		{groupRepeated, "named more than once (invited once)", "named more than once (invited once)"},
		{groupMember, "already a member", "already members"},
		{groupPending, "already has a pending invitation, left as it is", "already have a pending invitation, left as it is"},
		{groupRequested, "already has a request waiting for an admin", "already have a request waiting for an admin"},
		{groupOpenElsewhere, "already has an open invitation from someone else", "already have an open invitation from someone else"},
		{groupInvalid, "not an email address", "not email addresses"},
		{groupDomain, "in a domain that is not allowed (settings allowed-domains)", "in a domain that is not allowed (settings allowed-domains)"},
		{groupDeactivated, "has a deactivated account: reactivate it instead (activate EMAIL)", "have deactivated accounts: reactivate them instead (activate EMAIL)"},
		{groupFailed, "not invited: " + failureWhy(failure), "not invited: " + failureWhy(failure)},
	}
	for _, row := range rows {
		e := t.groups[row.g]
		if e == nil {
			continue
		}
		ex := strings.Join(e.examples, ", ")
		if e.n > len(e.examples) {
			ex += fmt.Sprintf(" and %s more", thousands(e.n-len(e.examples)))
		}
		what := row.many
		if e.n == 1 {
			what = row.one
		}
		r.Items = append(r.Items, Item{Text: fmt.Sprintf("%s %s: %s", thousands(e.n), what, ex)})
	}
	if t.count(groupPending) > 0 {
		r.Items = append(r.Items, Item{Text: "A pending invitation is sent again with: resend EMAIL; invite EMAIL --update changes its role or workspaces."})
	}
	switch {
	case failure != nil && t.invited > 0:
		r.Footer = fmt.Sprintf("The %s invited are saved, with nothing half-written. Run the same command again for the rest: those already invited are then skipped.", thousands(t.invited))
	case failure != nil:
		r.Footer = "Nothing was changed."
	case t.invited > 0 && d == org.InviteSend:
		r.Footer = "The invitations are being delivered; a progress message follows and is kept up to date."
	}
	return r
}

// failureWhy says, in a few words, why a batch could not be committed.
func failureWhy(err error) string {
	var uerr *org.Error
	switch {
	case err == nil:
		return "failed"
	case errors.Is(err, errBusy):
		return "others kept changing the same people at the same moment; try these again"
	case errors.Is(err, org.ErrMaybeApplied):
		return "usher lost touch with its database while saving them, so some may have been saved (check with: invitations)"
	case org.ErrorCode(err) == org.CodeUnavailable:
		return "usher can't reach its database right now"
	case errors.As(err, &uerr):
		return strings.TrimSuffix(uerr.Message, ".")
	}
	return "something went wrong on usher's side"
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

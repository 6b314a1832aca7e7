package handlers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// loadInvitation reads the invitation a command names by id or by invitee
// email (the open one), together with whatever else q asks for.
func (s *Service) loadInvitation(ctx context.Context, c *call, ref string, q org.Query) (*org.Snapshot, *org.Invitation, error) {
	ref = strings.TrimSpace(ref)
	var email string
	if org.LooksLikeInvitationID(ref) {
		ref = strings.ToLower(ref)
		q.Invitation = ref
	} else {
		e, err := target(ref)
		if err != nil {
			return nil, nil, err
		}
		email = e
		q.OpenFor = append(q.OpenFor, e)
	}
	snap, err := s.load(ctx, c, q)
	if err != nil {
		return nil, nil, err
	}
	inv := snap.Invitation
	if email != "" {
		inv = snap.Open[email]
	}
	if inv == nil {
		if email != "" {
			return snap, nil, org.Errorf(org.CodeNotFound, "%s has no pending invitation.", email).WithHint("List them with: invitations")
		}
		return snap, nil, org.Errorf(org.CodeNotFound, "There is no invitation %s.", ref).WithHint("List pending invitations with: invitations")
	}
	return snap, inv, nil
}

// invitations lists pending invitations: the org's for admins, one's own for
// others, and the ones addressed to the actor (the notification bell), a
// page at a time (InvitationsPerPage): those addressed to the actor first,
// then the pending ones newest first (by date sent: the ones people ask
// about are the recent ones), then the expired ones, newest first.
func (s *Service) invitations(ctx context.Context, c *call) (Reply, error) {
	if c.cmd.Has(unreachableFlag) {
		return s.unreachable(ctx, c) // unreachable.go
	}
	if c.cmd.Has("all") && c.cmd.Has("mine") {
		return Reply{}, org.Errorf(org.CodeInvalid, "Use --all or --mine, not both.")
	}
	p, err := readPager(c, InvitationsPerPage)
	if err != nil {
		return Reply{}, err
	}
	snap, err := s.load(ctx, c, org.Query{OpenFor: []string{c.email}})
	if err != nil {
		return Reply{}, err
	}
	actor, set := snap.Actor, snap.Settings
	if err := org.Authorize(actor, set, org.ActSeeOwnOpen); err != nil {
		return Reply{}, err
	}
	r := Reply{Message: Message{Title: "Invitations"}}
	// The bell: what is addressed to the actor here and in every other
	// organization of the deployment (bell.go).
	var rows []Item
	bell := s.bellItems(ctx, c, snap.Open[c.email], set)
	for _, it := range bell {
		if p.match(it.Text) {
			rows = append(rows, it)
		}
	}
	if actor == nil {
		if len(bell) == 0 {
			return Reply{}, org.Authorize(nil, set, org.ActListInvitations)
		}
		if !paged(&r, c, p, rows) {
			return p.pastEnd(c, r.Title, "invitation", "invitations", len(rows)), nil
		}
		if p.head(len(rows)) != "" || p.search != "" {
			r.Text = p.head(len(rows)) + plural(len(rows), "invitation", "invitations") + " for you" + p.matching() + ":"
		}
		return r, nil
	}
	if err := org.Authorize(actor, set, org.ActListInvitations); err != nil {
		return Reply{}, err
	}
	admin := actor.Role == org.RoleAdmin
	if c.cmd.Has("all") && !admin {
		return Reply{}, org.Errorf(org.CodeForbidden, "Only admins can list everyone's invitations.").WithHint("Without --all you see the ones you sent.")
	}
	q := org.Query{PendingBy: c.email, Whole: true}
	scope := "you sent"
	if admin && !c.cmd.Has("mine") {
		q = org.Query{Pending: true, Whole: true}
		scope = "in " + set.Name
	}
	list, err := s.load(ctx, c, q)
	if err != nil {
		return Reply{}, err
	}
	pending := slices.Clone(list.Pending)
	slices.SortStableFunc(pending, func(a, b *org.Invitation) int {
		return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.Email, b.Email), strings.Compare(a.ID, b.ID))
	})
	// An invitation past its expiry is expired, not pending, even before the
	// sweep marks it so: listed after the pending ones, without the buttons
	// that would only answer "has expired".
	var open, expired []Item
	for _, inv := range pending {
		if !p.match(inv.Email, inv.Display(), inv.Inviter, inv.InviterDisplay(), inv.Workspaces.Encode(), string(inv.Role), inv.ID) {
			continue
		}
		if inv.ExpiredAt(c.now) {
			expired = append(expired, expiredItem(c, inv, actor, set))
			continue
		}
		open = append(open, pendingItem(c, inv, admin))
	}
	n := len(open)
	rows = append(append(rows, open...), expired...)
	if !paged(&r, c, p, rows) {
		return p.pastEnd(c, r.Title, "invitation", "invitations", len(rows)), nil
	}
	more := ""
	if len(expired) > 0 {
		more = fmt.Sprintf(" (and %d expired)", len(expired))
	}
	if n == 0 {
		r.Text = p.head(len(rows)) + "No pending invitations " + scope + more + p.matching() + "."
		if len(r.Items) > 0 {
			r.Text = strings.TrimSuffix(r.Text, ".") + ":"
		}
	} else {
		r.Text = fmt.Sprintf("%s%s %s%s%s:", p.head(len(rows)), plural(n, "pending invitation", "pending invitations"), scope, more, p.matching())
	}
	return r, nil
}

// expiredItem lists an invitation past its expiry, with Invite again when
// the actor may send it again as it was.
func expiredItem(c *call, inv *org.Invitation, actor *org.User, set org.Settings) Item {
	it := Item{Text: fmt.Sprintf("%s as %s — sent by %s %s, expired %s", inv.Display(), describeGrant(inv.Role, inv.Workspaces), inv.InviterDisplay(), org.Ago(c.now, inv.Created), org.Ago(c.now, inv.Expires)),
		Fields: []Field{{Label: "ID", Value: inv.ID}}}
	if _, err := org.CheckInvite(actor, set, inv.Role, inv.Workspaces); err == nil {
		it.Buttons = []Button{{Label: "Invite again", Command: inviteCommand(inv.Display(), inv.Role, inv.Workspaces)}}
	}
	return it
}

func pendingItem(c *call, inv *org.Invitation, admin bool) Item {
	text := fmt.Sprintf("%s as %s — sent by %s %s, expires %s", inv.Display(), describeGrant(inv.Role, inv.Workspaces), inv.InviterDisplay(), org.Ago(c.now, inv.Created), org.In(c.now, inv.Expires))
	it := Item{Text: text, Fields: []Field{{Label: "ID", Value: inv.ID}}}
	if inv.Delivery != "" {
		it.Fields = append(it.Fields, Field{Label: "Delivered", Value: inv.Delivery})
	}
	if f, ok := reminderField(c.now, inv); ok {
		it.Fields = append(it.Fields, f)
	}
	if admin {
		it.Buttons = append(it.Buttons, Button{Label: "Show link", Command: "link " + inv.ID})
	}
	it.Buttons = append(it.Buttons,
		Button{Label: "Resend", Command: "resend " + inv.ID},
		Button{Label: "Revoke", Command: "revoke " + inv.ID + " --" + fromFlag + " " + quote(invitationState(inv)) + " --confirm", Style: StyleDanger,
			Confirm: &Confirm{Title: "Revoke invitation?", Text: fmt.Sprintf("The invitation for %s stops working at once.", inv.Display()), Yes: "Revoke", No: "Keep it"}},
	)
	return it
}

// loadManaged reads the invitation a resend or revoke names, for an actor who
// may manage it: an admin, or its inviter. Anyone else gets one answer,
// whether it is someone else's or there is none (org.NoInvitationFor).
func (s *Service) loadManaged(ctx context.Context, c *call, a org.Action) (*org.Snapshot, *org.Invitation, error) {
	snap, inv, err := s.loadInvitation(ctx, c, c.cmd.Args[0], org.Query{})
	if snap == nil {
		return nil, nil, err // the reference is malformed, or the read failed
	}
	if aerr := org.Authorize(snap.Actor, snap.Settings, a); aerr != nil {
		return nil, nil, aerr
	}
	if err != nil && snap.Actor.Role == org.RoleAdmin {
		return nil, nil, err // admins are told exactly what is missing
	}
	if err := org.CheckManageInvitation(snap.Actor, snap.Settings, a, inv, invitationRef(c.cmd.Args[0])); err != nil {
		return nil, nil, err
	}
	return snap, inv, nil
}

// invitationRef is an EMAIL|ID argument as commands name it back: the id in
// lower case, the email normalized.
func invitationRef(arg string) string {
	arg = strings.TrimSpace(arg)
	if org.LooksLikeInvitationID(arg) {
		return strings.ToLower(arg)
	}
	if e, err := target(arg); err == nil {
		return e
	}
	return arg
}

// rotate gives a pending invitation a new link secret; the old link dies.
func (s *Service) rotate(ctx context.Context, c *call, snap *org.Snapshot, inv *org.Invitation, action string) (secret.Token, error) {
	if inv.Status != org.InvitationPending {
		return "", inv.StatusError()
	}
	if inv.ExpiredAt(c.now) {
		return "", expiredError(inv)
	}
	token, err := secret.NewToken(s.rand)
	if err != nil {
		return "", err
	}
	next := inv.Clone()
	next.Updated = c.now
	err = s.commit(ctx, c, snap, org.Change{
		Invitations: []org.InvitationWrite{{Invitation: next, Expect: org.InvitationPending, Version: inv.Version, NewTokenHash: token.Hash()}},
		Audit:       []org.AuditEntry{{Action: action, Target: inv.Email, Detail: "id " + inv.ID + "; previous link revoked"}},
	})
	return token, err
}

// showLink rotates the link and shows it to an admin.
func (s *Service) showLink(ctx context.Context, c *call) (Reply, error) {
	snap, inv, err := s.loadInvitation(ctx, c, c.cmd.Args[0], org.Query{})
	if err != nil {
		return Reply{}, authorizeFirst(snap, org.ActShowLink, err)
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActShowLink); err != nil {
		return Reply{}, err
	}
	token, err := s.rotate(ctx, c, snap, inv, "invitation.link")
	if err != nil {
		return Reply{}, err
	}
	return Reply{Message: Message{
		Tone:   ToneSuccess,
		Text:   fmt.Sprintf("Invitation link for %s (the previous link no longer works):\n%s", inv.Display(), s.link(token)),
		Footer: fmt.Sprintf("It works once and expires %s. Forward it only to %s.", inv.Expires.Format("Jan 2 15:04 MST"), inv.Display()),
	}}, nil
}

// resend delivers a pending invitation again with a fresh link.
func (s *Service) resend(ctx context.Context, c *call) (Reply, error) {
	snap, inv, err := s.loadManaged(ctx, c, org.ActResend)
	if err != nil {
		return Reply{}, err
	}
	admin := snap.Actor.Role == org.RoleAdmin
	if !admin && inv.Status == org.InvitationPending && !inv.ExpiredAt(c.now) {
		// Rotating kills the link the invitee has; for someone no platform
		// reaches, the new one would be shown to nobody (a non-admin may not
		// see links). Admins are shown it (OnUnreachable), so they go on.
		if ok, err := s.reachable(ctx, inv.Email); err != nil {
			return Reply{}, err
		} else if !ok {
			return Reply{}, unreachableResend(inv)
		}
	}
	token, err := s.rotate(ctx, c, snap, inv, "invitation.resend")
	if err != nil {
		return Reply{}, err
	}
	d := s.invitationDelivery(snap.Settings, inv, token, admin, "Reminder:", c.email)
	return Reply{
		Message:    Message{Tone: ToneSuccess, Text: fmt.Sprintf("Sending the invitation to %s again, with a new link (the previous one no longer works).", inv.Display())},
		Deliveries: []Delivery{d},
	}, nil
}

// revoke withdraws a pending invitation (or request) after confirmation.
func (s *Service) revoke(ctx context.Context, c *call) (Reply, error) {
	snap, inv, err := s.loadManaged(ctx, c, org.ActRevoke)
	if err != nil {
		return Reply{}, err
	}
	if !inv.Status.Open() {
		return Reply{Replace: c.confirmed()}, inv.StatusError()
	}
	if inv.ExpiredAt(c.now) {
		return Reply{Replace: c.confirmed()}, expiredError(inv)
	}
	// The button names the invitation by id, so that a new invitation for
	// the same email is never the one a stale click revokes.
	state := invitationState(inv)
	if confirmed, was := c.confirmation(state); !confirmed {
		q := fmt.Sprintf("Revoke the invitation for %s (%s, sent by %s)? Its link stops working at once.", inv.Display(), describeGrant(inv.Role, inv.Workspaces), inv.InviterDisplay())
		return statePrompt("revoke "+inv.ID, state, was, "The invitation for "+inv.Display(), q, "Revoke", StyleDanger), nil
	}
	next := inv.Clone()
	next.Status, next.Updated = org.InvitationRevoked, c.now
	err = s.commit(ctx, c, snap, org.Change{
		Invitations: []org.InvitationWrite{{Invitation: next, Expect: inv.Status, Version: inv.Version}},
		Audit:       []org.AuditEntry{{Action: "invitation.revoke", Target: inv.Email, Before: string(inv.Status), After: string(next.Status), Detail: "id " + inv.ID}},
	})
	if err != nil {
		return Reply{}, err
	}
	r := Reply{Replace: true, Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("Revoked the invitation for %s. Its link no longer works.", inv.Display())}}
	if inv.Inviter != c.email {
		r.Deliveries = s.heard(ctx, snap, []Delivery{notice(inv.Inviter, fmt.Sprintf("%s revoked your invitation for %s.", c.who(snap), inv.Display()))})
	}
	return r, nil
}

// expiredError answers a command about an invitation past its expiry, whether
// or not the sweep has marked it expired yet.
func expiredError(inv *org.Invitation) error {
	return org.Errorf(org.CodeConflict, "The invitation for %s has expired.", inv.Display()).WithHint("Send a new one with: invite %s", inv.Display())
}

// authorizeFirst prefers a permission refusal over "not found", so that a
// person without the right cannot probe which invitations exist.
func authorizeFirst(snap *org.Snapshot, a org.Action, err error) error {
	if snap == nil {
		return err
	}
	if aerr := org.Authorize(snap.Actor, snap.Settings, a); aerr != nil {
		return aerr
	}
	return err
}

func notice(to, text string) Delivery {
	return Delivery{To: to, Kind: DeliverNotice, Message: Message{Tone: ToneInfo, Text: text}}
}

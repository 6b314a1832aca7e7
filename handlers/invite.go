package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// invite creates invitations (or requests, under anyone-can-invite approval)
// for every email that can get one, and explains each one that cannot.
func (s *Service) invite(ctx context.Context, c *call) (Reply, error) {
	emails, spellings, err := parseEmails(c.cmd.Args)
	if err != nil {
		return Reply{}, err
	}
	role := org.RoleMember
	if v := c.cmd.Flag("role"); v != "" {
		if role, err = org.ParseRole(v); err != nil {
			return Reply{}, err
		}
	}
	var grants org.Grants
	for _, w := range c.cmd.All("workspace") {
		g, err := org.ParseGrant(w)
		if err != nil {
			return Reply{}, err
		}
		if _, dup := grants.Get(g.Workspace); dup {
			return Reply{}, org.Errorf(org.CodeInvalid, "Workspace %s is named twice.", g.Workspace)
		}
		grants = append(grants, g)
	}
	grants = grants.ForRole(role)
	note, err := org.CleanLines("The note", c.cmd.Flag("note"))
	if err != nil {
		return Reply{}, err
	}
	if len([]rune(note)) > 500 {
		return Reply{}, org.Errorf(org.CodeInvalid, "The note is longer than 500 characters.")
	}

	day := c.now.UTC().Format("20060102")
	snap := s.inviteView(c, role, grants)
	remembered := snap != nil
	if !remembered {
		q := org.Query{Users: emails, OpenFor: emails, Workspaces: true, Admins: true, QuotaOf: c.email, QuotaDay: day,
			Identity: c.identity()}
		if snap, err = s.load(ctx, c, q); err != nil {
			return Reply{}, err
		}
		s.views.put(c.email, q.Identity, snap, c.now)
	}
	actor, set := snap.Actor, snap.Settings
	decision, err := org.CheckInvite(actor, set, role, grants)
	if err != nil {
		return Reply{}, err
	}
	if err := workspacesExist(snap.Workspaces, grants); err != nil {
		return Reply{}, err
	}
	force := c.cmd.Has("force")
	if force && actor.Role != org.RoleAdmin {
		return Reply{}, org.Errorf(org.CodeForbidden, "Only admins can use --force to exceed the daily invitation limit.")
	}

	var (
		ch       org.Change
		items    []Item
		created  []*org.Invitation
		tokens   = map[string]secret.Token{}
		updated  []*org.Invitation
		replaced []Delivery // inviters told that the invitation a new one replaces expired
	)
	for _, email := range emails {
		item, inv, token, update, err := s.planInvite(c, snap, email, spellings[email], role, grants, note, decision)
		if err != nil {
			return Reply{}, err
		}
		if inv != nil {
			if old := snap.Open[email]; old != nil && old.ExpiredAt(c.now) {
				// Past its expiry, not swept yet: closed in the same commit,
				// which lets the new invitation take its place in the index.
				w, a := expireWrite(c, old, "replaced by "+inv.ID)
				ch.Invitations, ch.Audit = append(ch.Invitations, w), append(ch.Audit, a)
				if old.Inviter != c.email {
					replaced = append(replaced, notice(old.Inviter, fmt.Sprintf("Your invitation for %s expired without an answer; they have been invited again.", old.Display())))
				}
			}
			created = append(created, inv)
			tokens[inv.ID] = token
			ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: inv, NewTokenHash: hashOrEmpty(token)})
			ch.Audit = append(ch.Audit, org.AuditEntry{Action: "invitation." + auditVerb(inv), Target: inv.Email, After: describeInvitation(inv), Detail: "id " + inv.ID})
		}
		if update != nil {
			updated = append(updated, update.Invitation)
			ch.Invitations = append(ch.Invitations, update.InvitationWrite)
			ch.Audit = append(ch.Audit, org.AuditEntry{Action: "invitation.update", Target: email, Before: update.Before, After: describeInvitation(update.Invitation), Detail: "id " + update.Invitation.ID})
		}
		items = append(items, item)
	}
	if remembered && len(created)+len(updated) < len(emails) {
		// Something was refused on the remembered view, which may be behind
		// (allowed-domains changed a moment ago, here or on another replica).
		// Only an acceptance may ride on the view, because its commit pins
		// what the view said; a refusal is shown only once a fresh read
		// agrees with it.
		s.views.forget(c.email)
		return Reply{}, &org.PreconditionError{What: "remembered view", Actual: "refusal"}
	}

	if len(created) > 0 {
		limit := set.InvitesPerDay
		if force {
			limit = 0
		} else if snap.Quota+len(created) > limit {
			return Reply{}, org.Errorf(org.CodeLimit, "That would be %d invitations today; the limit is %d per person per day (you have sent %d).",
				snap.Quota+len(created), limit, snap.Quota).WithHint("%s", limitHint(actor))
		}
		ch.Quota = &org.QuotaUse{Email: c.email, Day: day, N: len(created), Limit: limit}
	}
	var ds []Delivery
	for _, inv := range created {
		if decision == org.InviteRequest {
			ds = append(ds, s.requestDeliveries(snap, inv)...)
			continue
		}
		ds = append(ds, s.invitationDelivery(snap.Settings, inv, tokens[inv.ID], actor.Role == org.RoleAdmin, "", c.email))
	}
	ds = append(ds, replaced...)
	if len(ch.Invitations) > 0 {
		// Decided on what was read (or remembered): the settings and
		// workspaces as they were, and nobody invited already has an account.
		ch.PinRevision, ch.Revision = true, snap.Revision
		for _, inv := range created {
			ch.NoUsers = append(ch.NoUsers, inv.Email)
		}
		if ds, err = s.commitDelivering(ctx, c, snap, ch, ds); err != nil {
			if remembered {
				s.views.forget(c.email)
				if org.ErrorCode(err) == org.CodeLimit {
					// The quota was not read: let a fresh read explain it.
					return Reply{}, &org.PreconditionError{What: "daily quota", Actual: "full"}
				}
			}
			return Reply{}, err
		}
		if id := c.identity(); id != "" {
			s.views.linked(c.email, id)
		}
	}

	r := Reply{Message: Message{Items: items}}
	switch {
	case len(created) == 0 && len(updated) == 0:
		r.Tone, r.Text, r.Code = ToneWarning, "No invitation was sent.", org.CodeConflict
	case decision == org.InviteRequest:
		r.Tone, r.Text = ToneSuccess, fmt.Sprintf("Sent %s to the admins for approval.", plural(len(created), "invitation request", "invitation requests"))
	default:
		r.Tone, r.Text = ToneSuccess, fmt.Sprintf("Created %s.", plural(len(created)+len(updated), "invitation", "invitations"))
	}
	if len(emails) == 1 && len(items) == 1 {
		// One person: say it in one message rather than a list of one.
		r.Text, r.Fields, r.Buttons, r.Items = items[0].Text, items[0].Fields, items[0].Buttons, nil
	}
	r.Deliveries = ds
	return r, nil
}

// inviteView is the remembered view (view.go) an invitation may be decided on
// without a read, or nil. Only the plain case qualifies: an admin or a member
// sending directly, to workspaces that exist. Anything refused, or sent to the
// admins for approval, is decided and explained on a fresh read: here for the
// command as a whole, in invite for each email.
func (s *Service) inviteView(c *call, role org.Role, grants org.Grants) *org.Snapshot {
	if c.attempt > 1 {
		return nil
	}
	snap := s.views.get(c.email, c.identity(), c.now)
	if snap == nil {
		return nil
	}
	if d, err := org.CheckInvite(snap.Actor, snap.Settings, role, grants); err != nil || d != org.InviteSend {
		return nil
	}
	if workspacesExist(snap.Workspaces, grants) != nil || (c.cmd.Has("force") && snap.Actor.Role != org.RoleAdmin) {
		return nil
	}
	return snap
}

// pendingUpdate is a change to a pending invitation's role and workspaces.
type pendingUpdate = struct {
	org.InvitationWrite
	Before string
}

// planInvite decides what happens for one email (the identity), typed as
// spelling: answers name the person as typed, and a new invitation keeps that
// spelling for display.
func (s *Service) planInvite(c *call, snap *org.Snapshot, email, spelling string, role org.Role, grants org.Grants, note string, decision org.InviteDecision) (Item, *org.Invitation, secret.Token, *pendingUpdate, error) {
	set := snap.Settings
	refuse := func(format string, args ...any) (Item, *org.Invitation, secret.Token, *pendingUpdate, error) {
		return Item{Text: spelling + ": " + fmt.Sprintf(format, args...)}, nil, "", nil, nil
	}
	if !set.DomainAllowed(email) {
		return refuse("not invited: %s is not an allowed domain (allowed: %s).", org.EmailDomain(email), strings.Join(set.AllowedDomains, ", "))
	}
	if u := snap.Users[email]; u != nil {
		if u.Active() {
			return refuse("already a member (%s).", u.Role)
		}
		item := Item{Text: fmt.Sprintf("%s: has a deactivated account (%s). Reactivate it instead of inviting.", spelling, u.Role)}
		if snap.Actor.Role == org.RoleAdmin {
			item.Buttons = []Button{{Label: "Reactivate", Command: "activate " + email}}
		}
		return item, nil, "", nil, nil
	}
	// An invitation past its expiry is expired even before the sweep marks it
	// so: a new one replaces it (invite).
	if open := snap.Open[email]; open != nil && !open.ExpiredAt(c.now) {
		if org.CheckManageInvitation(snap.Actor, set, org.ActResend, open, email) != nil {
			// Someone else's: a non-admin learns that nothing was sent and
			// why, but not who invited them, when, as what, nor the id.
			return refuse("already has an open invitation from someone else; nothing was sent.")
		}
		if open.Status == org.InvitationRequested {
			return refuse("an invitation request is already waiting for an admin's approval.")
		}
		same := open.Role == role && open.Workspaces.Encode() == grants.Encode()
		if !same && c.cmd.Has("update") {
			next := open.Clone()
			next.Role, next.Workspaces, next.Updated = role, grants, c.now
			if note != "" {
				next.Note = note
			}
			u := &pendingUpdate{InvitationWrite: org.InvitationWrite{Invitation: next, Expect: org.InvitationPending, Version: open.Version}, Before: describeInvitation(open)}
			return Item{Text: fmt.Sprintf("%s: pending invitation updated to %s.", spelling, describeGrant(role, grants))}, nil, "", u, nil
		}
		item := Item{Text: fmt.Sprintf("%s: already has a pending invitation as %s, sent by %s %s.", spelling, describeGrant(open.Role, open.Workspaces), open.InviterDisplay(), org.Ago(c.now, open.Created))}
		item.Buttons = append(item.Buttons, Button{Label: "Resend", Command: "resend " + open.ID})
		if !same {
			item.Text += fmt.Sprintf(" Update it to %s?", describeGrant(role, grants))
			item.Buttons = append(item.Buttons, Button{
				Label: "Update invitation", Style: StylePrimary, Command: updateCommand(email, role, grants),
				Confirm: &Confirm{Title: "Update invitation?", Text: fmt.Sprintf("%s will be invited as %s instead.", spelling, describeGrant(role, grants)), Yes: "Update", No: "Keep it"},
			})
		}
		return item, nil, "", nil, nil
	}

	id, err := secret.NewID(s.rand)
	if err != nil {
		return Item{}, nil, "", nil, err
	}
	inv := &org.Invitation{
		ID: id, Email: email, Spelling: spelling, Role: role, Workspaces: grants, Note: note,
		Inviter: c.email, InviterSpelling: c.who(snap),
		Created: c.now, Expires: c.now.Add(set.InviteExpiry), Status: org.InvitationPending, Updated: c.now,
	}
	if decision == org.InviteRequest {
		inv.Status = org.InvitationRequested
		return Item{Text: fmt.Sprintf("%s: request to invite as %s sent to the admins.", spelling, describeGrant(role, grants))}, inv, "", nil, nil
	}
	token, err := secret.NewToken(s.rand)
	if err != nil {
		return Item{}, nil, "", nil, err
	}
	return Item{
		Text:   fmt.Sprintf("%s: invited as %s.", spelling, describeGrant(role, grants)),
		Fields: []Field{{Label: "Invitation", Value: id}, {Label: "Expires", Value: org.In(c.now, inv.Expires)}},
	}, inv, token, nil, nil
}

// expireWrite closes a pending invitation found past its expiry before the
// sweep got to it, with the audit entry the sweep would have written.
func expireWrite(c *call, inv *org.Invitation, detail string) (org.InvitationWrite, org.AuditEntry) {
	next := inv.Clone()
	next.Status, next.Updated = org.InvitationExpired, c.now
	return org.InvitationWrite{Invitation: next, Expect: org.InvitationPending, Version: inv.Version},
		org.AuditEntry{Actor: "usher", Via: "expiry", Action: "invitation.expire", Target: inv.Email, Before: "pending", After: "expired", Detail: "id " + inv.ID + "; " + detail}
}

// invitationDelivery sends an invitation to its invitee. senderMaySeeLink is
// false for non-admins resending: they are told to ask an admin instead.
func (s *Service) invitationDelivery(set org.Settings, inv *org.Invitation, token secret.Token, senderMaySeeLink bool, intro, sender string) Delivery {
	link := s.link(token)
	msg := invitationMessage(set, inv, link, intro)
	unreachable := &Message{Tone: ToneWarning, Text: fmt.Sprintf("%s isn't in chat, so usher couldn't deliver the invitation. Forward them this link (it works once and expires %s):\n%s",
		inv.Display(), inv.Expires.Format("Jan 2 15:04 MST"), link)}
	if !senderMaySeeLink {
		unreachable = &Message{Tone: ToneWarning, Text: fmt.Sprintf("%s isn't in chat, so usher couldn't deliver the invitation. Ask an admin to show the link (link %s) and forward it.", inv.Display(), inv.ID)}
	}
	return Delivery{
		To: inv.Email, Kind: DeliverInvitation, InvitationID: inv.ID, Message: msg, Sender: sender,
		OnDelivered:   &Message{Tone: ToneSuccess, Text: fmt.Sprintf("%s got the invitation in a direct message.", inv.Display())},
		OnUnreachable: unreachable,
	}
}

func invitationMessage(set org.Settings, inv *org.Invitation, link, intro string) Message {
	text := fmt.Sprintf("%s invited you to join %s as %s.", inv.InviterDisplay(), set.Name, inv.Role)
	if intro != "" {
		text = intro + " " + text
	}
	fields := []Field{{Label: "Workspaces", Value: inv.Workspaces.String()}, {Label: "Expires", Value: inv.Expires.Format("Mon Jan 2 15:04 MST")}}
	if inv.Note != "" {
		fields = append(fields, Field{Label: "Note", Value: inv.Note})
	}
	return Message{
		Title: "You're invited to " + set.Name, Text: text, Fields: fields,
		Buttons: []Button{
			{Label: "Accept", Command: "accept " + inv.ID, Style: StylePrimary},
			{Label: "Decline", Command: "decline " + inv.ID, Style: StyleDanger,
				Confirm: &Confirm{Title: "Decline the invitation?", Text: "You won't join " + set.Name + ". " + inv.InviterDisplay() + " will be told.", Yes: "Decline", No: "Go back"}},
		},
		Footer: "Or open " + link + " in a browser. The link works once.",
	}
}

// requestDeliveries asks every active admin to approve an invitation request.
func (s *Service) requestDeliveries(snap *org.Snapshot, inv *org.Invitation) []Delivery {
	var out []Delivery
	admins := slices.Sorted(slices.Values(snap.Admins))
	for _, admin := range admins {
		out = append(out, Delivery{To: admin, Kind: DeliverRequest, InvitationID: inv.ID, Message: requestMessage(inv)})
	}
	return out
}

func requestMessage(inv *org.Invitation) Message {
	return Message{
		Title: "Invitation request",
		Text:  fmt.Sprintf("%s asks to invite %s as %s.", inv.InviterDisplay(), inv.Display(), describeGrant(inv.Role, inv.Workspaces)),
		Buttons: []Button{
			{Label: "Approve", Command: "approve " + inv.ID, Style: StylePrimary},
			{Label: "Deny", Command: "deny " + inv.ID, Style: StyleDanger},
		},
	}
}

// parseEmails returns the identities named, each once, and how each was
// first spelled (Bob@x and bob@x in one command are one person, spelled Bob@x).
func parseEmails(args []string) ([]string, map[string]string, error) {
	var out []string
	spellings := map[string]string{}
	for _, a := range args {
		// People paste lists: "a@x.com, b@x.com".
		for _, part := range strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == ';' }) {
			e, sp, err := org.SpellEmail(part)
			if err != nil {
				return nil, nil, err
			}
			if !slices.Contains(out, e) {
				out = append(out, e)
				spellings[e] = sp
			}
		}
	}
	if len(out) == 0 {
		return nil, nil, org.Errorf(org.CodeInvalid, "Name at least one email address.")
	}
	if len(out) > 20 {
		return nil, nil, org.Errorf(org.CodeInvalid, "That is %d addresses; invite at most 20 at once.", len(out))
	}
	return out, spellings, nil
}

func workspacesExist(have []org.Workspace, grants org.Grants) error {
	for _, g := range grants {
		if !slices.ContainsFunc(have, func(w org.Workspace) bool { return w.Name == g.Workspace }) {
			names := make([]string, len(have))
			for i, w := range have {
				names[i] = w.Name
			}
			slices.Sort(names)
			e := org.Errorf(org.CodeNotFound, "There is no workspace %s.", g.Workspace)
			if len(names) == 0 {
				return e.WithHint("There are no workspaces yet; an admin can create one with: workspace create %s", g.Workspace)
			}
			return e.WithHint("Workspaces: %s. Create one with: workspace create %s", strings.Join(names, ", "), g.Workspace)
		}
	}
	return nil
}

// inviteCommand is the command that invites email again as role with grants.
func inviteCommand(email string, role org.Role, grants org.Grants) string {
	cmd := "invite " + quote(email) + " --role " + string(role)
	for _, g := range grants {
		cmd += " --workspace " + g.String()
	}
	return cmd
}

func updateCommand(email string, role org.Role, grants org.Grants) string {
	return inviteCommand(email, role, grants) + " --update"
}

func limitHint(actor *org.User) string {
	if actor.Role == org.RoleAdmin {
		return "Add --force to send them anyway."
	}
	return "Try again tomorrow, or ask an admin."
}

func hashOrEmpty(t secret.Token) string {
	if t == "" {
		return ""
	}
	return t.Hash()
}

func auditVerb(inv *org.Invitation) string {
	if inv.Status == org.InvitationRequested {
		return "request"
	}
	return "create"
}

func describeGrant(role org.Role, grants org.Grants) string {
	if len(grants) == 0 {
		return string(role)
	}
	return fmt.Sprintf("%s with %s", role, grants)
}

func describeInvitation(inv *org.Invitation) string {
	return fmt.Sprintf("%s %s ws=%s", inv.Status, inv.Role, inv.Workspaces.Encode())
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

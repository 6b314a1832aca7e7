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
// for every email that can get one, and explains each one that cannot. It
// parses the command (parseInvite), decides on one read (org.DecideInvite,
// a pure function), then gives the new invitations their ids and links,
// commits and answers (commitInvite).
func (s *Service) invite(ctx context.Context, c *call) (Reply, error) {
	req, list, err := parseInvite(c)
	if err != nil {
		return Reply{}, err
	}
	if list.Size() > bulkOver {
		return s.bulkInvite(ctx, c, req, list) // invite_bulk.go
	}
	day := c.now.UTC().Format("20060102")
	snap := s.inviteView(c, req)
	remembered := snap != nil
	if remembered {
		req = req.WithAllWorkspaces(snap.Workspaces)
	} else {
		q := org.Query{Users: req.Emails, OpenFor: req.Emails, Workspaces: true, Admins: true, QuotaOf: c.email, QuotaDay: day,
			Identity: c.identity()}
		if snap, err = s.load(ctx, c, q); err != nil {
			return Reply{}, err
		}
		s.views.put(c.email, q.Identity, snap, c.now)
		req = req.WithAllWorkspaces(snap.Workspaces)
	}
	plan, err := org.DecideInvite(req, snap, c.now)
	if err != nil {
		return Reply{}, err
	}
	if remembered && plan.Refuses() {
		// Something was refused on the remembered view, which may be behind
		// (allowed-domains changed a moment ago, here or on another replica).
		// Only an acceptance may ride on the view, because its commit pins
		// what the view said; a refusal is shown only once a fresh read
		// agrees with it.
		s.views.forget(c.email)
		return Reply{}, &org.PreconditionError{What: "remembered view", Actual: "refusal"}
	}
	if plan.OverLimit != nil {
		return Reply{}, plan.OverLimit
	}
	return s.commitInvite(ctx, c, req, snap, plan, day, remembered)
}

// parseInvite reads an invite command: the emails, the role (member unless
// named), the workspaces (each once, narrowed to the role) and the note.
func parseInvite(c *call) (org.InviteSpec, addressList, error) {
	list, err := parseAddressList(c.cmd.Args)
	if err != nil {
		return org.InviteSpec{}, addressList{}, err
	}
	if list.Size() <= bulkOver && list.FirstError != nil {
		// A few addresses: a typo is fixed and the command typed again.
		// A bulk list reports it with the rest (invite_bulk.go).
		return org.InviteSpec{}, addressList{}, list.FirstError
	}
	spec, err := parseInviteFlags(c, list)
	return spec, list, err
}

// parseInviteFlags reads the role, workspaces and note of an invite command
// for the addresses of list.
func parseInviteFlags(c *call, list addressList) (org.InviteSpec, error) {
	emails, spellings := list.Emails, list.Spellings
	var err error
	role := org.RoleMember
	if v := c.cmd.Flag("role"); v != "" {
		if role, err = org.ParseRole(v); err != nil {
			return org.InviteSpec{}, err
		}
	}
	var (
		grants  org.Grants
		all     bool
		allRole org.WorkspaceRole
	)
	for _, w := range c.cmd.All("workspace") {
		if name, role, hasRole := strings.Cut(strings.TrimSpace(w), ":"); strings.EqualFold(name, org.AllWorkspaces) {
			if hasRole {
				if allRole, err = org.ParseWorkspaceRole(role); err != nil {
					return org.InviteSpec{}, err
				}
			}
			all = true
			continue
		}
		g, err := org.ParseGrant(w)
		if err != nil {
			return org.InviteSpec{}, err
		}
		if _, dup := grants.Get(g.Workspace); dup {
			return org.InviteSpec{}, org.Errorf(org.CodeInvalid, "Workspace %s is named twice.", g.Workspace)
		}
		grants = append(grants, g)
	}
	if all && len(grants) > 0 {
		return org.InviteSpec{}, org.Errorf(org.CodeInvalid, "--workspace all already names every workspace; it can't be combined with %s.", grants[0].Workspace).
			WithHint("Give either --workspace all[:ROLE] or the workspaces one by one.")
	}
	note, err := org.CleanLines("The note", c.cmd.Flag("note"))
	if err != nil {
		return org.InviteSpec{}, err
	}
	if len([]rune(note)) > 500 {
		return org.InviteSpec{}, org.Errorf(org.CodeInvalid, "The note is longer than 500 characters.")
	}
	return org.InviteSpec{Emails: emails, Spellings: spellings, Role: role, Grants: grants.ForRole(role), Note: note,
		Force: c.cmd.Has("force"), Update: c.cmd.Has("update"), WorkspacesGiven: len(grants) > 0 || all, All: all, AllRole: allRole}, nil
}

// inviteView is the remembered view (view.go) an invitation may be decided on
// without a read, or nil. Only the plain case qualifies: an admin or a member
// sending directly, to workspaces that exist. Anything refused, or sent to the
// admins for approval, is decided and explained on a fresh read: here for the
// command as a whole, in invite for each email.
func (s *Service) inviteView(c *call, req org.InviteSpec) *org.Snapshot {
	if c.attempt > 1 {
		return nil
	}
	snap := s.views.get(c.email, c.identity(), c.now)
	if snap == nil {
		return nil
	}
	if d, err := org.CheckInviteSpec(req.WithAllWorkspaces(snap.Workspaces), snap); err != nil || d != org.InviteSend {
		return nil
	}
	return snap
}

// commitInvite carries plan out: the new invitations get their ids (and,
// sent directly, their links), and the change, its audit entries and the
// deliveries are committed together. Then it answers, one item per email.
func (s *Service) commitInvite(ctx context.Context, c *call, req org.InviteSpec, snap *org.Snapshot, plan *org.InvitePlan, day string, remembered bool) (Reply, error) {
	w, err := s.writeInvites(c, snap, req, plan.For, plan.Decision, true)
	if err != nil {
		return Reply{}, err
	}
	ch, items, created, updated := w.ch, w.items, w.created, w.updated
	if len(created) > 0 {
		ch.Quota = &org.QuotaUse{Email: c.email, Day: day, N: len(created), Limit: plan.Limit}
	}
	ds := s.inviteDeliveries(ctx, c, snap, plan.Decision, w)
	if len(ch.Invitations) > 0 {
		// Decided on what was read (or remembered): the settings and
		// workspaces as they were, and nobody invited already has an account.
		ch.PinRevision, ch.Revision = true, snap.Revision
		for _, inv := range created {
			ch.NoUsers = append(ch.NoUsers, inv.Email)
		}
		var err error
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
	done := len(created) + updated
	refused := len(plan.For) - done
	switch {
	case done == 0 && len(plan.For) > 1:
		r.Tone, r.Text, r.Code = ToneError, "No invitation was sent.", org.CodeConflict
	case done == 0:
		// One person: the message is their item, which often offers what to
		// do instead (Update, Resend), so it stays a warning.
		r.Tone, r.Text, r.Code = ToneWarning, "No invitation was sent.", org.CodeConflict
	case refused > 0 && plan.Decision == org.InviteRequest:
		// A success tick over a list with refusals reads as "all done"
		// (issue 14): say both numbers, in a warning.
		r.Tone, r.Text = ToneWarning, fmt.Sprintf("%d sent for approval, %d not sent.", done, refused)
	case refused > 0:
		r.Tone, r.Text = ToneWarning, fmt.Sprintf("%d invited, %d not invited.", done, refused)
	case plan.Decision == org.InviteRequest:
		r.Tone, r.Text = ToneSuccess, fmt.Sprintf("Sent %s to the admins for approval.", plural(len(created), "invitation request", "invitation requests"))
	default:
		r.Tone, r.Text = ToneSuccess, fmt.Sprintf("Created %s.", plural(done, "invitation", "invitations"))
	}
	if len(req.Emails) == 1 && len(items) == 1 {
		// One person: say it in one message rather than a list of one.
		r.Text, r.Fields, r.Buttons, r.Items = items[0].Text, items[0].Fields, items[0].Buttons, nil
	}
	r.Deliveries = ds
	return r, nil
}

// inviteWrites is what carrying out decisions writes (a change with its
// audit entries) and, for a command answered per person, says.
type inviteWrites struct {
	ch       org.Change
	items    []Item
	created  []*org.Invitation
	tokens   map[string]secret.Token
	updated  int
	replaced []Delivery // inviters told that the invitation a new one replaces expired
	updates  []org.InviteFor
}

// writeInvites carries out the decisions fs: the new invitations get their
// ids (and, sent directly, their links), updates their next version, each
// with its audit entry. With answer, each person gets an item, refusals
// explained.
func (s *Service) writeInvites(c *call, snap *org.Snapshot, req org.InviteSpec, fs []org.InviteFor, d org.InviteDecision, answer bool) (*inviteWrites, error) {
	w := &inviteWrites{tokens: map[string]secret.Token{}}
	if answer {
		w.items = make([]Item, 0, len(fs))
	}
	for _, f := range fs {
		switch f.Outcome {
		case org.InviteNew:
			inv, token, err := s.newInvitation(c, snap, req, f, d)
			if err != nil {
				return nil, err
			}
			if old := f.Replaces; old != nil {
				// Closed in the same commit, which lets the new invitation
				// take its place in the index.
				ew, a := expireWrite(c, old, "replaced by "+inv.ID)
				w.ch.Invitations, w.ch.Audit = append(w.ch.Invitations, ew), append(w.ch.Audit, a)
				if old.Inviter != c.email {
					w.replaced = append(w.replaced, notice(old.Inviter, fmt.Sprintf("Your invitation for %s expired without an answer; they have been invited again.", old.Display())))
				}
			}
			w.created = append(w.created, inv)
			w.tokens[inv.ID] = token
			w.ch.Invitations = append(w.ch.Invitations, org.InvitationWrite{Invitation: inv, NewTokenHash: hashOrEmpty(token)})
			w.ch.Audit = append(w.ch.Audit, org.AuditEntry{Action: "invitation." + auditVerb(inv), Target: inv.Email, After: describeInvitation(inv), Detail: "id " + inv.ID})
			if answer {
				w.items = append(w.items, newInvitationItem(c, f, inv))
			}
		case org.InviteUpdated:
			w.updated++
			w.ch.Invitations = append(w.ch.Invitations, org.InvitationWrite{Invitation: f.Next, Expect: org.InvitationPending, Version: f.Open.Version})
			w.ch.Audit = append(w.ch.Audit, org.AuditEntry{Action: "invitation.update", Target: f.Email, Before: describeInvitation(f.Open), After: describeInvitation(f.Next), Detail: "id " + f.Open.ID})
			if answer {
				w.items = append(w.items, Item{Text: fmt.Sprintf("%s: pending invitation updated (%s).", f.Spelling, describeChange(f.Open, f.Next))})
			}
			w.updates = append(w.updates, f)
		default:
			if answer {
				w.items = append(w.items, refusedInviteItem(c, snap, req, f))
			}
		}
	}
	return w, nil
}

// inviteDeliveries are the messages w sends: the invitations (or requests
// to the admins), the updates, and the notices about replaced invitations.
func (s *Service) inviteDeliveries(ctx context.Context, c *call, snap *org.Snapshot, d org.InviteDecision, w *inviteWrites) []Delivery {
	var ds []Delivery
	for _, inv := range w.created {
		if d == org.InviteRequest {
			ds = append(ds, s.requestDeliveries(snap, inv)...)
			continue
		}
		ds = append(ds, s.invitationDelivery(snap.Settings, inv, w.tokens[inv.ID], snap.Actor.Role == org.RoleAdmin, "", c.email))
	}
	for _, f := range w.updates {
		ds = append(ds, s.updatedDelivery(snap.Settings, f.Open, f.Next, c.email))
	}
	return append(ds, s.heard(ctx, snap, w.replaced)...)
}

// newInvitation makes the invitation (or, under approval, the request) f
// decided, with its id and, sent directly, its link's token. The inviter's
// spelling is kept for display.
func (s *Service) newInvitation(c *call, snap *org.Snapshot, req org.InviteSpec, f org.InviteFor, d org.InviteDecision) (*org.Invitation, secret.Token, error) {
	id, err := secret.NewID(s.rand)
	if err != nil {
		return nil, "", err
	}
	inv := &org.Invitation{
		ID: id, Email: f.Email, Spelling: f.Spelling, Role: req.Role, Workspaces: req.Grants, Note: req.Note,
		Inviter: c.email, InviterSpelling: c.who(snap),
		Created: c.now, Expires: c.now.Add(snap.Settings.InviteExpiry), Status: org.InvitationPending, Updated: c.now,
	}
	if d == org.InviteRequest {
		inv.Status = org.InvitationRequested
		return inv, "", nil
	}
	token, err := secret.NewToken(s.rand)
	if err != nil {
		return nil, "", err
	}
	return inv, token, nil
}

// newInvitationItem answers for a new invitation or request.
func newInvitationItem(c *call, f org.InviteFor, inv *org.Invitation) Item {
	if inv.Status == org.InvitationRequested {
		return Item{Text: fmt.Sprintf("%s: request to invite as %s sent to the admins.", f.Spelling, describeGrant(inv.Role, inv.Workspaces))}
	}
	return Item{
		Text:   fmt.Sprintf("%s: invited as %s.", f.Spelling, describeGrant(inv.Role, inv.Workspaces)),
		Fields: []Field{{Label: "Invitation", Value: inv.ID}, {Label: "Expires", Value: org.In(c.now, inv.Expires)}},
	}
}

// refusedInviteItem explains why f's person gets no invitation, naming them
// as typed.
func refusedInviteItem(c *call, snap *org.Snapshot, req org.InviteSpec, f org.InviteFor) Item {
	set := snap.Settings
	refuse := func(format string, args ...any) Item {
		return Item{Text: f.Spelling + ": " + fmt.Sprintf(format, args...)}
	}
	switch f.Outcome {
	case org.InviteDomainNotAllowed:
		return refuse("not invited: %s is not an allowed domain (allowed: %s).", org.EmailDomain(f.Email), strings.Join(set.AllowedDomains, ", "))
	case org.InviteMember:
		return refuse("already a member (%s).", f.User.Role)
	case org.InviteDeactivated:
		item := refuse("has a deactivated account (%s). Reactivate it instead of inviting.", f.User.Role)
		if snap.Actor.Role == org.RoleAdmin {
			item.Buttons = []Button{{Label: "Reactivate", Command: "activate " + f.Email}}
		}
		return item
	case org.InviteOpenElsewhere:
		// Neutral on purpose: see org.InviteOpenElsewhere.
		return refuse("already has an open invitation from someone else; nothing was sent.")
	case org.InviteRequested:
		return requestedItem(c, snap, f) // request_lifecycle.go
	}
	open := f.Open // org.InvitePending
	item := refuse("already has a pending invitation as %s, sent by %s %s.", describeGrant(open.Role, open.Workspaces), open.InviterDisplay(), org.Ago(c.now, open.Created))
	item.Buttons = append(item.Buttons, Button{Label: "Resend", Command: "resend " + open.ID})
	if !f.SameGrant {
		// The prompt says what changes, before and after, and the button
		// names the workspaces it shows, so the click does what was read.
		next := open.Clone()
		next.Role, next.Workspaces = req.Role, f.Grants
		change := describeChange(open, next)
		item.Text += fmt.Sprintf(" Update it (%s)?", change)
		item.Buttons = append(item.Buttons, Button{
			Label: "Update invitation", Style: StylePrimary, Command: updateCommand(f.Email, req.Role, f.Grants),
			Confirm: &Confirm{Title: "Update invitation?", Text: fmt.Sprintf("%s: %s. They will be sent the updated invitation.", f.Spelling, change), Yes: "Update", No: "Keep it"},
		})
	}
	return item
}

// expireWrite closes a pending invitation found past its expiry before the
// sweep got to it, with the audit entry the sweep would have written.
func expireWrite(c *call, inv *org.Invitation, detail string) (org.InvitationWrite, org.AuditEntry) {
	next := inv.Clone()
	next.Status, next.Updated = org.InvitationExpired, c.now
	return org.InvitationWrite{Invitation: next, Expect: inv.Status, Version: inv.Version},
		org.AuditEntry{Actor: "usher", Via: "expiry", Action: "invitation.expire", Target: inv.Email, Before: string(inv.Status), After: "expired", Detail: "id " + inv.ID + "; " + detail}
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
		OnEmailed:     &Message{Tone: ToneSuccess, Text: fmt.Sprintf("%s was emailed the invitation.", inv.Display())},
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
	var l *Link
	if link != "" {
		l = &Link{URL: link, Label: "Accept or decline"}
	}
	return Message{
		Title: "You're invited to " + set.Name, Text: text, Fields: fields, Link: l,
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
	return thousands(n) + " " + many
}

// describeChange says what an update changes, before -> after:
// "role member → viewer; workspaces fraud-models, risk → fraud-models".
func describeChange(before, after *org.Invitation) string {
	var parts []string
	if before.Role != after.Role {
		parts = append(parts, fmt.Sprintf("role %s → %s", before.Role, after.Role))
	}
	if b, a := before.Workspaces.String(), after.Workspaces.String(); b != a {
		parts = append(parts, fmt.Sprintf("workspaces %s → %s", b, a))
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "; ")
}

// updatedDelivery sends the invitee the invitation as updated, saying what
// changed. It carries no link: the link they have keeps working (it is not
// rotated, so an invitee usher cannot reach loses nothing), and the web page
// it opens shows the invitation as it is now; Accept and Decline name the
// invitation, so the buttons of the first message still work and take the
// terms of this one.
func (s *Service) updatedDelivery(set org.Settings, before, after *org.Invitation, sender string) Delivery {
	msg := invitationMessage(set, after, "", "Updated:")
	msg.Fields = append([]Field{{Label: "Changed", Value: describeChange(before, after)}}, msg.Fields...)
	msg.Footer = "The link you were sent still works and shows the invitation as it is now."
	return Delivery{
		To: after.Email, Kind: DeliverInvitation, InvitationID: after.ID, Message: msg, Sender: sender,
		OnDelivered: &Message{Tone: ToneSuccess, Text: fmt.Sprintf("%s got the updated invitation in a direct message.", after.Display())},
		OnUnreachable: &Message{Tone: ToneWarning, Text: fmt.Sprintf("%s isn't in chat, so usher couldn't tell them about the update. The link they have still works and shows the updated invitation; tell them it changed (%s).",
			after.Display(), describeChange(before, after))},
	}
}

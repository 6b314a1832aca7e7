package handlers

import (
	"context"
	"fmt"

	"github.com/usher-chat/usher/handlers/org"
)

// The bell across organizations: the invitations addressed to a person in
// every organization of the deployment, and answering one of them from
// wherever it is listed (issue 13, item 4).

// orgFlag names the organization an accept or decline is for, when it is
// clicked in another organization's chat (the bell's buttons add it).
const orgFlag = "org"

// OpenInvitation is one invitation addressed to a person, with the
// organization it is in.
type OpenInvitation struct {
	Org        org.ID
	Settings   org.Settings // the organization's (its display name)
	Invitation *org.Invitation
}

// openFor is email's pending, unexpired invitation in this organization, if any.
func (s *Service) openFor(ctx context.Context, email string) (*OpenInvitation, error) {
	snap, err := s.store.Load(ctx, org.Query{OpenFor: []string{email}})
	if err != nil {
		return nil, fmt.Errorf("open invitation: %w", err)
	}
	inv := snap.Open[email]
	if inv == nil || inv.Status != org.InvitationPending || inv.ExpiredAt(s.Now()) {
		return nil, nil
	}
	var id org.ID
	if s.deploy != nil {
		id = s.deploy.Org()
	}
	return &OpenInvitation{Org: id, Settings: snap.Settings, Invitation: inv}, nil
}

// elsewhere calls f on the Service of every other organization the person
// index names for email. The index is a superset: f answers from that
// organization's own state, so an entry that is stale comes to nothing. An
// organization that cannot be read is logged and skipped, so one outage
// does not silence the bell for the others.
func (s *Service) elsewhere(ctx context.Context, email string, f func(id org.ID, peer *Service) error) error {
	if s.deploy == nil {
		return nil
	}
	ids, err := s.deploy.PersonOrgs(ctx, email)
	if err != nil {
		return fmt.Errorf("person's organizations: %w", err)
	}
	self := s.deploy.Org()
	for _, id := range ids {
		if id == self {
			continue
		}
		peer, _, err := s.deploy.Peer(ctx, id)
		if err == nil {
			err = f(id, peer)
		}
		if err != nil {
			s.log.WarnContext(ctx, "person's organization skipped", "org", string(id), "err", err)
		}
	}
	return nil
}

// OpenInvitations lists the pending invitations addressed to email in every
// organization: this one's first, then the others by id.
func (s *Service) OpenInvitations(ctx context.Context, email string) ([]OpenInvitation, error) {
	email, err := org.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	var out []OpenInvitation
	own, err := s.openFor(ctx, email)
	if err != nil {
		return nil, err
	}
	if own != nil {
		out = append(out, *own)
	}
	err = s.elsewhere(ctx, email, func(id org.ID, peer *Service) error {
		o, err := peer.openFor(ctx, email)
		if o != nil {
			o.Org = id
			out = append(out, *o)
		}
		return err
	})
	return out, err
}

// bellItems are the bell's items: each open invitation with its
// organization's name and Accept / Decline buttons that name the
// organization when it is not this one.
func (s *Service) bellItems(ctx context.Context, c *call, own *org.Invitation, set org.Settings) []Item {
	var items []Item
	if own != nil && own.Status == org.InvitationPending && !own.ExpiredAt(c.now) {
		items = append(items, bellItem(c, OpenInvitation{Settings: set, Invitation: own}, ""))
	}
	err := s.elsewhere(ctx, c.email, func(id org.ID, peer *Service) error {
		o, err := peer.openFor(ctx, c.email)
		if o != nil {
			items = append(items, bellItem(c, *o, id))
		}
		return err
	})
	if err != nil {
		s.log.WarnContext(ctx, "bell: other organizations not read", "err", err)
	}
	return items
}

// An invitation of another organization names that organization and who
// invited the person: it is addressed to them, as it would be in that
// organization's own chat; nobody else's bell shows it.
func bellItem(c *call, o OpenInvitation, other org.ID) Item {
	inv := o.Invitation
	it := Item{
		Text:    fmt.Sprintf("For you: %s invited you to join %s as %s (expires %s).", inv.InviterDisplay(), o.Settings.Name, describeGrant(inv.Role, inv.Workspaces), org.In(c.now, inv.Expires)),
		Buttons: invitationMessage(o.Settings, inv, "", "").Buttons,
	}
	if other == "" {
		return it
	}
	for i := range it.Buttons {
		it.Buttons[i].Command += " --" + orgFlag + " " + string(other)
		if cf := it.Buttons[i].Confirm; cf != nil {
			next := *cf
			next.Text = "You won't join " + o.Settings.Name + ". Whoever invited you will be told."
			it.Buttons[i].Confirm = &next
		}
	}
	return it
}

// forwarded answers an accept or decline whose --org names another
// organization: the same command runs there, as the same person (their
// verified email authorizes it there exactly as it would in that
// organization's own chat). The chat identity is left out, as it belongs to
// this organization's chat, not to that one's; that organization's messages
// (its inviter told) go through its own chat.
func (s *Service) forwarded(ctx context.Context, c *call) (Reply, bool, error) {
	target := c.cmd.Flag(orgFlag)
	if target == "" || s.deploy != nil && org.ID(target) == s.deploy.Org() {
		return Reply{}, false, nil
	}
	id := org.ID(target)
	if s.deploy == nil || id.Validate() != nil {
		return Reply{}, true, org.NoInvitationFor(c.cmd.Args[0])
	}
	peer, deliver, err := s.deploy.Peer(ctx, id)
	if err != nil {
		return Reply{}, true, fmt.Errorf("%s in %s: %w", c.cmd.Verb, id, err)
	}
	actor := c.req.Actor
	actor.UserID = ""
	r := peer.Handle(ctx, Request{Actor: actor, Text: c.cmd.Verb + " " + quote(c.cmd.Args[0])})
	return s.delivered(ctx, deliver, r), true, nil
}

// Membership is a person's user record in one organization, as the account
// page lists it.
type Membership struct {
	Org    org.ID
	Name   string // the organization's display name
	Role   org.Role
	Status org.Status
}

// Person is what the account page shows of one person across the
// deployment: their organizations and their open invitations.
type Person struct {
	Orgs        []Membership     // this organization first, then the others by id
	Invitations []OpenInvitation // likewise
}

// member is email's membership here, or nil.
func (s *Service) member(ctx context.Context, email string) (*Membership, *OpenInvitation, error) {
	snap, err := s.store.Load(ctx, org.Query{Users: []string{email}, OpenFor: []string{email}})
	if err != nil {
		return nil, nil, fmt.Errorf("membership: %w", err)
	}
	var id org.ID
	if s.deploy != nil {
		id = s.deploy.Org()
	}
	var m *Membership
	if u := snap.Users[email]; u != nil {
		m = &Membership{Org: id, Name: snap.Settings.Name, Role: u.Role, Status: u.Status}
	}
	var open *OpenInvitation
	if inv := snap.Open[email]; inv != nil && inv.Status == org.InvitationPending && !inv.ExpiredAt(s.Now()) {
		open = &OpenInvitation{Org: id, Settings: snap.Settings, Invitation: inv}
	}
	return m, open, nil
}

// PersonOf reads email's organizations and open invitations across the
// deployment, one round trip per organization the person index names (each
// answer from that organization's own state: a stale entry comes to nothing).
func (s *Service) PersonOf(ctx context.Context, email string) (*Person, error) {
	email, err := org.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	p := &Person{}
	add := func(m *Membership, o *OpenInvitation) {
		if m != nil {
			p.Orgs = append(p.Orgs, *m)
		}
		if o != nil {
			p.Invitations = append(p.Invitations, *o)
		}
	}
	m, o, err := s.member(ctx, email)
	if err != nil {
		return nil, err
	}
	add(m, o)
	err = s.elsewhere(ctx, email, func(id org.ID, peer *Service) error {
		m, o, err := peer.member(ctx, email)
		if m != nil {
			m.Org = id
		}
		if o != nil {
			o.Org = id
		}
		add(m, o)
		return err
	})
	return p, err
}

package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
)

// accept joins the invitee to the organization: only the person whose
// verified email the invitation names may do it, once.
func (s *Service) accept(ctx context.Context, c *call) (Reply, error) {
	return s.respond(ctx, c, org.InvitationAccepted)
}

// decline refuses an invitation; the inviter is told.
func (s *Service) decline(ctx context.Context, c *call) (Reply, error) {
	return s.respond(ctx, c, org.InvitationDeclined)
}

func (s *Service) respond(ctx context.Context, c *call, outcome org.InvitationStatus) (Reply, error) {
	if r, ok, err := s.forwarded(ctx, c); ok { // bell.go
		return r, err
	}
	snap, err := s.load(ctx, c, org.Query{Invitation: strings.ToLower(c.cmd.Args[0]), Identity: c.identity()})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActRespond); err != nil {
		return Reply{}, err
	}
	inv := snap.Invitation
	admin := snap.Actor != nil && snap.Actor.Role == org.RoleAdmin
	// Only admins, who may list every invitation anyway, learn whose it is:
	// anyone else holding an id gets the answer a missing one gets.
	if inv == nil || inv.Email != c.email && !admin {
		return Reply{}, org.NoInvitationFor(c.cmd.Args[0])
	}
	if inv.Email != c.email {
		return Reply{}, org.Errorf(org.CodeForbidden, "This invitation is for %s; only they can accept or decline it.", inv.Display())
	}
	return s.settle(ctx, c, snap, snap.Actor, inv, outcome, org.StripText(c.req.Actor.Name), "")
}

// settle moves a pending invitation to accepted or declined, creating the
// user on accept, all in one atomic commit. passwordHash is set when the
// invitee accepted on the web and chose a password; it is used only for a new
// account.
func (s *Service) settle(ctx context.Context, c *call, snap *org.Snapshot, user *org.User, inv *org.Invitation, outcome org.InvitationStatus, name, passwordHash string) (Reply, error) {
	if inv.Status != org.InvitationPending {
		return Reply{Replace: true}, inv.StatusError()
	}
	set := snap.Settings
	if inv.ExpiredAt(c.now) {
		ds, err := s.expire(ctx, c, snap, inv)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Replace: true, Deliveries: ds}, (&org.Invitation{Status: org.InvitationExpired, Inviter: inv.Inviter}).StatusError()
	}
	next := inv.Clone()
	next.Status, next.Updated = outcome, c.now
	ch := org.Change{Invitations: []org.InvitationWrite{{Invitation: next, Expect: org.InvitationPending, Version: inv.Version}}}
	r := Reply{Replace: true}
	if outcome == org.InvitationDeclined {
		ch.Audit = []org.AuditEntry{{Action: "invitation.decline", Target: inv.Email, Before: "pending", After: "declined", Detail: "id " + inv.ID}}
		if err := s.commit(ctx, c, snap, ch); err != nil {
			return Reply{}, err
		}
		r.Tone, r.Text = ToneInfo, fmt.Sprintf("You declined the invitation to %s. %s will be told.", set.Name, inv.InviterDisplay())
		r.Deliveries = s.heard(ctx, snap, []Delivery{notice(inv.Inviter, fmt.Sprintf("%s declined your invitation to %s.", inv.Display(), set.Name))})
		return r, nil
	}

	var version int64
	var joined *org.User
	before := "none"
	if user == nil {
		// The new user takes the spelling their inviter typed.
		joined = &org.User{Email: inv.Email, Spelling: inv.Spelling, Name: name, Role: inv.Role, Status: org.StatusActive, Workspaces: inv.Workspaces, Created: c.now}
		if passwordHash != "" {
			joined.PasswordHash = passwordHash
		}
	} else {
		// The account was made another way while the invitation waited
		// (`usher admin add`, a race with another invitation). Holding the
		// invitation is no authority over it: a deactivated account stays
		// deactivated (reactivating is an admin's confirmed, audited
		// `activate`), and an active one keeps its password and its role (a
		// change of role is the admin's `role`, which guards the last admin).
		// It gains only the invitation's workspaces it lacks. The write is
		// guarded by the version read, so a deactivation or a reset that
		// commits first makes this one re-read and decide again.
		if !user.Active() {
			return Reply{}, org.Errorf(org.CodeDeactivated, "Your account in %s is deactivated, and accepting an invitation doesn't reactivate it.", set.Name).
				WithHint("Ask an admin to reactivate you.")
		}
		version, before = user.Version, describeUser(user)
		joined = user.Clone()
		for _, g := range inv.Workspaces {
			if _, has := joined.Workspaces.Get(g.Workspace); !has {
				joined.Workspaces = joined.Workspaces.With(g)
			}
		}
		joined.Workspaces = joined.Workspaces.ForRole(joined.Role)
		if joined.Name == "" {
			joined.Name = name
		}
	}
	joined.Updated = c.now
	ch.Users = []org.UserWrite{{User: joined, Version: version}}
	detail := "invited by " + inv.Inviter
	if user != nil {
		detail += fmt.Sprintf("; already a member: role %s and password kept, invited as %s", user.Role, inv.Role)
	}
	ch.Audit = []org.AuditEntry{
		{Action: "invitation.accept", Target: inv.Email, Before: "pending", After: "accepted", Detail: "id " + inv.ID},
		{Action: "user.join", Target: inv.Email, Before: before, After: describeUser(joined), Detail: detail},
	}
	if id := c.identity(); id != "" {
		ch.Links = []org.IdentityLink{{Identity: id, Email: inv.Email}}
	}
	if err := s.commit(ctx, c, nil, ch); err != nil {
		return Reply{}, err
	}
	if user != nil {
		// Info, not success: no account was made, and the web page reads
		// the tone to not say "sign in with the password you just chose".
		r.Tone = ToneInfo
		r.Text = fmt.Sprintf("You are already a member of %s, as %s; your role and password are unchanged.", set.Name, describeGrant(joined.Role, joined.Workspaces))
		if joined.Role != inv.Role {
			r.Footer = fmt.Sprintf("The invitation was for %s; only an admin can change your role.", inv.Role)
		}
		r.Deliveries = s.heard(ctx, snap, []Delivery{notice(inv.Inviter, fmt.Sprintf("%s accepted your invitation to %s, but was already a member as %s: they kept that role and got the invitation's workspaces.",
			inv.Display(), set.Name, joined.Role))})
		return r, nil
	}
	r.Tone = ToneSuccess
	r.Text = fmt.Sprintf("Welcome to %s! You joined as %s.", set.Name, describeGrant(joined.Role, joined.Workspaces))
	r.Footer = "Type help to see what you can do."
	if len(joined.Workspaces) == 0 {
		// Joined with no permissions yet: say how to get some rather than
		// leave them to find out from a refusal.
		r.Footer = fmt.Sprintf("You have no workspaces yet. Ask %s (or another admin, or a workspace's manager) to give you access with: access grant %s WORKSPACE. Type help to see what you can do.",
			inv.InviterDisplay(), quote(inv.Display()))
		if joined.Role == org.RoleAdmin {
			r.Footer = fmt.Sprintf("You have no workspaces yet; as an admin you can give yourself access with: access grant %s WORKSPACE. Type help to see what you can do.", quote(inv.Display()))
		}
	}
	r.Deliveries = s.heard(ctx, snap, []Delivery{notice(inv.Inviter, fmt.Sprintf("%s accepted your invitation and joined %s as %s.", inv.Display(), set.Name, joined.Role))})
	return r, nil
}

// expire marks a pending invitation past its expiry as expired and returns
// the notice that tells its inviter. The sweep and a late Accept both use it,
// so an inviter always hears, once, that an invitation expired (unless they
// are deactivated: heard).
func (s *Service) expire(ctx context.Context, c *call, snap *org.Snapshot, inv *org.Invitation) ([]Delivery, error) {
	next := inv.Clone()
	next.Status, next.Updated = org.InvitationExpired, c.now
	err := s.commit(ctx, c, snap, org.Change{
		Invitations: []org.InvitationWrite{{Invitation: next, Expect: inv.Status, Version: inv.Version}},
		Audit:       []org.AuditEntry{{Actor: "usher", Via: "scheduler", Action: "invitation.expire", Target: inv.Email, Before: string(inv.Status), After: "expired", Detail: "id " + inv.ID}},
	})
	if err != nil {
		return nil, err
	}
	if inv.Status == org.InvitationRequested {
		return s.heard(ctx, snap, []Delivery{requestExpiredNotice(inv)}), nil // request_lifecycle.go
	}
	n := notice(inv.Inviter, fmt.Sprintf("Your invitation for %s expired without an answer.", inv.Display()))
	n.Message.Buttons = []Button{{Label: "Invite again", Command: inviteCommand(inv.Display(), inv.Role, inv.Workspaces)}}
	return s.heard(ctx, snap, []Delivery{n}), nil
}

func describeUser(u *org.User) string {
	return fmt.Sprintf("%s %s ws=%s", u.Status, u.Role, u.Workspaces.Encode())
}

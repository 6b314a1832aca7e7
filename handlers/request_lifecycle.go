package handlers

import (
	"context"
	"fmt"

	"github.com/usher-chat/usher/handlers/org"
)

// The life of an invitation request (anyone-can-invite approval) after it is
// made (issue 14, 5.3): it expires like an invitation, invite-expiry after it
// was made (the sweep closes it: remind.go, org.DueAction); the admins'
// digest lists the requests waiting; the requester sees theirs (requests)
// and can take one back (withdraw); an admin inviting the address is offered
// Approve and Deny (invite.go).

// withdraw takes back an invitation request its requester made. Only the
// requester may: an admin refuses a request with deny; anyone else gets the
// answer a missing request gets (org.NoInvitationFor).
func (s *Service) withdraw(ctx context.Context, c *call) (Reply, error) {
	ref := c.cmd.Args[0]
	snap, inv, err := s.loadInvitation(ctx, c, ref, org.Query{})
	if snap == nil {
		return Reply{}, err
	}
	if aerr := org.Authorize(snap.Actor, snap.Settings, org.ActWithdrawRequest); aerr != nil {
		return Reply{}, aerr
	}
	admin := snap.Actor.Role == org.RoleAdmin
	if inv == nil || inv.Inviter != c.email {
		switch {
		case admin && inv != nil && inv.Status == org.InvitationRequested:
			return Reply{}, org.Errorf(org.CodeForbidden, "Only %s, who asked, can withdraw the request to invite %s.", inv.InviterDisplay(), inv.Display()).
				WithHint("To refuse it: deny %s", inv.ID)
		case admin && err != nil:
			return Reply{}, err
		}
		return Reply{}, org.NoInvitationFor(invitationRef(ref))
	}
	switch {
	case inv.Status == org.InvitationPending:
		return Reply{Replace: true}, org.Errorf(org.CodeConflict, "Your request to invite %s was already approved: the invitation is out.", inv.Display()).
			WithHint("To withdraw the invitation: revoke %s", inv.ID)
	case inv.Status != org.InvitationRequested:
		return Reply{Replace: true}, inv.StatusError()
	case inv.ExpiredAt(c.now):
		ds, err := s.expire(ctx, c, snap, inv)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Replace: true, Deliveries: ds}, org.Errorf(org.CodeConflict, "Your request to invite %s has expired already.", inv.Display())
	}
	next := inv.Clone()
	next.Status, next.Updated = org.InvitationRevoked, c.now
	err = s.commit(ctx, c, snap, org.Change{
		Invitations: []org.InvitationWrite{{Invitation: next, Expect: org.InvitationRequested, Version: inv.Version}},
		Audit:       []org.AuditEntry{{Action: "invitation.withdraw", Target: inv.Email, Before: "requested", After: "revoked", Detail: "id " + inv.ID}},
	})
	if err != nil {
		return Reply{}, err
	}
	return Reply{Replace: true, Message: Message{Tone: ToneSuccess,
		Text: fmt.Sprintf("Withdrew your request to invite %s; the admins can no longer approve it.", inv.Display())}}, nil
}

// ownRequests answers requests for someone who is not an admin: the
// requests they made that still wait, each with Withdraw.
func ownRequests(c *call, snap *org.Snapshot) Reply {
	r := Reply{Message: Message{Title: "Your invitation requests"}}
	for _, inv := range snap.Requests {
		if inv.Inviter != c.email || inv.ExpiredAt(c.now) {
			continue
		}
		r.Items = append(r.Items, Item{
			Text:   fmt.Sprintf("%s as %s — asked %s, waiting for an admin; expires %s", inv.Display(), describeGrant(inv.Role, inv.Workspaces), org.Ago(c.now, inv.Created), org.In(c.now, inv.Expires)),
			Fields: []Field{{Label: "ID", Value: inv.ID}},
			Buttons: []Button{{Label: "Withdraw", Command: "withdraw " + inv.ID, Style: StyleDanger,
				Confirm: &Confirm{Title: "Withdraw the request?", Text: fmt.Sprintf("The admins won't be able to approve inviting %s.", inv.Display()), Yes: "Withdraw", No: "Keep it"}}},
		})
	}
	if len(r.Items) == 0 {
		r.Text = "You have no invitation requests waiting for approval."
		return r
	}
	r.Text = fmt.Sprintf("%s for an admin's approval:", plural(len(r.Items), "request of yours waits", "requests of yours wait"))
	return r
}

// requestExpiredNotice tells a requester that their request expired.
func requestExpiredNotice(inv *org.Invitation) Delivery {
	n := notice(inv.Inviter, fmt.Sprintf("Your request to invite %s expired without an admin's answer.", inv.Display()))
	n.Message.Buttons = []Button{{Label: "Ask again", Command: inviteCommand(inv.Display(), inv.Role, inv.Workspaces)}}
	return n
}

// requestedItem answers an invite for someone a request already waits for:
// an admin may approve or deny it right there, its requester withdraw it.
func requestedItem(c *call, snap *org.Snapshot, f org.InviteFor) Item {
	inv := f.Open
	it := Item{Text: f.Spelling + ": an invitation request is already waiting for an admin's approval."}
	if inv == nil {
		return it
	}
	it.Text = fmt.Sprintf("%s: %s asked %s to invite them as %s; the request waits for an admin's approval.", f.Spelling, inv.InviterDisplay(), org.Ago(c.now, inv.Created), describeGrant(inv.Role, inv.Workspaces))
	switch {
	case snap.Actor.Role == org.RoleAdmin:
		it.Text = fmt.Sprintf("%s: %s asked %s to invite them as %s. Approve or deny the request?", f.Spelling, inv.InviterDisplay(), org.Ago(c.now, inv.Created), describeGrant(inv.Role, inv.Workspaces))
		it.Buttons = requestMessage(inv).Buttons
	case inv.Inviter == c.email:
		it.Text = fmt.Sprintf("%s: your request to invite them as %s waits for an admin's approval.", f.Spelling, describeGrant(inv.Role, inv.Workspaces))
		it.Buttons = []Button{{Label: "Withdraw", Command: "withdraw " + inv.ID, Style: StyleDanger}}
	}
	return it
}

// digestRequests is the digest's part about requests waiting for approval.
func digestRequests(c *call, m *Message, requests []*org.Invitation) {
	var waiting []*org.Invitation
	for _, inv := range requests {
		if !inv.ExpiredAt(c.now) {
			waiting = append(waiting, inv)
		}
	}
	if len(waiting) == 0 {
		return
	}
	m.Fields = append(m.Fields, Field{Label: "Requests waiting for approval", Value: fmt.Sprint(len(waiting))})
	for _, inv := range waiting[:min(len(waiting), digestShown)] {
		rm := requestMessage(inv)
		m.Items = append(m.Items, Item{Text: rm.Text + " (" + org.Ago(c.now, inv.Created) + ")", Buttons: rm.Buttons})
	}
	if len(waiting) > digestShown {
		m.Footer += " Requests: requests."
	}
}

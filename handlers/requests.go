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

// The admins' side of anyone-can-invite approval: the requests waiting, and
// approving or denying one. invite makes the requests (invite.go).

// requests lists invitation requests for admins to approve or deny, oldest
// first (by date asked: the longest waiting first), a page at a time
// (RequestsPerPage).
func (s *Service) requests(ctx context.Context, c *call) (Reply, error) {
	p, err := readPager(c, RequestsPerPage)
	if err != nil {
		return Reply{}, err
	}
	snap, err := s.load(ctx, c, org.Query{Requests: true, Whole: true})
	if err != nil {
		return Reply{}, err
	}
	if a := snap.Actor; a != nil && a.Active() && a.Role != org.RoleAdmin {
		return ownRequests(c, snap), nil // request_lifecycle.go
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActReviewRequests); err != nil {
		return Reply{}, err
	}
	r := Reply{Message: Message{Title: "Invitation requests"}}
	reqs := slices.Clone(snap.Requests)
	slices.SortStableFunc(reqs, func(a, b *org.Invitation) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Email, b.Email), strings.Compare(a.ID, b.ID))
	})
	var rows []Item
	for _, inv := range reqs {
		if !p.match(inv.Email, inv.Display(), inv.Inviter, inv.InviterDisplay(), inv.Workspaces.Encode(), string(inv.Role), inv.ID) {
			continue
		}
		m := requestMessage(inv)
		rows = append(rows, Item{Text: m.Text + " (" + org.Ago(c.now, inv.Created) + ")", Buttons: m.Buttons})
	}
	if !paged(&r, c, p, rows) {
		return p.pastEnd(c, r.Title, "request", "requests", len(rows)), nil
	}
	if len(rows) == 0 {
		if p.search != "" {
			r.Text = fmt.Sprintf("No invitation requests match %q.", p.search)
			return r, nil
		}
		r.Text = "No invitation requests are waiting."
		if snap.Settings.AnyoneCanInvite != org.InviteApproval {
			r.Text += " (anyone-can-invite is " + string(snap.Settings.AnyoneCanInvite) + ", so none will arrive.)"
		}
		return r, nil
	}
	r.Text = p.head(len(rows)) + plural(len(rows), "request waits", "requests wait") + " for approval" + p.matching() + ":"
	return r, nil
}

// approve turns a request into a pending invitation and delivers it.
func (s *Service) approve(ctx context.Context, c *call) (Reply, error) {
	return s.review(ctx, c, org.InvitationPending)
}

// deny refuses a request; the requester is told.
func (s *Service) deny(ctx context.Context, c *call) (Reply, error) {
	return s.review(ctx, c, org.InvitationDenied)
}

func (s *Service) review(ctx context.Context, c *call, outcome org.InvitationStatus) (Reply, error) {
	snap, err := s.load(ctx, c, org.Query{Invitation: strings.ToLower(c.cmd.Args[0])})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActReviewRequests); err != nil {
		return Reply{}, err
	}
	inv := snap.Invitation
	if inv == nil {
		return Reply{}, org.Errorf(org.CodeNotFound, "There is no invitation request %s.", c.cmd.Args[0])
	}
	if inv.Status != org.InvitationRequested {
		if inv.Status == org.InvitationPending {
			return Reply{Replace: true}, org.Errorf(org.CodeConflict, "The request to invite %s was already approved.", inv.Display())
		}
		return Reply{Replace: true}, inv.StatusError()
	}
	if inv.ExpiredAt(c.now) { // before the sweep closed it
		ds, err := s.expire(ctx, c, snap, inv)
		if err != nil {
			return Reply{}, err
		}
		return Reply{Replace: true, Deliveries: ds}, org.Errorf(org.CodeConflict, "The request to invite %s has expired.", inv.Display())
	}
	next := inv.Clone()
	next.Status, next.Updated = outcome, c.now
	w := org.InvitationWrite{Invitation: next, Expect: org.InvitationRequested, Version: inv.Version}
	var token secret.Token
	if outcome == org.InvitationPending {
		// The week starts now: the request may have waited.
		next.Expires = c.now.Add(snap.Settings.InviteExpiry)
		if token, err = secret.NewToken(s.rand); err != nil {
			return Reply{}, err
		}
		w.NewTokenHash = token.Hash()
	}
	action := map[org.InvitationStatus]string{org.InvitationPending: "approve", org.InvitationDenied: "deny"}[outcome]
	err = s.commit(ctx, c, snap, org.Change{
		Invitations: []org.InvitationWrite{w},
		Audit:       []org.AuditEntry{{Action: "invitation." + action, Target: inv.Email, Before: "requested", After: string(outcome), Detail: "id " + inv.ID + "; requested by " + inv.Inviter}},
	})
	if err != nil {
		return Reply{}, err
	}
	r := Reply{Replace: true}
	if outcome == org.InvitationDenied {
		r.Tone, r.Text = ToneInfo, fmt.Sprintf("Denied %s's request to invite %s.", inv.InviterDisplay(), inv.Display())
		r.Deliveries = s.heard(ctx, snap, []Delivery{notice(inv.Inviter, fmt.Sprintf("%s denied your request to invite %s.", c.who(snap), inv.Display()))})
		return r, nil
	}
	r.Tone, r.Text = ToneSuccess, fmt.Sprintf("Approved: %s is invited as %s.", inv.Display(), describeGrant(inv.Role, inv.Workspaces))
	r.Deliveries = s.heard(ctx, snap, []Delivery{
		notice(inv.Inviter, fmt.Sprintf("%s approved your request: %s is invited.", c.who(snap), inv.Display())),
		s.invitationDelivery(snap.Settings, next, token, true, "", c.email),
	})
	return r, nil
}

package handlers

import (
	"context"
	"fmt"

	"github.com/usher-chat/usher/handlers/org"
)

// Reachability is the one thing the use cases ask of delivery before a
// delivery: whether some platform would take a message for a person now
// (a chat platform that knows them or, when configured, email, which takes
// anyone). It is answered by the delivery router (bot/deliver), which asks
// the same platforms, in the same way, as a delivery does.
//
// Why a question first rather than a rotation carried by the delivery and
// committed only when delivered: a resend's answer must say, before
// anything changes, that nothing will reach the invitee, and a rotation
// committed later by the outbox worker would need its own state transition,
// audit and race with accept outside the command. The question can be
// overtaken (the person leaves the workspace between the check and the
// post); then the delivery's OnUnreachable still tells the sender, as before.
type Reachability interface {
	Reachable(ctx context.Context, email string) (bool, error)
}

// UseReachability gives the service the router's answer to "would a
// message reach them?" (cmd/usher, bot/shell wire it once the router over
// the service exists). Without it the service does not ask.
func (s *Service) UseReachability(r Reachability) { s.reach.Store(&r) }

// reachable is whether a delivery to email would reach them; true when the
// service has no way to tell.
func (s *Service) reachable(ctx context.Context, email string) (bool, error) {
	r := s.reach.Load()
	if r == nil {
		return true, nil
	}
	ok, err := (*r).Reachable(ctx, email)
	if err != nil {
		return false, fmt.Errorf("reachability of the invitee: %w", err)
	}
	return ok, nil
}

// unreachableResend refuses a resend that would rotate a link nobody can be
// given: the invitee is on no platform and the resender may not see links.
func unreachableResend(inv *org.Invitation) error {
	return org.Errorf(org.CodeConflict, "%s isn't in chat, so usher can't deliver the invitation again; nothing was changed, and the link they were sent still works.", inv.Display()).
		WithHint("Ask an admin to show the link (link %s) and forward it to them.", inv.ID)
}

package handlers

import (
	"context"
	"fmt"

	"github.com/usher-chat/usher/handlers/org"
)

// offerOpen turns the "you are not a member" refusal, for someone with
// invitations waiting, into those invitations with Accept and Decline: an
// invitee who types a command before answering should see what waits for
// them, not only a refusal (issue 14, 5.5). They are found by the person's
// verified email, here and (the bell) in the deployment's other
// organizations. The reply keeps the refusal's code: nothing was done.
func (s *Service) offerOpen(ctx context.Context, c *call, r Reply) Reply {
	snap, err := s.store.Load(ctx, org.Query{OpenFor: []string{c.email}})
	if err != nil {
		s.log.WarnContext(ctx, "not a member: open invitations not read", "err", err)
		return r
	}
	items := s.bellItems(ctx, c, snap.Open[c.email], snap.Settings)
	if len(items) == 0 {
		return r
	}
	r.Tone = ToneInfo
	r.Text = fmt.Sprintf("You are not a member of %s yet, but %s for you:", snap.Settings.Name, plural(len(items), "invitation waits", "invitations wait"))
	r.Items = items
	r.Footer = "Accept one to join, then try again."
	return r
}

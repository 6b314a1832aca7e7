package handlers

import (
	"context"
	"slices"

	"github.com/usher-chat/usher/handlers/org"
)

// InviteForm is what the invite form (Slack's modal) may offer its actor.
type InviteForm struct {
	// Workspaces are the workspaces the actor may give access to, sorted:
	// every one for an admin, only their own for anyone else (the invite
	// rule: a non-admin grants only workspaces they have).
	Workspaces []string
}

// InviteForm decides whether actor may open the invite form, and with which
// workspaces. The workspace names are the organization's business, so the
// form is the invite command's first step and obeys its rules: someone who
// may not invite (a guest with no account, a deactivated user, a member or
// viewer while anyone-can-invite is off) gets the refusal the command would
// give, and no names. refusal is nil when the form may be shown. Submitting
// the form runs the invite command, which decides again.
func (s *Service) InviteForm(ctx context.Context, actor org.Identity) (form InviteForm, refusal *Reply) {
	email, err := org.NormalizeEmail(actor.Email)
	if err != nil {
		r := s.refuse(org.Errorf(org.CodeForbidden, "usher can't tell who you are: your chat account has no verified email address."))
		return InviteForm{}, &r
	}
	snap, err := s.store.Load(ctx, org.Query{Actor: email, Workspaces: true})
	if err != nil {
		r := s.fail(ctx, Request{Actor: actor, Text: "invite"}, "invite", err)
		return InviteForm{}, &r
	}
	// The least an invitation can grant (a viewer, no workspace): whoever may
	// not send even that may not invite at all. The decision is the
	// permission table's, through the same check the invite command makes.
	if _, err := org.CheckInvite(snap.Actor, snap.Settings, org.RoleViewer, nil); err != nil {
		r := s.fail(ctx, Request{Actor: actor, Text: "invite"}, "invite", err)
		return InviteForm{}, &r
	}
	for _, w := range snap.Workspaces {
		if _, mine := snap.Actor.Workspaces.Get(w.Name); mine || snap.Actor.Role == org.RoleAdmin {
			form.Workspaces = append(form.Workspaces, w.Name)
		}
	}
	slices.Sort(form.Workspaces)
	return form, nil
}

package handlers

import (
	"context"
	"fmt"
	"slices"

	"github.com/usher-chat/usher/handlers/org"
)

// InstallEvent is a change in how a chat platform reaches the
// organization: usher installed in a workspace, uninstalled, its tokens
// revoked, or its installation broken (a refresh token Slack refused).
// Nobody typed it, yet admins must be able to see it in the audit log, and
// some of it they must be told.
type InstallEvent struct {
	Platform string // "slack", "teams"
	Action   string // the audit action: "install.add", "install.remove", "install.broken"
	Target   string // the workspace or tenant, as the platform names it
	Actor    string // who did it, when the platform says (an installer's email); "" for the platform
	Detail   string
	// Tell, when set, is sent to every active admin: the platform it
	// concerns may not reach them any more, so the router tries the others.
	Tell string
}

// RecordInstall audits ev in the organization and returns the notices for
// its active admins, for the caller to deliver.
func (s *Service) RecordInstall(ctx context.Context, ev InstallEvent) ([]Delivery, error) {
	actor := ev.Actor
	if actor == "" {
		actor = ev.Platform
	}
	c := s.systemCall(ev.Action, org.Identity{Platform: ev.Platform, Email: actor})
	var admins []string
	err := retry(func() error {
		snap, err := s.store.Load(ctx, org.Query{Admins: ev.Tell != ""})
		if err != nil {
			return err
		}
		admins = slices.Sorted(slices.Values(snap.Admins))
		return s.commitSystem(ctx, c, org.Change{Audit: []org.AuditEntry{{Actor: actor, Via: ev.Platform, Action: ev.Action,
			Target: ev.Target, Detail: ev.Detail}}})
	})
	if err != nil {
		return nil, fmt.Errorf("record %s of %s %s: %w", ev.Action, ev.Platform, ev.Target, err)
	}
	if ev.Tell == "" {
		return nil, nil
	}
	out := make([]Delivery, 0, len(admins))
	for _, a := range admins {
		out = append(out, Delivery{To: a, Kind: DeliverNotice, Message: Message{Tone: ToneError, Text: ev.Tell}})
	}
	return out, nil
}

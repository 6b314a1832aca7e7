package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
)

// LearnName names the organization after its chat workspace (a Slack
// workspace's name, from auth.test) while nobody has named it: invitations
// then read "to join Acme Inc" rather than "to join your organization"
// (issue 14, 5.6). An admin's `settings name` always wins: a name other than
// the default is never replaced, and the write is pinned to the settings
// read, so a name set meanwhile makes it decide again (and stop). source
// says where the name came from, for the audit entry. It reports whether it
// named the organization.
func (s *Service) LearnName(ctx context.Context, name, source string) (bool, error) {
	name = strings.TrimSpace(org.StripText(name))
	if name == "" || len([]rune(name)) > 100 {
		return false, nil
	}
	c := s.systemCall("learn-name", org.Identity{Platform: source})
	named := false
	err := retry(func() error {
		snap, err := s.store.Load(ctx, org.Query{})
		if err != nil {
			return err
		}
		before := snap.Settings.Name
		if before != org.DefaultSettings().Name || before == name {
			return nil
		}
		named = true
		return s.commitSystem(ctx, c, org.Change{
			Settings: map[string]string{"name": name},
			Audit: []org.AuditEntry{{Actor: "usher", Via: source, Action: "settings.change", Target: "name", Before: before, After: name,
				Detail: "the " + source + " workspace's name; settings name replaces it"}},
			PinRevision: true, Revision: snap.Revision,
		})
	})
	if err != nil {
		return false, fmt.Errorf("learn the organization's name: %w", err)
	}
	return named, nil
}

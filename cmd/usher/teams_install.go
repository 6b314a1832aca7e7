package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/teams"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
)

// teamsInstalls is bot/teams.Installs over the directory, with
// MICROSOFT_ALLOWED_TENANTS=directory: one bot registration (a single-tenant
// Azure Bot whose Entra app is multi-tenant, so that other tenants can
// install it) serving many tenants, each its own organization.
type teamsInstalls struct {
	s *server
	p *teamsPart
}

// installLock bounds how long one install may hold a tenant's lock, and
// installWait how long the others wait for its organization.
const (
	installLock = 30 * time.Second
	installWait = 10 * time.Second
)

// teamsOrgID is the organization a tenant that installs usher gets:
// "teams-" and the start of its tenant id (26 of its 36 characters, 96
// random bits: an id is at most 32 characters), which Entra never reuses.
func teamsOrgID(tenant string) (org.ID, error) {
	var b strings.Builder
	for _, r := range strings.ToLower(tenant) {
		if (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') && b.Len() < org.MaxIDLen-len("teams-") {
			b.WriteRune(r)
		}
	}
	return org.ParseID(strings.TrimRight("teams-"+b.String(), "-"))
}

// teamsOrgName names a new organization after what the installation says:
// the domain of the installer's address (the tenant's own name needs
// Microsoft Graph, which usher does not ask for), else the team's name.
// Admins rename it with `settings name`.
func teamsOrgName(in teams.Install, id org.ID) string {
	if _, domain, ok := strings.Cut(in.Installer.Email, "@"); ok && domain != "" {
		return domain
	}
	if in.Team != "" {
		return in.Team
	}
	return string(id)
}

func (ti teamsInstalls) Installed(ctx context.Context, in teams.Install) (teams.Installed, error) {
	t := org.TeamsTenant(in.Tenant)
	if err := t.Validate(); err != nil {
		return teams.Installed{}, err
	}
	dir := ti.s.store.Directory()
	res, done, err := ti.record(ctx, dir, t, in)
	if err != nil || done {
		return res, err
	}
	// No organization has the tenant: this installer's becomes its.
	if err := ti.mayCreate(t, in); err != nil {
		return teams.Installed{}, err
	}
	unlock, ok, err := dir.LockTeamsInstall(ctx, t.TenantID, installLock)
	if err != nil {
		return teams.Installed{}, err
	}
	if !ok {
		// Another installation of the same tenant is creating it (an admin's
		// setup policy installs usher for everyone at once): wait for it.
		deadline := time.Now().Add(installWait)
		for time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return teams.Installed{}, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			if res, done, err := ti.record(ctx, dir, t, in); err != nil || done {
				return res, err
			}
		}
		return teams.Installed{}, fmt.Errorf("teams install of tenant %s: another installation holds the tenant's lock", t.TenantID)
	}
	defer unlock()
	if res, done, err := ti.record(ctx, dir, t, in); err != nil || done {
		return res, err // it finished just before the lock was ours
	}
	id, err := teamsOrgID(t.TenantID)
	if err != nil {
		return teams.Installed{}, err
	}
	if g, found, err := dir.Get(ctx, id); err != nil {
		return teams.Installed{}, err
	} else if found {
		// The tenant's own organization exists without the tenant (its
		// link was lost, say, or an operator made it by that name): link
		// it back, unless it has a Teams tenant already, which is never
		// merged with another.
		for _, other := range g.Tenants {
			if other.Platform == org.PlatformTeams {
				return teams.Installed{}, org.Errorf(org.CodeConflict, "usher cannot set up this tenant by itself: organization %s belongs to another Microsoft Teams tenant.", id).
					WithHint("Whoever runs usher can set it up: usher org create NAME --admin EMAIL --id ID --teams-tenant %s", t.TenantID)
			}
		}
		if err := dir.Link(ctx, id, t); err != nil {
			return teams.Installed{}, err
		}
		ti.s.orgs.forget(t)
		if res, done, err := ti.record(ctx, dir, t, in); err != nil || done {
			res.Again = true
			return res, err
		}
		return teams.Installed{}, fmt.Errorf("teams install: organization %s linked but not found linked", id)
	}
	if err := ti.s.createInstalled(ctx, id, teamsOrgName(in, id), in.Installer.Email, t); err != nil {
		return teams.Installed{}, err
	}
	ti.s.log.InfoContext(ctx, "teams install: organization created", "org", string(id), "tenant", t.TenantID)
	ti.s.orgs.forget(t)
	if _, got, err := dir.TeamsInstalled(ctx, t.TenantID, in.Conversation, id); err != nil || got != storage.TeamsLinked {
		return teams.Installed{}, fmt.Errorf("teams install: record the installation of organization %s: %q %w", id, got, err)
	}
	ti.audit(ctx, id, in, "install.add", fmt.Sprintf("%s installation; organization %s created with %s as its first admin", scopeOf(in), id, in.Installer.Email), "")
	return teams.Installed{Org: id, Created: true}, nil
}

// record records the installation when the directory links the tenant (or
// linked it until its last uninstall): done is false when it links it to
// nothing.
func (ti teamsInstalls) record(ctx context.Context, dir *storage.Directory, t org.Tenant, in teams.Install) (teams.Installed, bool, error) {
	own, err := teamsOrgID(t.TenantID)
	if err != nil {
		return teams.Installed{}, false, err
	}
	id, got, err := dir.TeamsInstalled(ctx, t.TenantID, in.Conversation, own)
	switch {
	case err != nil:
		return teams.Installed{}, false, err
	case got == storage.TeamsRelinked:
		ti.s.orgs.forget(t)
		ti.s.log.InfoContext(ctx, "teams install: tenant linked again to its organization", "org", string(id), "tenant", t.TenantID)
		ti.audit(ctx, id, in, "install.add", scopeOf(in)+" installation; the tenant is linked again (it was unlinked by an uninstall), the organization's data kept", "")
		return teams.Installed{Org: id, Again: true}, true, nil
	case got == storage.TeamsLinked:
		ti.audit(ctx, id, in, "install.add", scopeOf(in)+" installation", "")
		return teams.Installed{Org: id}, true, nil
	}
	return teams.Installed{}, false, nil
}

// mayCreate refuses a new organization for a tenant not on the allow-list
// (when MICROSOFT_ALLOWED_TENANTS lists some after "directory") and for an
// installer who cannot be its first admin: a guest or an anonymous user of
// the tenant, or one without an address. The address is the one Entra has
// for the person in the tenant that installs usher (mail, else the
// userPrincipalName, whose domain Entra only allows when the tenant has
// verified it): the tenant vouches for it, as it does for every Teams
// request usher authenticates by it.
func (ti teamsInstalls) mayCreate(t org.Tenant, in teams.Install) error {
	if !guidPattern.MatchString(t.TenantID) {
		return org.Errorf(org.CodeInvalid, "usher cannot set up this tenant by itself: %q is not a Microsoft Entra tenant id.", t.TenantID)
	}
	if list := ti.p.tc.allowedTenants; len(list) > 0 && !containsFold(list, t.TenantID) {
		return org.Errorf(org.CodeForbidden, "usher is not available to this Microsoft Teams tenant.").
			WithHint("Whoever runs usher can set it up for you: usher org link ORG --teams-tenant %s", t.TenantID)
	}
	switch {
	case in.Role == "guest" || in.Role == "anonymous":
		return org.Errorf(org.CodeForbidden, "usher is not set up for this tenant yet, and a guest can't become its first admin.").
			WithHint("Ask someone of the tenant's own organization to install usher first.")
	case in.Installer.Email == "":
		return org.Errorf(org.CodeInvalid, "usher could not read an email address for you in Microsoft Teams, so it cannot make you this tenant's first admin.").
			WithHint("Ask someone whose account has an email address to install usher first, or whoever runs usher to set it up: usher org create NAME --admin EMAIL --teams-tenant %s", t.TenantID)
	}
	return nil
}

func (ti teamsInstalls) Removed(ctx context.Context, in teams.Install) (bool, error) {
	t := org.TeamsTenant(in.Tenant)
	if err := t.Validate(); err != nil {
		return false, err
	}
	id, got, err := ti.s.store.Directory().TeamsRemoved(ctx, t.TenantID, in.Conversation)
	if err != nil {
		return false, err
	}
	switch got {
	case storage.TeamsUnlinked:
		ti.s.orgs.forget(t)
		ti.s.log.WarnContext(ctx, "teams: usher was removed from the tenant: unlinked from its organization, whose data stays", "org", string(id), "tenant", t.TenantID)
		ti.audit(ctx, id, in, "install.remove", scopeOf(in)+" installation removed, the tenant's last: the tenant is unlinked and "+
			"nothing is sent to it; the organization's data stays, and installing usher again links it back",
			fmt.Sprintf("usher was removed from your Microsoft Teams tenant (%s), so it no longer writes to anyone there. "+
				"Organization %s and its people are kept: install usher in Teams again to bring it back.", in.Tenant, id))
		return true, nil
	case storage.TeamsLinked:
		ti.audit(ctx, id, in, "install.remove", scopeOf(in)+" installation removed", "")
	}
	return false, nil
}

// audit writes an install event in the organization's audit log, and
// delivers tell (when set) to its admins: the router tries their other
// platforms (Slack, email) when Teams no longer reaches them. The directory
// changed first (another Redis slot); a lost entry is logged.
func (ti teamsInstalls) audit(ctx context.Context, id org.ID, in teams.Install, action, detail, tell string) {
	actor := in.Installer.Email
	if actor == "" && in.Installer.UserID != "" {
		actor = "teams:" + in.Installer.UserID
	}
	err := ti.s.recordInstall(ctx, id, handlers.InstallEvent{Platform: teams.Platform, Action: action, Target: "Teams tenant " + in.Tenant,
		Actor: actor, Detail: detail, Tell: tell})
	if err != nil {
		ti.s.log.WarnContext(ctx, "teams install: event not audited", "org", string(id), "action", action, "err", err)
	}
}

func scopeOf(in teams.Install) string {
	switch {
	case in.Team != "":
		return fmt.Sprintf("team %q", in.Team)
	case in.Scope != "":
		return in.Scope
	}
	return "personal"
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

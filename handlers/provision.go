package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers/command"
	"github.com/usher-chat/usher/handlers/org"
)

// Provisioning: an identity provider (Okta, Entra ID) creating, changing and
// deactivating members and workspaces over SCIM (bot/scim translates the
// protocol). Each change is the same guarded transition as the chat
// command's — a user write pinned to the version read, the last-active-admin
// guard in storage, one audit entry per aspect changed — with the provider
// as the actor, and the people concerned are told in chat as they are when
// an admin acts.

// Provider is the identity provider acting: its name (from the credential
// it signs in with) and which credential.
type Provider struct {
	Name    string // e.g. "okta", "entra"
	TokenID string
	// Outbox, when set, queues the messages a change causes in the change's
	// own commit (as Request.Outbox does for chat commands); nil: they are
	// returned for the caller to deliver.
	Outbox Outbox
}

// Actor is the provider's name in audit entries ("scim:okta").
func (p Provider) Actor() string { return "scim:" + p.Name }

// Display is how people are told who acted ("okta (SCIM)").
func (p Provider) Display() string { return p.Name + " (SCIM)" }

// call is a provider's change run as a command would be.
func (p Provider) call(s *Service, verb string) *call {
	c := s.systemCall(verb, org.Identity{Platform: "scim", UserID: p.TokenID, Email: p.Actor()})
	c.req.Outbox = p.Outbox
	c.provider = &p
	return c
}

// Provided is what a provider says a person is. A nil field was not said,
// and is left as it is: a provider that never sends a role does not undo the
// role an admin gave in chat.
type Provided struct {
	Email      string // userName, the usher identity (compared as everywhere)
	Name       *string
	ExternalID *string
	Role       *org.Role
	Active     *bool
}

// ProvidedUsers is a page of the organization's users in email order (the
// order of the users index, stable across pages) and how many there are, in
// one round trip.
func (s *Service) ProvidedUsers(ctx context.Context, offset, count int) ([]*org.User, int, error) {
	if offset < 0 || offset > maxOffset {
		count = 0 // past any organization's end; the total is still read
	}
	snap, err := s.store.Load(ctx, org.Query{UserPage: &org.Page{Offset: offset, Count: count}})
	if err != nil {
		return nil, 0, fmt.Errorf("provided users: %w", err)
	}
	return snap.Page, snap.UserTotal, nil
}

// maxOffset keeps offset+count far from overflowing into a negative rank
// (which Redis would read from the end).
const maxOffset = 1 << 40

// ProvidedUser is the user with email, nil when none (a malformed address
// is nobody: a provider's connection test asks for a random GUID).
func (s *Service) ProvidedUser(ctx context.Context, email string) (*org.User, error) {
	email, err := org.NormalizeEmail(email)
	if err != nil {
		return nil, nil
	}
	snap, err := s.store.Load(ctx, org.Query{Users: []string{email}})
	if err != nil {
		return nil, fmt.Errorf("provided user: %w", err)
	}
	return snap.Users[email], nil
}

// ProvidedUserByExternalID is the user the provider knows by id, nil when none.
func (s *Service) ProvidedUserByExternalID(ctx context.Context, id string) (*org.User, error) {
	if id == "" {
		return nil, nil
	}
	snap, err := s.store.Load(ctx, org.Query{ExternalID: id})
	if err != nil {
		return nil, fmt.Errorf("provided user: %w", err)
	}
	if u := snap.External; u != nil && u.ExternalID == id {
		return u, nil
	}
	return nil, nil
}

// Provision creates a member as the provider says (role default member,
// active unless said otherwise) and tells them in chat, with their role.
// An existing user is refused with CodeConflict: the provider is to match
// them (filter on userName) and update instead.
func (s *Service) Provision(ctx context.Context, p Provider, in Provided) (*org.User, []Delivery, error) {
	email, spelling, err := org.SpellEmail(in.Email)
	if err != nil {
		return nil, nil, org.Errorf(org.CodeInvalid, "userName %q is not an email address; usher knows people by their email.", in.Email)
	}
	c := p.call(s, "provision")
	var made *org.User
	var ds []Delivery
	err = retry(func() error {
		c.now = s.Now()
		q := org.Query{Users: []string{email}}
		if in.ExternalID != nil {
			q.ExternalID = *in.ExternalID
		}
		snap, err := s.store.Load(ctx, q)
		if err != nil {
			return fmt.Errorf("provision %s: %w", email, err)
		}
		if u := snap.Users[email]; u != nil {
			return org.Errorf(org.CodeConflict, "%s is already a member of %s (%s, %s).", u.Display(), snap.Settings.Name, u.Role, u.Status)
		}
		if other := snap.External; other != nil && other.ExternalID == q.ExternalID {
			return org.Errorf(org.CodeConflict, "externalId %q already belongs to %s.", q.ExternalID, other.Display())
		}
		u := &org.User{Email: email, Spelling: spelling, Role: org.RoleMember, Status: org.StatusActive, Created: c.now, Updated: c.now}
		if in.Role != nil {
			u.Role = *in.Role
		}
		if in.Active != nil && !*in.Active {
			u.Status = org.StatusDeactivated
		}
		if in.Name != nil {
			if u.Name, err = providedName(*in.Name); err != nil {
				return err
			}
		}
		if in.ExternalID != nil {
			u.ExternalID = *in.ExternalID
		}
		ch := org.Change{
			Users: []org.UserWrite{{User: u}},
			Audit: []org.AuditEntry{{Action: "user.provision", Target: email, Before: "none", After: describeUser(u),
				Detail: "created by " + p.Display()}},
		}
		made, ds = u, nil
		if u.Active() {
			// Workspaces follow as the provider assigns groups, each told
			// as it comes (ProvideMembers).
			text := fmt.Sprintf("%s added you to %s as %s.", c.who(snap), snap.Settings.Name, u.Role)
			n := notice(email, text)
			n.Message.Fields = []Field{{Label: "Your workspaces", Value: u.Workspaces.String()}}
			ds = []Delivery{n}
		}
		ds, err = s.commitDelivering(ctx, c, snap, ch, ds)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	made.Version = 1
	return made, ds, nil
}

// providedName is a name as a provider sends it: blank is no name (a
// provider may clear it), anything else as the web's names are checked.
func providedName(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	return NormalizeDisplayName(s)
}

// UpdateProvided makes the member email what the provider says, in one
// commit: each aspect that changes gets its own audit entry (user.name,
// user.role, user.status, user.external_id), deactivation keeps the last
// active admin as chat does, and the member is told what changed.
func (s *Service) UpdateProvided(ctx context.Context, p Provider, in Provided) (*org.User, []Delivery, error) {
	return s.updateProvided(ctx, p, in, "")
}

// Deprovision is a provider's DELETE: usher never forgets a member
// silently, so the member is deactivated (role and workspaces kept, as
// chat's deactivate does) and the audit entry says the provider deleted them.
func (s *Service) Deprovision(ctx context.Context, p Provider, email string) ([]Delivery, error) {
	off := false
	_, ds, err := s.updateProvided(ctx, p, Provided{Email: email, Active: &off}, "deleted in "+p.Display()+"; usher keeps the member, deactivated")
	return ds, err
}

func (s *Service) updateProvided(ctx context.Context, p Provider, in Provided, detail string) (*org.User, []Delivery, error) {
	email, err := org.NormalizeEmail(in.Email)
	if err != nil {
		return nil, nil, org.Errorf(org.CodeNotFound, "%q is not a member.", in.Email)
	}
	c := p.call(s, "provision update")
	var out *org.User
	var ds []Delivery
	err = retry(func() error {
		c.now = s.Now()
		q := org.Query{Users: []string{email}, Admins: true}
		if in.ExternalID != nil {
			q.ExternalID = *in.ExternalID
		}
		snap, err := s.store.Load(ctx, q)
		if err != nil {
			return fmt.Errorf("provision update %s: %w", email, err)
		}
		u := snap.Users[email]
		if u == nil {
			return org.Errorf(org.CodeNotFound, "%s is not a member of %s.", email, snap.Settings.Name)
		}
		next := u.Clone()
		var audit []org.AuditEntry
		var tell []string
		if in.Name != nil {
			name, err := providedName(*in.Name)
			if err != nil {
				return err
			}
			if name != u.Name {
				next.Name = name
				audit = append(audit, org.AuditEntry{Action: "user.name", Target: email, Before: u.Name, After: name})
			}
		}
		w := org.UserWrite{User: next, Version: u.Version}
		if in.ExternalID != nil && *in.ExternalID != u.ExternalID {
			if other := snap.External; *in.ExternalID != "" && other != nil && other.ExternalID == *in.ExternalID && other.Email != email {
				return org.Errorf(org.CodeConflict, "externalId %q already belongs to %s.", *in.ExternalID, other.Display())
			}
			next.ExternalID, w.OldExternalID = *in.ExternalID, u.ExternalID
			audit = append(audit, org.AuditEntry{Action: "user.external_id", Target: email, Before: u.ExternalID, After: next.ExternalID})
		}
		if in.Role != nil && *in.Role != u.Role {
			next.Role = *in.Role
			next.Workspaces = next.Workspaces.ForRole(next.Role)
			audit = append(audit, org.AuditEntry{Action: "user.role", Target: email, Before: string(u.Role), After: string(next.Role)})
			tell = append(tell, fmt.Sprintf("%s changed your role in %s from %s to %s.", p.Display(), snap.Settings.Name, u.Role, next.Role))
		}
		if in.Active != nil {
			status := org.StatusDeactivated
			if *in.Active {
				status = org.StatusActive
			}
			if status != u.Status {
				next.Status = status
				audit = append(audit, org.AuditEntry{Action: "user.status", Target: email, Before: string(u.Status), After: string(status), Detail: detail})
			} else if detail != "" {
				// Deleted while already deactivated: still the provider's act.
				audit = append(audit, org.AuditEntry{Action: "user.deprovision", Target: email, Before: string(u.Status), After: string(status), Detail: detail})
			}
		}
		out, ds = u, nil
		if len(audit) == 0 {
			return nil // what the provider says is already so: nothing written
		}
		s.noteOverrides(ctx, p, audit)
		if u.IsActiveAdmin() && !next.IsActiveAdmin() && org.LastActiveAdmin(u, snap.Admins) {
			// Refused before the commit, with the reason; the commit's guard
			// still decides a race with a chat demotion.
			return org.LastAdminError(u.Display())
		}
		next.Updated = c.now
		ch := org.Change{Users: []org.UserWrite{w}, Audit: audit}
		if u.Active() && !next.Active() {
			ch.EndSessions = []string{email}
		}
		switch {
		case u.Active() && !next.Active():
			ds = append(ds, notice(email, fmt.Sprintf("%s deactivated your account in %s.", c.who(snap), snap.Settings.Name)))
		case !u.Active() && next.Active():
			ds = append(ds, notice(email, s.reactivatedNotice(ctx, c, snap, next)))
		case next.Active():
			for _, t := range tell {
				ds = append(ds, notice(email, t))
			}
		}
		if ds, err = s.commitDelivering(ctx, c, snap, ch, ds); err != nil {
			return err
		}
		next.Version = u.Version + 1
		out = next
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, ds, nil
}

// noteOverrides says, in a provider's role or status entry, when it undoes
// a change a person made (in chat, the web or the terminal) since: a sync
// that reverts an admin's decision is never silent. It reads the audit only
// when such a change is about to be written, which is rare.
func (s *Service) noteOverrides(ctx context.Context, p Provider, audit []org.AuditEntry) {
	var past []org.AuditEntry
	for i := range audit {
		e := &audit[i]
		if e.Action != "user.role" && e.Action != "user.status" {
			continue
		}
		if past == nil {
			snap, err := s.store.Load(ctx, org.Query{AuditLimit: reactivationAudit})
			if err != nil {
				s.log.WarnContext(ctx, "provisioning: could not read the audit", "err", err)
				return
			}
			past = snap.Audit
		}
		for _, prev := range past { // newest first
			if prev.Target != e.Target || prev.Action != e.Action {
				continue
			}
			if !strings.HasPrefix(prev.Actor, "scim:") && prev.After == e.Before {
				note := fmt.Sprintf("overrides %s's change %s -> %s of %s", prev.Actor, prev.Before, prev.After, prev.At.UTC().Format(time.RFC3339))
				e.Detail = strings.TrimPrefix(e.Detail+"; "+note, "; ")
			}
			break
		}
	}
}

// ProvidedWorkspaces are the organization's workspaces with their members
// (every user, active or not, who has access: identity and access only), in
// one round trip; without members, only the workspaces
// (excludedAttributes=members).
func (s *Service) ProvidedWorkspaces(ctx context.Context, members bool) ([]org.Workspace, map[string][]*org.User, error) {
	snap, err := s.store.Load(ctx, org.Query{Workspaces: true, AllAccess: members})
	if err != nil {
		return nil, nil, fmt.Errorf("provided workspaces: %w", err)
	}
	ws := slices.Clone(snap.Workspaces)
	slices.SortFunc(ws, func(a, b org.Workspace) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	by := map[string][]*org.User{}
	for _, u := range sortedUsers(snap.AllUsers) {
		for _, g := range u.Workspaces {
			by[g.Workspace] = append(by[g.Workspace], u)
		}
	}
	return ws, by, nil
}

// ProvidedWorkspaceMembers are the users with access to workspace name
// (active or not), in email order, read without everyone else.
func (s *Service) ProvidedWorkspaceMembers(ctx context.Context, name string) ([]*org.User, error) {
	snap, err := s.store.Load(ctx, org.Query{AccessTo: name})
	if err != nil {
		return nil, fmt.Errorf("provided workspace %s: %w", name, err)
	}
	var out []*org.User
	for _, u := range sortedUsers(snap.AllUsers) {
		if _, ok := u.Workspaces.Get(name); ok {
			out = append(out, u)
		}
	}
	return out, nil
}

// ProvisionWorkspace creates workspace name for the provider's group, with
// the members given (emails) granted their role's default access.
func (s *Service) ProvisionWorkspace(ctx context.Context, p Provider, group string, members []string) (org.Workspace, []Delivery, error) {
	name, err := org.WorkspaceNameFor(group)
	if err != nil {
		return org.Workspace{}, nil, err
	}
	c := p.call(s, "provision workspace")
	var made org.Workspace
	var ds []Delivery
	err = retry(func() error {
		c.now = s.Now()
		snap, err := s.store.Load(ctx, org.Query{Workspaces: true, Users: members})
		if err != nil {
			return fmt.Errorf("provision workspace %s: %w", name, err)
		}
		if _, err := org.FindWorkspace(snap.Workspaces, name); err == nil {
			return org.Errorf(org.CodeConflict, "Workspace %s already exists.", name)
		}
		ws := org.Workspace{Name: name, Creator: p.Actor(), Created: c.now}
		// Two workspaces made in one millisecond would share a SCIM id
		// (made from creator and creation time, which a rename keeps).
		for slices.ContainsFunc(snap.Workspaces, func(o org.Workspace) bool { return o.Creator == ws.Creator && o.Created.Equal(ws.Created) }) {
			ws.Created = ws.Created.Add(1e6)
		}
		// The workspace and its first members in one commit: a member
		// refused (not in the organization) leaves no workspace behind for
		// the provider's retry to collide with.
		ch := org.Change{
			Workspace:   &ws,
			PinRevision: true, Revision: snap.Revision,
			Audit: []org.AuditEntry{{Action: "workspace.create", Target: name, After: name, Detail: "group " + group + " in " + p.Display()}},
		}
		if ds, err = memberChanges(c, p, snap, ws, members, nil, &ch); err != nil {
			return err
		}
		if len(ch.Users) > 0 {
			ch.MoveRevision = true
		}
		made = ws
		ds, err = s.commitDelivering(ctx, c, snap, ch, ds)
		return err
	})
	if err != nil {
		return org.Workspace{}, nil, err
	}
	return made, ds, nil
}

// RenameProvidedWorkspace renames workspace from after its group, in
// everyone's access and open invitations, as `workspace rename` does.
func (s *Service) RenameProvidedWorkspace(ctx context.Context, p Provider, from, group string) (string, []Delivery, error) {
	to, err := org.WorkspaceNameFor(group)
	if err != nil {
		return "", nil, err
	}
	if to == from {
		return to, nil, nil
	}
	c := p.call(s, "workspace rename")
	var r Reply
	err = retry(func() error {
		c.now = s.Now()
		snap, ws, m, err := s.loadWorkspace(ctx, c, from)
		if err != nil {
			return err
		}
		if _, err := org.FindWorkspace(snap.Workspaces, to); err == nil {
			return org.Errorf(org.CodeConflict, "Workspace %s already exists.", to)
		}
		r, err = s.commitRename(ctx, c, snap, ws, m, to)
		return err
	})
	return to, r.Deliveries, err
}

// DeleteProvidedWorkspace deletes workspace name for a deleted group,
// taking it out of everyone's access (`workspace delete --force`).
func (s *Service) DeleteProvidedWorkspace(ctx context.Context, p Provider, name string) ([]Delivery, error) {
	c := p.call(s, "workspace delete")
	c.cmd = command.Command{Verb: "workspace delete", Args: []string{name}, Flags: map[string][]string{"force": {"true"}, "confirm": {"true"}}}
	var r Reply
	err := retry(func() error {
		c.now = s.Now()
		var err error
		r, err = s.deleteWorkspace(ctx, c)
		return err
	})
	return r.Deliveries, err
}

// ProvideMembers grants workspace name to the emails in add and takes it
// from those in remove, in one commit with an audit entry per member; the
// members are told as `access grant` tells them. Members who already are as
// asked are left alone; an email that is not a member is refused.
func (s *Service) ProvideMembers(ctx context.Context, p Provider, name string, add, remove []string) ([]Delivery, error) {
	c := p.call(s, "provision members")
	var ds []Delivery
	err := retry(func() error {
		c.now = s.Now()
		emails := append(slices.Clone(add), remove...)
		snap, err := s.store.Load(ctx, org.Query{Workspaces: true, Users: emails})
		if err != nil {
			return fmt.Errorf("provision members %s: %w", name, err)
		}
		ws, err := org.FindWorkspace(snap.Workspaces, name)
		if err != nil {
			return err
		}
		ch := org.Change{PinRevision: true, Revision: snap.Revision, MoveRevision: true}
		if ds, err = memberChanges(c, p, snap, ws, add, remove, &ch); err != nil {
			return err
		}
		if len(ch.Users) == 0 {
			return nil
		}
		ds, err = s.commitDelivering(ctx, c, snap, ch, ds)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// memberChanges adds to ch the grant of ws to the users in add and its
// revocation from those in remove (read in snap), an audit entry each, and
// returns what each is told. Users already as asked are left alone; an
// email that is not a member refuses the whole change.
func memberChanges(c *call, p Provider, snap *org.Snapshot, ws org.Workspace, add, remove []string, ch *org.Change) ([]Delivery, error) {
	var ds []Delivery
	seen := map[string]bool{}
	change := func(email string, grant bool) error {
		if seen[email] {
			return nil
		}
		seen[email] = true
		u := snap.Users[email]
		if u == nil {
			return org.Errorf(org.CodeNotFound, "%s is not a member of %s.", email, snap.Settings.Name)
		}
		next := u.Clone()
		var what string
		if grant {
			if _, ok := u.Workspaces.Get(ws.Name); ok {
				return nil
			}
			g := org.Grant{Workspace: ws.Name, Role: org.DefaultWorkspaceRole(u.Role)}
			next.Workspaces = u.Workspaces.With(g)
			what = "granted " + g.String()
		} else {
			var had bool
			if next.Workspaces, had = org.WithoutWorkspace(u.Workspaces, ws.Name); !had {
				return nil
			}
			what = "revoked " + ws.Name
		}
		next.Updated = c.now
		ch.Users = append(ch.Users, org.UserWrite{User: next, Version: u.Version})
		ch.Audit = append(ch.Audit, org.AuditEntry{Action: "user.access", Target: email, Before: u.Workspaces.Encode(), After: next.Workspaces.Encode(),
			Detail: what + " (group " + ws.Name + " in " + p.Display() + ")"})
		if u.Active() {
			n := notice(email, fmt.Sprintf("%s changed your workspace access in %s: %s.", c.who(snap), snap.Settings.Name, what))
			n.Message.Fields = []Field{{Label: "Your workspaces", Value: next.Workspaces.String()}}
			ds = append(ds, n)
		}
		return nil
	}
	for _, e := range add {
		if err := change(e, true); err != nil {
			return nil, err
		}
	}
	clear(seen)
	for _, e := range remove {
		if err := change(e, false); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

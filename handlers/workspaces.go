package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
)

// workspaces lists workspaces with how many active members have each.
func (s *Service) workspaces(ctx context.Context, c *call) (Reply, error) {
	snap, err := s.load(ctx, c, org.Query{Workspaces: true, AllUsers: true})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActListWorkspaces); err != nil {
		return Reply{}, err
	}
	ws := slices.SortedFunc(slices.Values(snap.Workspaces), func(a, b org.Workspace) int { return strings.Compare(a.Name, b.Name) })
	r := Reply{Message: Message{Title: "Workspaces"}}
	if len(ws) == 0 {
		r.Text = "There are no workspaces yet."
		r.Footer = "Create one with: workspace create NAME"
		return r, nil
	}
	r.Text = plural(len(ws), "workspace", "workspaces") + ":"
	for _, w := range ws {
		n := 0
		for _, u := range snap.AllUsers {
			if _, ok := u.Workspaces.Get(w.Name); ok && u.Active() {
				n++
			}
		}
		mine := ""
		if g, ok := snap.Actor.Workspaces.Get(w.Name); ok {
			mine = ", you are " + string(g.Role)
		}
		r.Items = append(r.Items, Item{Text: fmt.Sprintf("%s — %s%s", w.Name, plural(n, "member", "members"), mine)})
	}
	return r, nil
}

// createWorkspace creates a workspace; its creator becomes its manager.
func (s *Service) createWorkspace(ctx context.Context, c *call) (Reply, error) {
	name, err := org.NewWorkspaceName(c.cmd.Args[0])
	if err != nil {
		return Reply{}, err
	}
	snap, err := s.load(ctx, c, org.Query{})
	if err != nil {
		return Reply{}, err
	}
	actor := snap.Actor
	if err := org.Authorize(actor, snap.Settings, org.ActCreateWorkspace); err != nil {
		return Reply{}, err
	}
	next := actor.Clone()
	next.Workspaces = next.Workspaces.With(org.Grant{Workspace: name, Role: org.WorkspaceManager}).ForRole(actor.Role)
	next.Updated = c.now
	err = s.commit(ctx, c, snap, org.Change{
		Workspace: &org.Workspace{Name: name, Creator: c.email, Created: c.now},
		Users:     []org.UserWrite{{User: next, Version: actor.Version}},
		Audit:     []org.AuditEntry{{Action: "workspace.create", Target: name}},
	})
	if err != nil {
		return Reply{}, err
	}
	g, _ := next.Workspaces.Get(name)
	return Reply{Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("Created workspace %s; you are its %s.", name, g.Role),
		Footer: fmt.Sprintf("Invite people to it with: invite EMAIL --workspace %s", name)}}, nil
}

// workspaceMembers is what a rename or delete touches: every member with
// access to a workspace (whatever their status: a deactivated member keeps
// their access for reactivation) and every open invitation that grants it,
// all as read.
type workspaceMembers struct {
	users []*org.User
	invs  []*org.Invitation
}

func (m workspaceMembers) count() int { return len(m.users) + len(m.invs) }

// loadWorkspace reads a workspace an admin renames or deletes, with its
// members and open invitations.
func (s *Service) loadWorkspace(ctx context.Context, c *call, arg string) (*org.Snapshot, org.Workspace, workspaceMembers, error) {
	var m workspaceMembers
	name, err := org.NormalizeWorkspaceName(arg)
	if err != nil {
		return nil, org.Workspace{}, m, err
	}
	snap, err := s.load(ctx, c, org.Query{Workspaces: true, AllUsers: true, Pending: true, Requests: true})
	if err != nil {
		return nil, org.Workspace{}, m, err
	}
	if c.provider == nil { // a provider manages the organization's groups
		if err := org.CheckManageWorkspace(snap.Actor, snap.Settings); err != nil {
			return nil, org.Workspace{}, m, err
		}
	}
	ws, err := org.FindWorkspace(snap.Workspaces, name)
	if err != nil {
		return nil, org.Workspace{}, m, err
	}
	if snap.PendingTotal > len(snap.Pending) {
		// The read was cut short: an invitation not read would keep
		// granting a workspace that is gone.
		return nil, org.Workspace{}, m, org.Errorf(org.CodeConflict, "There are too many pending invitations (%d) for usher to rewrite them in one step.", snap.PendingTotal).
			WithHint("Revoke the ones that are no longer needed, then try again.")
	}
	for _, u := range snap.AllUsers {
		if _, ok := u.Workspaces.Get(name); ok {
			m.users = append(m.users, u)
		}
	}
	for _, inv := range append(append([]*org.Invitation(nil), snap.Pending...), snap.Requests...) {
		if _, ok := inv.Workspaces.Get(name); ok {
			m.invs = append(m.invs, inv)
		}
	}
	return snap, ws, m, nil
}

// renameWorkspace gives a workspace a new name, in every member's access and
// every open invitation, in one commit: nobody is left with a grant to a
// name that no longer exists.
func (s *Service) renameWorkspace(ctx context.Context, c *call) (Reply, error) {
	to, err := org.NewWorkspaceName(c.cmd.Args[1])
	if err != nil {
		return Reply{}, err
	}
	snap, ws, m, err := s.loadWorkspace(ctx, c, c.cmd.Args[0])
	if err != nil {
		return Reply{}, err
	}
	if to == ws.Name {
		return Reply{Code: org.CodeConflict, Message: Message{Tone: ToneInfo, Text: fmt.Sprintf("Workspace %s already has that name; nothing changed.", ws.Name)}}, nil
	}
	if _, err := org.FindWorkspace(snap.Workspaces, to); err == nil {
		return Reply{}, org.Errorf(org.CodeConflict, "Workspace %s already exists.", to).WithHint("Choose another name, or delete %s first.", to)
	}
	return s.commitRename(ctx, c, snap, ws, m, to)
}

// commitRename renames ws to to in one commit with everyone who has it:
// the chat command's and a provider's rename (provision.go).
func (s *Service) commitRename(ctx context.Context, c *call, snap *org.Snapshot, ws org.Workspace, m workspaceMembers, to string) (Reply, error) {
	ch := org.Change{
		RenameWorkspace: &org.WorkspaceRename{From: ws, To: to},
		PinRevision:     true, Revision: snap.Revision,
		Audit: []org.AuditEntry{{Action: "workspace.rename", Target: ws.Name, Before: ws.Name, After: to,
			Detail: fmt.Sprintf("%s, %s", plural(len(m.users), "member", "members"), plural(len(m.invs), "open invitation", "open invitations"))}},
	}
	var ds []Delivery
	for _, u := range m.users {
		next := u.Clone()
		next.Workspaces, _ = org.RenameGrants(u.Workspaces, ws.Name, to)
		next.Updated = c.now
		ch.Users = append(ch.Users, org.UserWrite{User: next, Version: u.Version})
		if u.Email != c.email && u.Active() {
			g, _ := next.Workspaces.Get(to)
			ds = append(ds, notice(u.Email, fmt.Sprintf("%s renamed workspace %s to %s in %s; you are still its %s.", c.who(snap), ws.Name, to, snap.Settings.Name, g.Role)))
		}
	}
	for _, inv := range m.invs {
		next := inv.Clone()
		next.Workspaces, _ = org.RenameGrants(inv.Workspaces, ws.Name, to)
		next.Updated = c.now
		ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: next, Expect: inv.Status, Version: inv.Version})
	}
	ds, err := s.commitDelivering(ctx, c, snap, ch, ds)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("Renamed workspace %s to %s (%s).", ws.Name, to, ch.Audit[0].Detail)}, Deliveries: ds}, nil
}

// deleteWorkspace deletes a workspace after confirmation. While anyone has
// access to it (or an open invitation grants it) it refuses unless --force,
// which takes it out of everyone's access in the same commit.
func (s *Service) deleteWorkspace(ctx context.Context, c *call) (Reply, error) {
	snap, ws, m, err := s.loadWorkspace(ctx, c, c.cmd.Args[0])
	if err != nil {
		return Reply{}, err
	}
	// The admin deleting it does not count: their own access (a creator
	// manages what they create) is theirs to give up, and would otherwise
	// make --force the rule rather than the exception.
	others := m.count()
	if slices.ContainsFunc(m.users, func(u *org.User) bool { return u.Email == c.email }) {
		others--
	}
	who := plural(others-len(m.invs), "member", "members")
	if len(m.invs) > 0 {
		who += " and " + plural(len(m.invs), "open invitation", "open invitations")
	}
	if others > 0 && !c.cmd.Has("force") {
		return Reply{}, org.Errorf(org.CodeConflict, "Workspace %s still has %s.", ws.Name, who).
			WithHint("Revoke their access first (members --workspace %s lists them), or delete it anyway with: workspace delete %s --force", ws.Name, ws.Name)
	}
	// The prompt describes how many have access; a click after that moved
	// asks again.
	state := fmt.Sprint(m.count())
	if confirmed, was := c.confirmation(state); !confirmed {
		q := fmt.Sprintf("Delete workspace %s?", ws.Name)
		if others > 0 {
			q = fmt.Sprintf("Delete workspace %s? It is removed from the access of %s.", ws.Name, who)
		}
		cmd := commandText(c)
		if c.cmd.Has("force") {
			cmd += " --force"
		}
		return statePrompt(cmd, state, was, "The number of people with access to "+ws.Name, q, "Delete workspace", StyleDanger), nil
	}
	ch := org.Change{
		DeleteWorkspace: &ws,
		PinRevision:     true, Revision: snap.Revision,
		Audit: []org.AuditEntry{{Action: "workspace.delete", Target: ws.Name, Before: ws.Name,
			Detail: fmt.Sprintf("removed from %s", who)}},
	}
	var ds []Delivery
	for _, u := range m.users {
		next := u.Clone()
		next.Workspaces, _ = org.WithoutWorkspace(u.Workspaces, ws.Name)
		next.Updated = c.now
		ch.Users = append(ch.Users, org.UserWrite{User: next, Version: u.Version})
		ch.Audit = append(ch.Audit, org.AuditEntry{Action: "user.access", Target: u.Email, Before: u.Workspaces.Encode(), After: next.Workspaces.Encode(),
			Detail: "workspace " + ws.Name + " deleted"})
		if u.Email != c.email && u.Active() {
			ds = append(ds, notice(u.Email, fmt.Sprintf("%s deleted workspace %s in %s; you no longer have access to it.", c.who(snap), ws.Name, snap.Settings.Name)))
		}
	}
	for _, inv := range m.invs {
		next := inv.Clone()
		next.Workspaces, _ = org.WithoutWorkspace(inv.Workspaces, ws.Name)
		next.Updated = c.now
		ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: next, Expect: inv.Status, Version: inv.Version})
	}
	if others == 0 {
		ch.Audit[0].Detail = "it had no other members"
	}
	ds, err = s.commitDelivering(ctx, c, snap, ch, ds)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Replace: true, Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("Deleted workspace %s (%s).", ws.Name, ch.Audit[0].Detail)}, Deliveries: ds}, nil
}

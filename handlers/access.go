package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
)

// Access after joining: `access EMAIL` shows a member's workspaces, `access
// grant` and `access revoke` change them. Who may is org.DecideAccess's
// matrix (admins anywhere; a workspace's managers in it).

// showAccess lists a member's workspaces and their role in each.
func (s *Service) showAccess(ctx context.Context, c *call) (Reply, error) {
	email, err := target(c.cmd.Args[0])
	if err != nil {
		return Reply{}, err
	}
	snap, err := s.load(ctx, c, org.Query{Users: []string{email}})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActViewAccess); err != nil {
		return Reply{}, err
	}
	u, err := accessTarget(snap, email)
	if err != nil {
		return Reply{}, err
	}
	r := Reply{Message: Message{Title: "Access of " + u.Display()}}
	status := ""
	if !u.Active() {
		status = ", " + string(u.Status)
	}
	if len(u.Workspaces) == 0 {
		r.Text = fmt.Sprintf("%s (%s%s) has no workspaces yet.", u.Display(), u.Role, status)
		r.Footer = fmt.Sprintf("Admins and a workspace's managers can grant access with: access grant %s WORKSPACE[:ROLE]", quote(u.Display()))
		return r, nil
	}
	r.Text = fmt.Sprintf("%s (%s%s) has %s:", u.Display(), u.Role, status, plural(len(u.Workspaces), "workspace", "workspaces"))
	for _, g := range u.Workspaces {
		r.Items = append(r.Items, Item{Text: fmt.Sprintf("%s — %s", g.Workspace, g.Role)})
	}
	return r, nil
}

// grantAccess gives a member access to workspaces, or changes their role
// there.
func (s *Service) grantAccess(ctx context.Context, c *call) (Reply, error) {
	req := org.AccessSpec{}
	for _, a := range c.cmd.Args[1:] {
		g, err := org.ParseGrant(a)
		if err != nil {
			return Reply{}, err
		}
		if _, dup := req.Grants.Get(g.Workspace); dup {
			return Reply{}, org.Errorf(org.CodeInvalid, "Workspace %s is named twice.", g.Workspace)
		}
		req.Grants = append(req.Grants, g)
	}
	return s.changeAccess(ctx, c, req)
}

// revokeAccess takes workspaces away from a member.
func (s *Service) revokeAccess(ctx context.Context, c *call) (Reply, error) {
	req := org.AccessSpec{}
	for _, a := range c.cmd.Args[1:] {
		name, err := org.NormalizeWorkspaceName(a)
		if err != nil {
			return Reply{}, err
		}
		if slices.Contains(req.Revoke, name) {
			return Reply{}, org.Errorf(org.CodeInvalid, "Workspace %s is named twice.", name)
		}
		req.Revoke = append(req.Revoke, name)
	}
	return s.changeAccess(ctx, c, req)
}

// changeAccess decides req on one read and commits the member's new grants,
// pinned to the version read (two changes racing: the second is decided
// again on the first's result) and to the workspaces as read (one renamed
// or deleted meanwhile is not granted).
func (s *Service) changeAccess(ctx context.Context, c *call, req org.AccessSpec) (Reply, error) {
	email, err := target(c.cmd.Args[0])
	if err != nil {
		return Reply{}, err
	}
	req.Email = email
	snap, err := s.load(ctx, c, org.Query{Users: []string{email}, Workspaces: true})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActChangeAccess); err != nil {
		return Reply{}, err
	}
	u, err := accessTarget(snap, email)
	if err != nil {
		return Reply{}, err
	}
	plan, err := org.DecideAccess(snap.Actor, snap.Settings, snap.Workspaces, u, req)
	if err != nil {
		return Reply{}, err
	}
	if !plan.Changes() {
		text := fmt.Sprintf("%s already has that access; nothing changed.", u.Display())
		if len(req.Revoke) > 0 {
			text = fmt.Sprintf("%s has no access to %s; nothing changed.", u.Display(), strings.Join(plan.Absent, ", "))
		}
		return Reply{Code: org.CodeConflict, Message: Message{Tone: ToneInfo, Text: text, Footer: "Their workspaces: " + u.Workspaces.String()}}, nil
	}
	next := u.Clone()
	next.Workspaces, next.Updated = plan.Next, c.now
	what := accessWhat(plan)
	err = s.commit(ctx, c, snap, org.Change{
		Users:        []org.UserWrite{{User: next, Version: u.Version}},
		PinRevision:  true,
		Revision:     snap.Revision,
		MoveRevision: true,
		Audit: []org.AuditEntry{{Action: "user.access", Target: u.Email,
			Before: u.Workspaces.Encode(), After: next.Workspaces.Encode(), Detail: what}},
	})
	if err != nil {
		return Reply{}, err
	}
	r := Reply{Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("%s: %s.", u.Display(), what),
		Fields: []Field{{Label: "Workspaces", Value: next.Workspaces.String()}}}}
	if len(plan.Absent) > 0 {
		r.Footer = fmt.Sprintf("They had no access to %s.", strings.Join(plan.Absent, ", "))
	}
	if u.Email != c.email && u.Active() {
		// A deactivated member can use none of it until reactivated, and is
		// not messaged meanwhile (rename and delete do the same).
		n := notice(u.Email, fmt.Sprintf("%s changed your workspace access in %s: %s.", c.who(snap), snap.Settings.Name, what))
		n.Message.Fields = []Field{{Label: "Your workspaces", Value: next.Workspaces.String()}}
		r.Deliveries = []Delivery{n}
	}
	return r, nil
}

// accessTarget is the member an access command names.
func accessTarget(snap *org.Snapshot, email string) (*org.User, error) {
	u := snap.Users[email]
	if u == nil {
		return nil, org.Errorf(org.CodeNotFound, "%s is not a member of %s.", email, snap.Settings.Name).WithHint("Invite them with: invite %s", email)
	}
	return u, nil
}

// accessWhat says what plan changes: "granted ml:editor; revoked ops".
func accessWhat(p *org.AccessPlan) string {
	var parts []string
	if len(p.Changed) > 0 {
		parts = append(parts, "granted "+org.Grants(p.Changed).String())
	}
	if len(p.Removed) > 0 {
		names := make([]string, len(p.Removed))
		for i, g := range p.Removed {
			names[i] = g.Workspace
		}
		parts = append(parts, "revoked "+strings.Join(names, ", "))
	}
	return strings.Join(parts, "; ")
}

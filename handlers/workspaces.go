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
	name, err := org.NormalizeWorkspaceName(c.cmd.Args[0])
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

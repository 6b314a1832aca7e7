package org

import (
	"fmt"
	"slices"
)

// Access after joining: who may change a member's workspaces, and how.
//
// The rules, decided here once for every command (handlers/access.go,
// handlers/workspaces.go):
//   - anyone active may see a member's workspaces (members already lists
//     them for everyone);
//   - admins may grant and revoke any workspace at any workspace role, and
//     alone may rename or delete a workspace;
//   - a workspace's manager may grant and revoke in that workspace only, at
//     most their own workspace role there (manager: a manager may make
//     another, as an inviting manager may), but may not change another
//     manager's access there: two managers could otherwise demote each
//     other, and the last word on a manager belongs to an admin;
//   - editors, readers and people with no grant there may change nothing.
//
// Viewers only read: a grant above reader for a viewer is refused rather
// than quietly narrowed, because whoever typed it asked for something else.

// AccessSpec is an `access grant` or `access revoke` command, parsed.
type AccessSpec struct {
	Email  string
	Grants Grants   // access grant: roles may be "" (the member's default, DefaultWorkspaceRole)
	Revoke []string // access revoke: workspace names, each once
}

// AccessPlan is what an access command changes for one member.
type AccessPlan struct {
	Next    Grants  // the member's grants after the change
	Changed []Grant // what was granted or changed, as it will be stored
	Removed []Grant // what was revoked, as it was
	Same    []Grant // granted already with that role: nothing to do
	Absent  []string
}

// Changes reports whether the plan changes anything.
func (p *AccessPlan) Changes() bool { return len(p.Changed) > 0 || len(p.Removed) > 0 }

// CheckAccessIn is whether actor may change target's access to workspace ws
// (to role, "" for a revoke). It is the one place the matrix above lives.
func CheckAccessIn(actor *User, s Settings, target *User, ws string, role WorkspaceRole) error {
	if err := Authorize(actor, s, ActChangeAccess); err != nil {
		return err
	}
	if actor.Role == RoleAdmin {
		return nil
	}
	own, ok := actor.Workspaces.Get(ws)
	if !ok || own.Role != WorkspaceManager {
		return Errorf(CodeForbidden, "You can't change access to workspace %s: only admins and its managers can.", ws).
			WithHint("Ask an admin, or one of %s's managers.", ws)
	}
	if role.Rank() > own.Role.Rank() {
		return Errorf(CodeForbidden, "You can't make someone %s of %s: you are %s there.", role, ws, own.Role)
	}
	if target.Email != actor.Email {
		if g, has := target.Workspaces.Get(ws); has && g.Role == WorkspaceManager {
			return Errorf(CodeForbidden, "%s is a manager of %s too; only an admin can change a manager's access.", target.Display(), ws)
		}
	}
	return nil
}

// DecideAccess decides req for target on what was read: the actor, the
// settings and the workspaces that exist. Every workspace named must pass
// CheckAccessIn, or nothing changes.
func DecideAccess(actor *User, s Settings, workspaces []Workspace, target *User, req AccessSpec) (*AccessPlan, error) {
	if err := Authorize(actor, s, ActChangeAccess); err != nil {
		return nil, err
	}
	p := &AccessPlan{Next: append(Grants(nil), target.Workspaces...)}
	for _, g := range req.Grants {
		if g.Role == "" {
			g.Role = DefaultWorkspaceRole(target.Role)
		}
		if target.Role == RoleViewer && g.Role != WorkspaceReader {
			return nil, Errorf(CodeInvalid, "%s is a viewer, and viewers can only be readers of a workspace.", target.Display()).
				WithHint("Grant %s:reader, or have an admin change their role first.", g.Workspace)
		}
		if err := CheckAccessIn(actor, s, target, g.Workspace, g.Role); err != nil {
			return nil, err
		}
		if err := WorkspacesExist(workspaces, Grants{g}); err != nil {
			return nil, err
		}
		if had, ok := p.Next.Get(g.Workspace); ok && had.Role == g.Role {
			p.Same = append(p.Same, g)
			continue
		}
		p.Next = p.Next.With(g)
		p.Changed = append(p.Changed, g)
	}
	for _, ws := range req.Revoke {
		if err := CheckAccessIn(actor, s, target, ws, ""); err != nil {
			return nil, err
		}
		had, ok := p.Next.Get(ws)
		if !ok {
			p.Absent = append(p.Absent, ws)
			continue
		}
		p.Next = slices.DeleteFunc(p.Next, func(g Grant) bool { return g.Workspace == ws })
		p.Removed = append(p.Removed, had)
	}
	return p, nil
}

// CheckManageWorkspace is whether actor may rename or delete a workspace:
// admins only, since either changes every member's access to it at once.
func CheckManageWorkspace(actor *User, s Settings) error {
	return Authorize(actor, s, ActManageWorkspace)
}

// FindWorkspace is the workspace named, or an error naming those that exist.
func FindWorkspace(have []Workspace, name string) (Workspace, error) {
	for _, w := range have {
		if w.Name == name {
			return w, nil
		}
	}
	return Workspace{}, WorkspacesExist(have, Grants{{Workspace: name}})
}

// RenameGrants is gs with the grant to from (if any) moved to to.
func RenameGrants(gs Grants, from, to string) (Grants, bool) {
	g, ok := gs.Get(from)
	if !ok {
		return gs, false
	}
	out := slices.DeleteFunc(append(Grants(nil), gs...), func(x Grant) bool { return x.Workspace == from })
	return out.With(Grant{Workspace: to, Role: g.Role}), true
}

// WithoutWorkspace is gs without the grant to ws (if any).
func WithoutWorkspace(gs Grants, ws string) (Grants, bool) {
	if _, ok := gs.Get(ws); !ok {
		return gs, false
	}
	return slices.DeleteFunc(append(Grants(nil), gs...), func(x Grant) bool { return x.Workspace == ws }), true
}

// WorkspaceRename moves a workspace to a new name (Change.RenameWorkspace):
// From must still be as read, To must not exist.
type WorkspaceRename struct {
	From Workspace
	To   string
}

func (r WorkspaceRename) String() string { return fmt.Sprintf("%s -> %s", r.From.Name, r.To) }

package org

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a user's organization role. Roles are ordered: admin > member > viewer.
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
	RoleViewer Role = "viewer"
)

// Roles lists the organization roles from the most to the least powerful.
var Roles = []Role{RoleAdmin, RoleMember, RoleViewer}

// Rank orders roles; an unknown role ranks below every real one.
func (r Role) Rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleMember:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// AtMost reports whether r grants no more than limit.
func (r Role) AtMost(limit Role) bool { return r.Rank() <= limit.Rank() }

// ParseRole accepts a role name in any case.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if r.Rank() == 0 {
		return "", Errorf(CodeInvalid, "%q is not a role.", s).WithHint("Valid roles: admin, member, viewer.")
	}
	return r, nil
}

// WorkspaceRole is a user's role inside one workspace.
type WorkspaceRole string

const (
	WorkspaceManager WorkspaceRole = "manager"
	WorkspaceEditor  WorkspaceRole = "editor"
	WorkspaceReader  WorkspaceRole = "reader"
)

func (r WorkspaceRole) Rank() int {
	switch r {
	case WorkspaceManager:
		return 3
	case WorkspaceEditor:
		return 2
	case WorkspaceReader:
		return 1
	}
	return 0
}

// ParseWorkspaceRole accepts a workspace role name in any case.
func ParseWorkspaceRole(s string) (WorkspaceRole, error) {
	r := WorkspaceRole(strings.ToLower(strings.TrimSpace(s)))
	if r.Rank() == 0 {
		return "", Errorf(CodeInvalid, "%q is not a workspace role.", s).WithHint("Valid workspace roles: manager, editor, reader.")
	}
	return r, nil
}

// DefaultWorkspaceRole is the workspace role a grant gets when none is named:
// editor for members and admins, reader for viewers.
func DefaultWorkspaceRole(r Role) WorkspaceRole {
	if r == RoleViewer {
		return WorkspaceReader
	}
	return WorkspaceEditor
}

// Grant is access to one workspace.
type Grant struct {
	Workspace string
	Role      WorkspaceRole
}

func (g Grant) String() string { return g.Workspace + ":" + string(g.Role) }

// Grants is a set of workspace grants kept sorted by workspace name.
type Grants []Grant

// ParseGrant parses `NAME` or `NAME:ROLE` as typed after --workspace. An empty
// role is left empty so that the caller can apply the invited role's default.
func ParseGrant(s string) (Grant, error) {
	name, role, hasRole := strings.Cut(strings.TrimSpace(s), ":")
	name, err := NormalizeWorkspaceName(name)
	if err != nil {
		return Grant{}, err
	}
	g := Grant{Workspace: name}
	if hasRole {
		if g.Role, err = ParseWorkspaceRole(role); err != nil {
			return Grant{}, err
		}
	}
	return g, nil
}

// Get returns the grant for a workspace.
func (gs Grants) Get(workspace string) (Grant, bool) {
	for _, g := range gs {
		if g.Workspace == workspace {
			return g, true
		}
	}
	return Grant{}, false
}

// With returns a copy of gs where g replaces any grant to the same workspace.
func (gs Grants) With(g Grant) Grants {
	out := make(Grants, 0, len(gs)+1)
	for _, x := range gs {
		if x.Workspace != g.Workspace {
			out = append(out, x)
		}
	}
	out = append(out, g)
	sortGrants(out)
	return out
}

// ForRole caps every grant for what the org role allows: viewers only read.
func (gs Grants) ForRole(r Role) Grants {
	out := make(Grants, len(gs))
	copy(out, gs)
	for i := range out {
		if out[i].Role == "" {
			out[i].Role = DefaultWorkspaceRole(r)
		}
		if r == RoleViewer {
			out[i].Role = WorkspaceReader
		}
	}
	sortGrants(out)
	return out
}

// Encode renders grants as "a:editor,b:reader" (workspace names cannot hold ',' or ':').
func (gs Grants) Encode() string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}

func (gs Grants) String() string {
	if len(gs) == 0 {
		return "none"
	}
	return strings.ReplaceAll(gs.Encode(), ",", ", ")
}

// DecodeGrants reads what Encode wrote.
func DecodeGrants(s string) (Grants, error) {
	if s == "" {
		return nil, nil
	}
	var gs Grants
	for _, part := range strings.Split(s, ",") {
		name, role, ok := strings.Cut(part, ":")
		if !ok || WorkspaceRole(role).Rank() == 0 {
			return nil, fmt.Errorf("decode grant %q", part)
		}
		gs = append(gs, Grant{Workspace: name, Role: WorkspaceRole(role)})
	}
	sortGrants(gs)
	return gs, nil
}

func sortGrants(gs Grants) {
	slices.SortFunc(gs, func(a, b Grant) int { return strings.Compare(a.Workspace, b.Workspace) })
}

// LastActiveAdmin reports whether u is the only active admin among admins
// (the organization's active admins, as read): taking u's role or status away
// would leave the organization without one. Storage guards the same rule at
// commit; this lets usher refuse before asking for a confirmation.
func LastActiveAdmin(u *User, admins []string) bool {
	if !u.IsActiveAdmin() {
		return false
	}
	for _, a := range admins {
		if a != u.Email {
			return false
		}
	}
	return true
}

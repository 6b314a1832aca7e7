package org_test

import (
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

// TestAccessAuthorizationMatrix decides every actor against every access
// command on a snapshot made by hand: admins may do all; a manager of ml
// may grant and revoke in ml only, at most as manager, and not touch
// another manager of ml; editors, members without a grant and viewers may
// change nothing; only admins rename or delete a workspace.
// handlers/access_test.go runs the same matrix end to end on real Redis.
func TestAccessAuthorizationMatrix(t *testing.T) {
	set := org.DefaultSettings()
	ws := []org.Workspace{{Name: "ml"}, {Name: "ops"}}
	active := func(email string, role org.Role, gs ...org.Grant) *org.User {
		return &org.User{Email: email, Role: role, Status: org.StatusActive, Workspaces: gs}
	}
	actors := map[string]*org.User{
		"admin":       active("a@x.com", org.RoleAdmin),
		"member":      active("m@x.com", org.RoleMember),
		"viewer":      active("v@x.com", org.RoleViewer, org.Grant{Workspace: "ml", Role: org.WorkspaceReader}),
		"manager-ml":  active("g@x.com", org.RoleMember, org.Grant{Workspace: "ml", Role: org.WorkspaceManager}),
		"editor-ml":   active("e@x.com", org.RoleMember, org.Grant{Workspace: "ml", Role: org.WorkspaceEditor}),
		"deactivated": {Email: "d@x.com", Role: org.RoleAdmin, Status: org.StatusDeactivated},
	}
	target := active("t@x.com", org.RoleMember, org.Grant{Workspace: "ml", Role: org.WorkspaceReader}, org.Grant{Workspace: "ops", Role: org.WorkspaceEditor})
	otherManager := active("o@x.com", org.RoleMember, org.Grant{Workspace: "ml", Role: org.WorkspaceManager})
	viewer := active("vt@x.com", org.RoleViewer)

	g := func(w string, r org.WorkspaceRole) org.Grant { return org.Grant{Workspace: w, Role: r} }
	type cmd struct {
		name   string
		target *org.User
		req    org.AccessSpec
	}
	cmds := []cmd{
		{"grant ml:editor", target, org.AccessSpec{Grants: org.Grants{g("ml", org.WorkspaceEditor)}}},
		{"grant ml:manager", target, org.AccessSpec{Grants: org.Grants{g("ml", org.WorkspaceManager)}}},
		{"grant ops", target, org.AccessSpec{Grants: org.Grants{g("ops", "")}}},
		{"revoke ml", target, org.AccessSpec{Revoke: []string{"ml"}}},
		{"revoke ops", target, org.AccessSpec{Revoke: []string{"ops"}}},
		{"revoke ml and ops", target, org.AccessSpec{Revoke: []string{"ml", "ops"}}},
		{"revoke ml of another manager", otherManager, org.AccessSpec{Revoke: []string{"ml"}}},
		{"grant ml:editor to another manager", otherManager, org.AccessSpec{Grants: org.Grants{g("ml", org.WorkspaceEditor)}}},
		{"grant viewer ml:reader", viewer, org.AccessSpec{Grants: org.Grants{g("ml", org.WorkspaceReader)}}},
	}
	// allowed[command] lists the actors that may; the rest get forbidden
	// (or deactivated).
	allowed := map[string][]string{
		"grant ml:editor":                    {"admin", "manager-ml"},
		"grant ml:manager":                   {"admin", "manager-ml"},
		"grant ops":                          {"admin"},
		"revoke ml":                          {"admin", "manager-ml"},
		"revoke ops":                         {"admin"},
		"revoke ml and ops":                  {"admin"},
		"revoke ml of another manager":       {"admin"},
		"grant ml:editor to another manager": {"admin"},
		"grant viewer ml:reader":             {"admin", "manager-ml"},
	}
	for _, c := range cmds {
		for name, actor := range actors {
			_, err := org.DecideAccess(actor, set, ws, c.target, c.req)
			want := contains(allowed[c.name], name)
			if want && err != nil {
				t.Errorf("%s by %s: refused: %v", c.name, name, err)
			}
			if !want {
				code := org.ErrorCode(err)
				if code != org.CodeForbidden && code != org.CodeDeactivated {
					t.Errorf("%s by %s: got %v, want forbidden", c.name, name, err)
				}
			}
		}
	}
	for name, actor := range actors {
		err := org.CheckManageWorkspace(actor, set)
		if (name == "admin") != (err == nil) {
			t.Errorf("rename/delete by %s: got %v", name, err)
		}
		if err := org.Authorize(actor, set, org.ActViewAccess); (name == "deactivated") != (err != nil) {
			t.Errorf("access EMAIL by %s: got %v", name, err)
		}
	}
	if _, err := org.DecideAccess(nil, set, ws, target, cmds[0].req); org.ErrorCode(err) != org.CodeNotMember {
		t.Errorf("outsider: got %v", err)
	}
}

// TestDecideAccess: what a permitted command changes.
func TestDecideAccess(t *testing.T) {
	set := org.DefaultSettings()
	admin := &org.User{Email: "a@x.com", Role: org.RoleAdmin, Status: org.StatusActive}
	ws := []org.Workspace{{Name: "ml"}, {Name: "ops"}}
	member := &org.User{Email: "t@x.com", Role: org.RoleMember, Status: org.StatusActive,
		Workspaces: org.Grants{{Workspace: "ml", Role: org.WorkspaceReader}}}
	viewer := &org.User{Email: "v@x.com", Role: org.RoleViewer, Status: org.StatusActive}
	for _, tc := range []struct {
		name                  string
		target                *org.User
		req                   org.AccessSpec
		next                  string
		changed, removed, err string
	}{
		{name: "default role is the invite default (editor)", target: member,
			req: org.AccessSpec{Grants: org.Grants{{Workspace: "ops"}}}, next: "ml:reader,ops:editor", changed: "ops:editor"},
		{name: "viewers default to reader", target: viewer,
			req: org.AccessSpec{Grants: org.Grants{{Workspace: "ops"}}}, next: "ops:reader", changed: "ops:reader"},
		{name: "a viewer can't be made editor", target: viewer,
			req: org.AccessSpec{Grants: org.Grants{{Workspace: "ops", Role: org.WorkspaceEditor}}}, err: "invalid"},
		{name: "changing a role", target: member,
			req: org.AccessSpec{Grants: org.Grants{{Workspace: "ml", Role: org.WorkspaceManager}}}, next: "ml:manager", changed: "ml:manager"},
		{name: "the same role changes nothing", target: member,
			req: org.AccessSpec{Grants: org.Grants{{Workspace: "ml", Role: org.WorkspaceReader}}}, next: "ml:reader"},
		{name: "no such workspace", target: member,
			req: org.AccessSpec{Grants: org.Grants{{Workspace: "nope"}}}, err: "not_found"},
		{name: "revoke", target: member,
			req: org.AccessSpec{Revoke: []string{"ml"}}, next: "", removed: "ml:reader"},
		{name: "revoke what they don't have", target: member,
			req: org.AccessSpec{Revoke: []string{"ops"}}, next: "ml:reader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := org.DecideAccess(admin, set, ws, tc.target, tc.req)
			if tc.err != "" {
				if string(org.ErrorCode(err)) != tc.err {
					t.Fatalf("got %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Next.Encode() != tc.next || org.Grants(p.Changed).Encode() != tc.changed || org.Grants(p.Removed).Encode() != tc.removed {
				t.Fatalf("next %q changed %q removed %q", p.Next.Encode(), org.Grants(p.Changed).Encode(), org.Grants(p.Removed).Encode())
			}
			if p.Changes() != (tc.changed != "" || tc.removed != "") {
				t.Fatalf("Changes() = %v", p.Changes())
			}
			if tc.target.Workspaces.Encode() != "ml:reader" && tc.target == member {
				t.Fatal("the member as read was changed")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

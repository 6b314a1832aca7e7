package org_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

// Outcomes in the permission matrix.
const (
	allow     = org.Code("") // Authorize returns nil
	notMember = org.CodeNotMember
	forbidden = org.CodeForbidden
)

// settingsCase is one combination of the settings that the table depends on.
type settingsCase struct {
	name   string
	invite org.InvitePolicy
	create bool
}

var (
	inviteOff      = settingsCase{"anyone-can-invite=off", org.InviteAdminsOnly, false}
	inviteOn       = settingsCase{"anyone-can-invite=on", org.InviteAnyone, false}
	inviteApproval = settingsCase{"anyone-can-invite=approval", org.InviteApproval, false}
	createOff      = settingsCase{"anyone-can-create-workspaces=off", org.InviteAdminsOnly, false}
	createOn       = settingsCase{"anyone-can-create-workspaces=on", org.InviteAdminsOnly, true}
	everythingOn   = settingsCase{"invite=on,create=on", org.InviteAnyone, true}
	// anySettings: the row is the same under every combination.
	anySettings = []settingsCase{inviteOff, inviteOn, inviteApproval, createOn, everythingOn}
)

func (sc settingsCase) settings() org.Settings {
	s := org.DefaultSettings()
	s.Name = "Acme"
	s.AnyoneCanInvite = sc.invite
	s.AnyoneCanCreateWorkspaces = sc.create
	return s
}

// permissionMatrix is usher's product rules for active people. A deactivated
// admin, member or viewer is refused every action with CodeDeactivated (see
// TestAuthorizeDeactivated). nil is a person with no account (an invitee).
var permissionMatrix = []struct {
	action                          org.Action
	settings                        []settingsCase
	outsider, admin, member, viewer org.Code
}{
	// Everyone, even people without an account: help, and the invitations addressed to them.
	{org.ActHelp, anySettings, allow, allow, allow, allow},
	{org.ActRespond, anySettings, allow, allow, allow, allow},
	{org.ActSeeOwnOpen, anySettings, allow, allow, allow, allow},

	// Every active user (non-admins only for their own invitations; see CheckManageInvitation).
	{org.ActListInvitations, anySettings, notMember, allow, allow, allow},
	{org.ActResend, anySettings, notMember, allow, allow, allow},
	{org.ActRevoke, anySettings, notMember, allow, allow, allow},
	{org.ActListMembers, anySettings, notMember, allow, allow, allow},
	{org.ActViewSettings, anySettings, notMember, allow, allow, allow},
	{org.ActListWorkspaces, anySettings, notMember, allow, allow, allow},
	{org.ActViewAccess, anySettings, notMember, allow, allow, allow},
	// Then only in workspaces they manage: see TestAccessAuthorizationMatrix.
	{org.ActChangeAccess, anySettings, notMember, allow, allow, allow},
	{org.ActManageWorkspace, anySettings, notMember, allow, forbidden, forbidden},

	// Inviting: admins always; everyone else when anyone-can-invite is on or approval.
	{org.ActInvite, []settingsCase{inviteOff, createOn}, notMember, allow, forbidden, forbidden},
	{org.ActInvite, []settingsCase{inviteOn, inviteApproval, everythingOn}, notMember, allow, allow, allow},

	// Creating workspaces: admins always; everyone else when anyone-can-create-workspaces is on.
	{org.ActCreateWorkspace, []settingsCase{createOff, inviteOn, inviteApproval}, notMember, allow, forbidden, forbidden},
	{org.ActCreateWorkspace, []settingsCase{createOn, everythingOn}, notMember, allow, allow, allow},

	// Admins only, whatever the settings.
	{org.ActShowLink, anySettings, notMember, allow, forbidden, forbidden},
	{org.ActChangeRole, anySettings, notMember, allow, forbidden, forbidden},
	{org.ActDeactivate, anySettings, notMember, allow, forbidden, forbidden},
	{org.ActActivate, anySettings, notMember, allow, forbidden, forbidden},
	{org.ActResetPassword, anySettings, notMember, allow, forbidden, forbidden},
	{org.ActChangeSettings, anySettings, notMember, allow, forbidden, forbidden},
	{org.ActReviewRequests, anySettings, notMember, allow, forbidden, forbidden},
	{org.ActReadAudit, anySettings, notMember, allow, forbidden, forbidden},
	// One's own request (then only its requester: handlers/request_lifecycle.go).
	{org.ActWithdrawRequest, anySettings, notMember, allow, allow, allow},
	{org.ActExport, anySettings, notMember, allow, forbidden, forbidden},

	// An action the table does not know is refused to everyone.
	{org.Action("launch-rockets"), anySettings, forbidden, forbidden, forbidden, forbidden},
}

func user(email string, r org.Role, st org.Status, grants ...org.Grant) *org.User {
	return &org.User{Email: email, Role: r, Status: st, Workspaces: grants}
}

func checkCode(t *testing.T, err error, want org.Code) {
	t.Helper()
	if want == allow {
		if err != nil {
			t.Fatalf("got %v (code %q), want it allowed", err, org.ErrorCode(err))
		}
		return
	}
	var e *org.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want an *org.Error with code %q", err, err, want)
	}
	if e.Code != want {
		t.Fatalf("got code %q (%v), want %q", e.Code, err, want)
	}
	if e.Message == "" {
		t.Fatalf("error with code %q has no message", e.Code)
	}
}

func TestAuthorizeMatrix(t *testing.T) {
	for _, row := range permissionMatrix {
		for _, sc := range row.settings {
			s := sc.settings()
			actors := []struct {
				name  string
				actor *org.User
				want  org.Code
			}{
				{"outsider", nil, row.outsider},
				{"admin", user("ada@acme.com", org.RoleAdmin, org.StatusActive), row.admin},
				{"member", user("max@acme.com", org.RoleMember, org.StatusActive), row.member},
				{"viewer", user("vic@acme.com", org.RoleViewer, org.StatusActive), row.viewer},
			}
			for _, a := range actors {
				t.Run(string(row.action)+"/"+sc.name+"/"+a.name, func(t *testing.T) {
					checkCode(t, org.Authorize(a.actor, s, row.action), a.want)
				})
			}
		}
	}
}

func TestAuthorizeDeactivated(t *testing.T) {
	for _, row := range permissionMatrix {
		if row.admin == forbidden { // the unknown action is refused before the status is looked at
			continue
		}
		for _, sc := range anySettings {
			for _, r := range org.Roles {
				t.Run(string(row.action)+"/"+sc.name+"/"+string(r), func(t *testing.T) {
					err := org.Authorize(user("x@acme.com", r, org.StatusDeactivated), sc.settings(), row.action)
					checkCode(t, err, org.CodeDeactivated)
					var e *org.Error
					errors.As(err, &e)
					if !strings.Contains(e.Message, "Acme") || !strings.Contains(e.Hint, "reactivate") {
						t.Errorf("message %q / hint %q should name the organization and say how to get back", e.Message, e.Hint)
					}
				})
			}
		}
	}
	// A status that is not "active" counts as not active.
	checkCode(t, org.Authorize(user("x@acme.com", org.RoleAdmin, ""), inviteOff.settings(), org.ActHelp), org.CodeDeactivated)
}

// TestPermissionMatrixCoversEveryAction reads policy.go so that a new Action
// constant cannot be added without a row in the matrix above.
func TestPermissionMatrixCoversEveryAction(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "policy.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	inMatrix := map[org.Action]bool{}
	for _, row := range permissionMatrix {
		inMatrix[row.action] = true
	}
	n := 0
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Action" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok {
					t.Fatalf("Action constant with a non-literal value %T", v)
				}
				a := org.Action(strings.Trim(lit.Value, `"`))
				n++
				if !inMatrix[a] {
					t.Errorf("action %q has no row in permissionMatrix", a)
				}
			}
		}
	}
	if n < 19 {
		t.Fatalf("found only %d Action constants in policy.go", n)
	}
}

func TestAuthorizeMessages(t *testing.T) {
	s := inviteOff.settings()
	member := user("max@acme.com", org.RoleMember, org.StatusActive)
	tests := []struct {
		actor  *org.User
		action org.Action
		want   string
	}{
		{member, org.ActInvite, "Only admins can invite people to Acme."},
		{member, org.ActCreateWorkspace, "Only admins can create workspaces in Acme."},
		{member, org.ActChangeRole, "Only admins can change roles."},
		{member, org.ActReadAudit, "Only admins can read the audit log."},
		{nil, org.ActListMembers, "You are not a member of Acme yet."},
	}
	for _, tt := range tests {
		err := org.Authorize(tt.actor, s, tt.action)
		var e *org.Error
		if !errors.As(err, &e) || e.Message != tt.want {
			t.Errorf("Authorize(%s) = %v, want message %q", tt.action, err, tt.want)
		}
	}
}

func TestCheckInvite(t *testing.T) {
	admin := user("ada@acme.com", org.RoleAdmin, org.StatusActive)
	member := user("max@acme.com", org.RoleMember, org.StatusActive,
		g("ai", org.WorkspaceReader), g("data", org.WorkspaceManager), g("ml", org.WorkspaceEditor))
	viewer := user("vic@acme.com", org.RoleViewer, org.StatusActive, g("ml", org.WorkspaceReader))
	gone := user("old@acme.com", org.RoleMember, org.StatusDeactivated, g("ml", org.WorkspaceEditor))
	gs := func(x ...org.Grant) org.Grants { return x }

	tests := []struct {
		name     string
		actor    *org.User
		settings settingsCase
		role     org.Role
		grants   org.Grants
		want     org.InviteDecision
		code     org.Code
		msgHas   string
	}{
		{"admin sends", admin, inviteOff, org.RoleAdmin, gs(g("anything", org.WorkspaceManager)), org.InviteSend, allow, ""},
		{"admin is never asked for approval", admin, inviteApproval, org.RoleMember, nil, org.InviteSend, allow, ""},
		{"outsider", nil, inviteOn, org.RoleViewer, nil, 0, notMember, ""},
		{"deactivated", gone, inviteOn, org.RoleViewer, nil, 0, org.CodeDeactivated, ""},
		{"member while off", member, inviteOff, org.RoleMember, nil, 0, forbidden, "Only admins"},

		{"member invites a member", member, inviteOn, org.RoleMember, nil, org.InviteSend, allow, ""},
		{"member invites a viewer", member, inviteOn, org.RoleViewer, nil, org.InviteSend, allow, ""},
		{"member invites an admin", member, inviteOn, org.RoleAdmin, nil, 0, forbidden, "above your own role"},
		{"viewer invites a viewer", viewer, inviteOn, org.RoleViewer, gs(g("ml", org.WorkspaceReader)), org.InviteSend, allow, ""},
		{"viewer invites a member", viewer, inviteOn, org.RoleMember, nil, 0, forbidden, "above your own role"},

		{"same workspace role", member, inviteOn, org.RoleMember, gs(g("ml", org.WorkspaceEditor)), org.InviteSend, allow, ""},
		{"lower workspace role", member, inviteOn, org.RoleMember, gs(g("ml", org.WorkspaceReader)), org.InviteSend, allow, ""},
		{"manager grants manager", member, inviteOn, org.RoleMember, gs(g("data", org.WorkspaceManager)), org.InviteSend, allow, ""},
		{"several allowed grants", member, inviteOn, org.RoleMember, gs(g("ai", org.WorkspaceReader), g("data", org.WorkspaceEditor), g("ml", org.WorkspaceReader)), org.InviteSend, allow, ""},
		{"higher workspace role", member, inviteOn, org.RoleMember, gs(g("ml", org.WorkspaceManager)), 0, forbidden, "you are editor there"},
		{"reader grants editor", member, inviteOn, org.RoleMember, gs(g("ai", org.WorkspaceEditor)), 0, forbidden, "you are reader there"},
		{"workspace the inviter lacks", member, inviteOn, org.RoleMember, gs(g("secret", org.WorkspaceReader)), 0, forbidden, "you don't have it yourself"},
		{"one bad grant among good ones", member, inviteOn, org.RoleMember, gs(g("ml", org.WorkspaceReader), g("secret", org.WorkspaceReader)), 0, forbidden, "secret"},

		{"approval makes a request", member, inviteApproval, org.RoleMember, gs(g("ml", org.WorkspaceEditor)), org.InviteRequest, allow, ""},
		{"viewer under approval", viewer, inviteApproval, org.RoleViewer, nil, org.InviteRequest, allow, ""},
		{"approval does not bypass the role cap", member, inviteApproval, org.RoleAdmin, nil, 0, forbidden, "above your own role"},
		{"approval does not bypass workspace rules", member, inviteApproval, org.RoleMember, gs(g("secret", org.WorkspaceReader)), 0, forbidden, "secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := org.CheckInvite(tt.actor, tt.settings.settings(), tt.role, tt.grants)
			checkCode(t, err, tt.code)
			if tt.code == allow && got != tt.want {
				t.Errorf("decision = %v, want %v", got, tt.want)
			}
			if tt.msgHas != "" && !strings.Contains(err.Error(), tt.msgHas) {
				t.Errorf("error %q does not mention %q", err, tt.msgHas)
			}
		})
	}

	// A refusal because of the setting tells the user how an admin can change it.
	_, err := org.CheckInvite(member, inviteOff.settings(), org.RoleMember, nil)
	var e *org.Error
	if !errors.As(err, &e) || !strings.Contains(e.Hint, "settings anyone-can-invite on") {
		t.Errorf("hint of %v should name the setting", err)
	}
}

func TestCheckManageInvitation(t *testing.T) {
	admin := user("ada@acme.com", org.RoleAdmin, org.StatusActive)
	member := user("max@acme.com", org.RoleMember, org.StatusActive)
	viewer := user("vic@acme.com", org.RoleViewer, org.StatusActive)
	gone := user("max@acme.com", org.RoleMember, org.StatusDeactivated)
	byMember := &org.Invitation{ID: "inv1", Inviter: "max@acme.com", Status: org.InvitationPending}
	byAdmin := &org.Invitation{ID: "inv2", Inviter: "ada@acme.com", Status: org.InvitationPending}
	byViewer := &org.Invitation{ID: "inv3", Inviter: "vic@acme.com", Status: org.InvitationPending}

	tests := []struct {
		name   string
		actor  *org.User
		action org.Action
		inv    *org.Invitation
		want   org.Code
	}{
		{"admin revokes someone else's", admin, org.ActRevoke, byMember, allow},
		{"admin resends someone else's", admin, org.ActResend, byViewer, allow},
		{"admin shows someone else's link", admin, org.ActShowLink, byMember, allow},
		{"member revokes own", member, org.ActRevoke, byMember, allow},
		{"member resends own", member, org.ActResend, byMember, allow},
		{"member lists own", member, org.ActListInvitations, byMember, allow},
		{"member revokes the admin's", member, org.ActRevoke, byAdmin, org.CodeNotFound},
		{"member resends the viewer's", member, org.ActResend, byViewer, org.CodeNotFound},
		{"member revokes one that does not exist", member, org.ActRevoke, nil, org.CodeNotFound},
		{"admin revokes one that does not exist", admin, org.ActRevoke, nil, org.CodeNotFound},
		{"member shows own link (admins only)", member, org.ActShowLink, byMember, forbidden},
		{"viewer revokes own", viewer, org.ActRevoke, byViewer, allow},
		{"viewer revokes the member's", viewer, org.ActRevoke, byMember, org.CodeNotFound},
		{"outsider", nil, org.ActRevoke, byMember, notMember},
		{"deactivated inviter", gone, org.ActRevoke, byMember, org.CodeDeactivated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := org.CheckManageInvitation(tt.actor, inviteOff.settings(), tt.action, tt.inv, "x@example.com")
			checkCode(t, err, tt.want)
			// Someone else's invitation and none at all get one answer, which
			// names neither inviter nor id.
			if tt.want == org.CodeNotFound && tt.actor.Role != org.RoleAdmin {
				if none := org.CheckManageInvitation(tt.actor, inviteOff.settings(), tt.action, nil, "x@example.com"); err.Error() != none.Error() {
					t.Errorf("answer %q differs from the one for no invitation: %q", err, none)
				}
				if tt.inv != nil && (strings.Contains(err.Error(), tt.inv.Inviter) || strings.Contains(err.Error(), tt.inv.ID)) {
					t.Errorf("answer %q names the inviter or the id", err)
				}
			}
		})
	}
}

func TestOwnsInvitation(t *testing.T) {
	u := user("max@acme.com", org.RoleMember, org.StatusActive)
	inv := &org.Invitation{Inviter: "max@acme.com"}
	if !org.OwnsInvitation(u, inv) {
		t.Error("the inviter should own the invitation")
	}
	if org.OwnsInvitation(user("ada@acme.com", org.RoleAdmin, org.StatusActive), inv) {
		t.Error("an admin does not own someone else's invitation")
	}
	if org.OwnsInvitation(nil, inv) || org.OwnsInvitation(u, nil) {
		t.Error("nil actor or invitation owns nothing")
	}
}

package org_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

func TestError(t *testing.T) {
	e := org.Errorf(org.CodeNotFound, "No user %s.", "bob@x.com")
	if e.Error() != "No user bob@x.com." || e.Code != org.CodeNotFound {
		t.Errorf("Errorf = %#v", e)
	}
	h := e.WithHint("Try %s.", "members")
	if h.Error() != "No user bob@x.com. Try members." {
		t.Errorf("with hint: %q", h.Error())
	}
	if e.Hint != "" {
		t.Errorf("WithHint changed the original: %#v", e)
	}

	tests := []struct {
		err  error
		want org.Code
	}{
		{nil, ""},
		{errors.New("plain"), ""},
		{e, org.CodeNotFound},
		{fmt.Errorf("wrapped: %w", h), org.CodeNotFound},
		{org.ErrUnavailable, org.CodeUnavailable},
		{org.LastAdminError("ada@x.com"), org.CodeLastAdmin},
		{&org.PreconditionError{What: "x", Actual: "y"}, ""},
	}
	for _, tt := range tests {
		if got := org.ErrorCode(tt.err); got != tt.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}

	if msg := org.LastAdminError("ada@x.com").Error(); !strings.Contains(msg, "ada@x.com") {
		t.Errorf("LastAdminError does not name the admin: %q", msg)
	}
	if msg := (&org.PreconditionError{What: "invitation abc status", Actual: "accepted"}).Error(); msg != `precondition failed: invitation abc status is now "accepted"` {
		t.Errorf("PreconditionError = %q", msg)
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]org.Status{"active": org.StatusActive, " Deactivated ": org.StatusDeactivated, "ACTIVE": org.StatusActive} {
		if got, err := org.ParseStatus(in); err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "inactive", "suspended"} {
		_, err := org.ParseStatus(in)
		wantInvalid(t, err, "active", "deactivated")
	}
}

func TestUser(t *testing.T) {
	var none *org.User
	tests := []struct {
		u                   *org.User
		active, activeAdmin bool
	}{
		{none, false, false},
		{user("a@x.com", org.RoleAdmin, org.StatusActive), true, true},
		{user("a@x.com", org.RoleAdmin, org.StatusDeactivated), false, false},
		{user("a@x.com", org.RoleMember, org.StatusActive), true, false},
		{user("a@x.com", org.RoleViewer, org.StatusDeactivated), false, false},
	}
	for _, tt := range tests {
		if got := tt.u.Active(); got != tt.active {
			t.Errorf("%+v.Active() = %v", tt.u, got)
		}
		if got := tt.u.IsActiveAdmin(); got != tt.activeAdmin {
			t.Errorf("%+v.IsActiveAdmin() = %v", tt.u, got)
		}
	}

	u := &org.User{Email: "bob@x.com", Workspaces: org.Grants{g("ml", org.WorkspaceEditor)}}
	if u.DisplayName() != "bob@x.com" {
		t.Errorf("DisplayName without a name = %q", u.DisplayName())
	}
	c := u.Clone()
	c.Name = "Bob"
	c.Workspaces[0].Role = org.WorkspaceReader
	if u.Name != "" || u.Workspaces[0].Role != org.WorkspaceEditor {
		t.Errorf("changing the clone changed the original: %+v", u)
	}
	if c.DisplayName() != "Bob" {
		t.Errorf("DisplayName = %q", c.DisplayName())
	}
}

func TestIdentity(t *testing.T) {
	id := org.Identity{Platform: "slack", Team: "T1", UserID: "U1", Email: "bob@x.com"}
	if id.Key() != "slack:T1:U1" || id.String() != "slack:U1" {
		t.Errorf("Key = %q, String = %q", id.Key(), id.String())
	}
	if s := (org.Identity{Platform: "shell"}).String(); s != "shell" {
		t.Errorf("String without a user id = %q", s)
	}
}

func TestNotified(t *testing.T) {
	if !org.Notified(&org.User{Status: org.StatusActive}) || org.Notified(&org.User{Status: org.StatusDeactivated}) || !org.Notified(nil) {
		t.Error("Notified: want active and non-users told, deactivated users not")
	}
}

func TestRoleWhenDeactivated(t *testing.T) {
	const m = "m@example.com"
	deactivated := org.AuditEntry{Action: "user.status", Target: m, Before: "active", After: "deactivated"}
	toAdmin := org.AuditEntry{Action: "user.role", Target: m, Before: "member", After: "admin"}
	toMember := org.AuditEntry{Action: "user.role", Target: m, Before: "admin", After: "member"}
	other := org.AuditEntry{Action: "user.role", Target: "o@example.com", Before: "viewer", After: "admin"}
	for _, c := range []struct {
		name  string
		now   org.Role
		audit []org.AuditEntry // newest first
		want  org.Role
		found bool
	}{
		{"unchanged", org.RoleMember, []org.AuditEntry{other, deactivated, toMember}, org.RoleMember, true},
		{"changed while deactivated", org.RoleAdmin, []org.AuditEntry{toAdmin, deactivated}, org.RoleMember, true},
		{"changed before deactivation only", org.RoleAdmin, []org.AuditEntry{deactivated, toAdmin}, org.RoleAdmin, true},
		{"changed away and back", org.RoleMember, []org.AuditEntry{toMember, toAdmin, deactivated}, org.RoleMember, true},
		{"beyond the audit read", org.RoleAdmin, []org.AuditEntry{other}, "", false},
	} {
		if got, found := org.RoleWhenDeactivated(m, c.now, c.audit); got != c.want || found != c.found {
			t.Errorf("%s: got %q, %v; want %q, %v", c.name, got, found, c.want, c.found)
		}
	}
}

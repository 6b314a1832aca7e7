package org

import (
	"fmt"
	"strings"
)

// Action is something a person asks usher to do; the permission table below is
// the single place that says who may.
type Action string

const (
	ActHelp            Action = "help"
	ActRespond         Action = "respond" // accept or decline an invitation addressed to you
	ActSeeOwnOpen      Action = "see-own-open"
	ActInvite          Action = "invite"
	ActListInvitations Action = "list-invitations" // the org's, or only one's own for non-admins
	ActShowLink        Action = "show-link"
	ActResend          Action = "resend"
	ActRevoke          Action = "revoke"
	ActListMembers     Action = "list-members"
	ActChangeRole      Action = "change-role"
	ActDeactivate      Action = "deactivate"
	ActActivate        Action = "activate"
	ActResetPassword   Action = "reset-password"
	ActViewSettings    Action = "view-settings"
	ActChangeSettings  Action = "change-settings"
	ActListWorkspaces  Action = "list-workspaces"
	ActCreateWorkspace Action = "create-workspace"
	ActViewAccess      Action = "view-access"      // a member's workspaces and roles
	ActChangeAccess    Action = "change-access"    // grant or revoke; non-admins only as managers (access.go)
	ActManageWorkspace Action = "manage-workspace" // rename or delete
	ActReviewRequests  Action = "review-requests"
	ActWithdrawRequest Action = "withdraw-request" // one's own; then only its requester (request_lifecycle.go)
	ActReadAudit       Action = "read-audit"
	ActExport          Action = "export" // members or audit as a CSV
)

// Who may do what. Outsiders (people with no account, such as invitees) and
// deactivated users are handled before the table: see Authorize.
type rule struct {
	admin, member bool // viewer follows member in every row, so it has no column
	// setting, when set, lets non-admins act if it returns true.
	setting func(Settings) bool
	denied  string // what a non-admin is told
}

var table = map[Action]rule{
	ActHelp:            {admin: true, member: true},
	ActRespond:         {admin: true, member: true},
	ActSeeOwnOpen:      {admin: true, member: true},
	ActInvite:          {admin: true, setting: func(s Settings) bool { return s.AnyoneCanInvite != InviteAdminsOnly }, denied: "Only admins can invite people to %s."},
	ActListInvitations: {admin: true, member: true}, // non-admins see only their own: see OwnsInvitation
	ActShowLink:        {admin: true, denied: "Only admins can show an invitation link again."},
	ActResend:          {admin: true, member: true},
	ActRevoke:          {admin: true, member: true},
	ActListMembers:     {admin: true, member: true},
	ActChangeRole:      {admin: true, denied: "Only admins can change roles."},
	ActDeactivate:      {admin: true, denied: "Only admins can deactivate users."},
	ActActivate:        {admin: true, denied: "Only admins can reactivate users."},
	ActResetPassword:   {admin: true, denied: "Only admins can reset passwords."},
	ActViewSettings:    {admin: true, member: true},
	ActChangeSettings:  {admin: true, denied: "Only admins can change settings."},
	ActListWorkspaces:  {admin: true, member: true},
	ActCreateWorkspace: {admin: true, setting: func(s Settings) bool { return s.AnyoneCanCreateWorkspaces }, denied: "Only admins can create workspaces in %s."},
	ActViewAccess:      {admin: true, member: true},
	ActChangeAccess:    {admin: true, member: true}, // then CheckAccessIn: managers, in their workspaces
	ActManageWorkspace: {admin: true, denied: "Only admins can rename or delete workspaces."},
	ActReviewRequests:  {admin: true, denied: "Only admins can review invitation requests."},
	ActWithdrawRequest: {admin: true, member: true},
	ActReadAudit:       {admin: true, denied: "Only admins can read the audit log."},
	ActExport:          {admin: true, denied: "Only admins can export lists."},
}

// outsiderActions are what a person without an account may do: read help, and
// see and answer the invitations addressed to their verified email.
var outsiderActions = map[Action]bool{ActHelp: true, ActRespond: true, ActSeeOwnOpen: true}

// Authorize applies the permission table. actor is nil for a person who is not
// in the organization.
func Authorize(actor *User, s Settings, a Action) error {
	r, ok := table[a]
	if !ok {
		return Errorf(CodeForbidden, "Unknown action %q.", a)
	}
	if actor == nil {
		if outsiderActions[a] {
			return nil
		}
		return Errorf(CodeNotMember, "You are not a member of %s yet.", s.Name).
			WithHint("Ask an admin to invite you; if you were invited, accept the invitation first.")
	}
	if actor.Status != StatusActive {
		return Errorf(CodeDeactivated, "Your account in %s is deactivated, so usher can't do anything for you.", s.Name).
			WithHint("Ask an admin to reactivate it.")
	}
	allowed := r.member
	if actor.Role == RoleAdmin {
		allowed = r.admin
	} else if r.setting != nil && r.setting(s) {
		allowed = true
	}
	if !allowed {
		msg := r.denied
		if msg == "" {
			msg = "You are not allowed to do that."
		}
		e := &Error{Code: CodeForbidden}
		if strings.Contains(msg, "%s") {
			e.Message = fmt.Sprintf(msg, s.Name)
		} else {
			e.Message = msg
		}
		return e
	}
	return nil
}

// OwnsInvitation reports whether actor may manage inv as a non-admin: only the
// invitations they sent themselves.
func OwnsInvitation(actor *User, inv *Invitation) bool {
	return actor != nil && inv != nil && inv.Inviter == actor.Email
}

// CheckManageInvitation applies the "own invitations only" rule for resend,
// revoke and the pending list. ref is how the person named the invitation
// (an email or an id; inv is nil when nothing matched it). A non-admin asking
// about an invitation that is not theirs gets NoInvitationFor(ref), the very
// answer they get when none exists: nobody learns from usher who else
// invited whom, nor an invitation's id.
func CheckManageInvitation(actor *User, s Settings, a Action, inv *Invitation, ref string) error {
	if err := Authorize(actor, s, a); err != nil {
		return err
	}
	if actor.Role != RoleAdmin && !OwnsInvitation(actor, inv) {
		return NoInvitationFor(ref)
	}
	if inv == nil {
		return Errorf(CodeNotFound, "There is no such invitation.")
	}
	return nil
}

// NoInvitationFor is a non-admin's one answer for an invitation ref (an
// email or an id) that names none of theirs, whether it names someone else's
// invitation or nothing at all.
func NoInvitationFor(ref string) *Error {
	if LooksLikeInvitationID(ref) {
		return Errorf(CodeNotFound, "You have no pending invitation %s.", ref).WithHint("invitations lists yours.")
	}
	return Errorf(CodeNotFound, "You have no pending invitation for %s.", ref).WithHint("invitations lists yours.")
}

// InviteDecision is what happens to an invitation someone is allowed to send.
type InviteDecision int

const (
	InviteSend    InviteDecision = iota // create and deliver now
	InviteRequest                       // create as a request an admin must approve
)

// CheckInvite applies the invite rules: the table, then for non-admins that
// they grant at most their own role and only workspaces they have (with at most
// their own workspace role).
func CheckInvite(actor *User, s Settings, role Role, grants Grants) (InviteDecision, error) {
	if err := Authorize(actor, s, ActInvite); err != nil {
		if ErrorCode(err) == CodeForbidden {
			return 0, err.(*Error).WithHint("An admin can let everyone invite with: settings anyone-can-invite on")
		}
		return 0, err
	}
	if actor.Role == RoleAdmin {
		return InviteSend, nil
	}
	if !role.AtMost(actor.Role) {
		return 0, Errorf(CodeForbidden, "You can't invite someone as %s: that is above your own role (%s).", role, actor.Role)
	}
	for _, g := range grants {
		own, ok := actor.Workspaces.Get(g.Workspace)
		if !ok {
			return 0, Errorf(CodeForbidden, "You can't give access to workspace %s: you don't have it yourself.", g.Workspace)
		}
		if g.Role.Rank() > own.Role.Rank() {
			return 0, Errorf(CodeForbidden, "You can't make someone %s of %s: you are %s there.", g.Role, g.Workspace, own.Role)
		}
	}
	if s.AnyoneCanInvite == InviteApproval {
		return InviteRequest, nil
	}
	return InviteSend, nil
}

package org

import "time"

// Status is whether a user may act.
type Status string

const (
	StatusActive      Status = "active"
	StatusDeactivated Status = "deactivated"
)

// ParseStatus accepts a status name in any case.
func ParseStatus(s string) (Status, error) {
	switch Status(lower(s)) {
	case StatusActive:
		return StatusActive, nil
	case StatusDeactivated:
		return StatusDeactivated, nil
	}
	return "", Errorf(CodeInvalid, "%q is not a status.", s).WithHint("Valid statuses: active, deactivated.")
}

// User is a person in the organization, identified by a normalized email.
type User struct {
	Email string // the identity: every key, index, guard and comparison uses it
	// Spelling is the address as first typed for this person (the invitation's
	// spelling when they accepted, the operator's for `usher admin add`), shown
	// to people; "" means Email. It is set when the user is created and never
	// overwritten by a later, differently-cased mention: first spelling wins,
	// so what people see does not flip with whoever typed it last.
	Spelling string
	Name     string
	// ExternalID is the identity provider's id for the person (SCIM
	// externalId), "" for people who never came from one.
	ExternalID string
	Role       Role
	Status     Status
	Workspaces Grants

	PasswordHash string
	// MustChangePassword is set by a reset: the temporary password works for one
	// sign-in, until PasswordExpires, and then has to be replaced.
	MustChangePassword bool
	PasswordExpires    time.Time

	Created time.Time
	Updated time.Time
	// Version increases with every write; storage refuses a write based on a
	// stale read (compare-and-set), so concurrent admins cannot lose updates.
	Version int64
}

// Active reports whether the user may act.
func (u *User) Active() bool { return u != nil && u.Status == StatusActive }

// IsActiveAdmin reports whether u counts toward the "at least one admin" rule.
func (u *User) IsActiveAdmin() bool { return u.Active() && u.Role == RoleAdmin }

// Clone returns a deep copy, so that a change can be prepared without touching
// what was read.
func (u *User) Clone() *User {
	c := *u
	c.Workspaces = append(Grants(nil), u.Workspaces...)
	return &c
}

// Display is the address to show people: the kept spelling, else the identity.
func (u *User) Display() string { return Spelled(u.Email, u.Spelling) }

// DisplayName is the name if known, else the address as spelled.
func (u *User) DisplayName() string {
	if u.Name != "" {
		return u.Name
	}
	return u.Display()
}

// Identity is a person as a chat platform vouches for them.
type Identity struct {
	Platform string // "slack", "teams", "shell", "web"
	Team     string // Slack team id, Teams tenant id
	UserID   string // Slack user id, Teams AAD object id
	Email    string // verified by the platform, normalized
	Name     string
}

// Key is the identity's stable index key ("slack:T1:U1").
func (i Identity) Key() string { return i.Platform + ":" + i.Team + ":" + i.UserID }

// String names the identity in audit entries.
func (i Identity) String() string {
	if i.UserID == "" {
		return i.Platform
	}
	return i.Platform + ":" + i.UserID
}

// Notified reports whether u is told what happens around them (an invitation
// of theirs expired, their role changed): a deactivated user is not, since
// they can do nothing about it and may have left. Their own account's news
// (deactivated, reactivated) is told them regardless. A nil u, someone who
// is not a user, is told: invitees are not users yet.
func Notified(u *User) bool { return u == nil || u.Active() }

// RoleWhenDeactivated is the role the user email had when last deactivated,
// read from audit (newest first) by undoing the role changes since, and
// whether the audit reaches back that far. Reactivation says "again" only
// for a true return: an admin may change a deactivated user's role, and
// "you are admin again" to someone who never was is wrong (issue 14).
func RoleWhenDeactivated(email string, now Role, audit []AuditEntry) (Role, bool) {
	role := now
	for _, e := range audit {
		if !SameEmail(e.Target, email) {
			continue
		}
		switch {
		case e.Action == "user.role":
			role = Role(e.Before)
		case e.Action == "user.status" && e.After == string(StatusDeactivated):
			return role, true
		}
	}
	return "", false
}

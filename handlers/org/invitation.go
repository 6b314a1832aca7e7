package org

import (
	"strings"
	"time"
)

// InvitationStatus is where an invitation is in its life.
//
//	requested -> pending | denied | expired | revoked (anyone-can-invite approval;
//	             revoked: withdrawn by its requester)
//	pending   -> accepted | declined | revoked | expired
type InvitationStatus string

const (
	InvitationRequested InvitationStatus = "requested"
	InvitationPending   InvitationStatus = "pending"
	InvitationAccepted  InvitationStatus = "accepted"
	InvitationDeclined  InvitationStatus = "declined"
	InvitationRevoked   InvitationStatus = "revoked"
	InvitationExpired   InvitationStatus = "expired"
	InvitationDenied    InvitationStatus = "denied"
)

var transitions = map[InvitationStatus][]InvitationStatus{
	InvitationRequested: {InvitationPending, InvitationDenied, InvitationExpired, InvitationRevoked},
	InvitationPending:   {InvitationAccepted, InvitationDeclined, InvitationRevoked, InvitationExpired},
}

// CanBecome reports whether the state machine allows s -> next.
func (s InvitationStatus) CanBecome(next InvitationStatus) bool {
	for _, t := range transitions[s] {
		if t == next {
			return true
		}
	}
	return false
}

// Open reports whether the invitation still waits for someone to act on it.
func (s InvitationStatus) Open() bool { return s == InvitationPending || s == InvitationRequested }

// Invitation is an offer to join the organization.
type Invitation struct {
	ID         string
	Email      string // invitee, normalized: the identity
	Spelling   string // invitee as the inviter typed it, for display; "" means Email
	Role       Role
	Workspaces Grants
	Note       string
	Inviter    string // inviter's email: the identity
	// InviterSpelling is the inviter's address as shown to people (their
	// user's display spelling when they invited); "" means Inviter.
	InviterSpelling string
	Created         time.Time
	Expires         time.Time
	Status          InvitationStatus
	// TokenHash is the SHA-256 (hex) of the link's secret. The secret itself is
	// never stored; showing a link again means rotating it.
	TokenHash  string
	Delivery   string // where the link went: "slack:dm", "teams:chat", "shown to inviter"
	Reminders  int
	NextRemind time.Time
	Updated    time.Time
	Version    int64
}

// Display is the invitee's address to show people: as the inviter typed it.
func (inv *Invitation) Display() string { return Spelled(inv.Email, inv.Spelling) }

// InviterDisplay is the inviter's address to show people.
func (inv *Invitation) InviterDisplay() string { return Spelled(inv.Inviter, inv.InviterSpelling) }

// Clone returns a deep copy.
func (inv *Invitation) Clone() *Invitation {
	c := *inv
	c.Workspaces = append(Grants(nil), inv.Workspaces...)
	return &c
}

// ExpiredAt reports whether a pending invitation is past its expiry at now.
func (inv *Invitation) ExpiredAt(now time.Time) bool {
	return inv.Status.Open() && !now.Before(inv.Expires) // a request expires too
}

// StatusError explains to a person why an invitation cannot be acted on.
func (inv *Invitation) StatusError() *Error {
	switch inv.Status {
	case InvitationAccepted:
		return Errorf(CodeConflict, "This invitation was already accepted.")
	case InvitationDeclined:
		return Errorf(CodeConflict, "This invitation was already declined.")
	case InvitationRevoked:
		return Errorf(CodeConflict, "This invitation was revoked.").WithHint("Ask %s for a new one.", inv.InviterDisplay())
	case InvitationExpired:
		return Errorf(CodeConflict, "This invitation has expired.").WithHint("Ask %s for a new one.", inv.InviterDisplay())
	case InvitationDenied:
		return Errorf(CodeConflict, "This invitation request was denied.")
	case InvitationRequested:
		return Errorf(CodeConflict, "This invitation is still waiting for an admin's approval.")
	}
	return nil
}

// LooksLikeInvitationID tells an invitation id from an email in commands that
// take either ("revoke EMAIL|ID").
func LooksLikeInvitationID(s string) bool { return s != "" && !strings.Contains(s, "@") }

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

package org

import "time"

// A bulk invitation (more than a handful of addresses at once) keeps one
// progress message up to date for its sender: how many of its invitations
// were delivered so far, by what means, and how many reach nobody. Its state
// lives in the store (one record per bulk command) so that every replica
// delivering a share of the invitations counts into the same place.

// ProgressWrite changes a progress record in a Change: the invitations a
// batch adds to its total, its seal once no batch is to follow, or one
// invitation settled (counted once however often its delivery is recorded).
type ProgressWrite struct {
	ID     string
	Sender string // who is shown the progress (set with Add)
	// NoLinks says the sender may not be shown invitation links (a
	// non-admin): the invitees no platform reaches are listed for them
	// without links (set with Add).
	NoLinks bool
	Add     int // invitations this change creates that count toward the total
	// Seal says no batch follows: the count is final once every invitation
	// added so far has settled.
	Seal bool
	// Invitation, with Outcome, is one invitation settled: counted under
	// Outcome the first time only.
	Invitation string
	Outcome    ProgressOutcome
	TTL        time.Duration
}

// ProgressOutcome is how one invitation of a bulk ended up.
type ProgressOutcome string

const (
	ProgressDelivered   ProgressOutcome = "delivered"   // in a chat direct message
	ProgressEmailed     ProgressOutcome = "emailed"     // by email
	ProgressUnreachable ProgressOutcome = "unreachable" // on no platform: listed for the sender ("Show their links")
)

// ProgressAnchor is where the progress message was posted, to update it in
// place: the platform's names for the conversation and the message.
type ProgressAnchor struct {
	Platform  string
	Channel   string
	Message   string
	UserID    string
	Workspace string
}

// ProgressState is a progress record as read.
type ProgressState struct {
	ID                                     string
	Total, Delivered, Emailed, Unreachable int
	Sealed                                 bool
	Sender                                 string
	NoLinks                                bool
	Anchor                                 ProgressAnchor
}

// UnreachablePage is one page of a bulk's invitees on no platform, in
// the order they settled, with the record they were counted in: Listed is
// how many the list holds (Unreachable, counted in the same steps).
type UnreachablePage struct {
	State       ProgressState
	Listed      int
	Invitations []string // ids
}

// Settled is how many invitations reached an outcome.
func (p ProgressState) Settled() int { return p.Delivered + p.Emailed + p.Unreachable }

// Final reports whether every invitation of the bulk has settled.
func (p ProgressState) Final() bool { return p.Sealed && p.Settled() >= p.Total }

// ProgressClaim is the answer to asking to update a progress message: Due
// with a Token (a lease: nobody else updates it meanwhile) and the state to
// show, or not due, possibly with a time to ask again (RetryIn > 0).
type ProgressClaim struct {
	Due     bool
	Token   string
	State   ProgressState
	RetryIn time.Duration
}

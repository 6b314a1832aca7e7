package org

import "time"

// Login is a person's one web credential, for every organization of the
// deployment they belong to (issue 13, item 4): their password hash and,
// after a reset, that it is temporary. What they may do stays each
// organization's own (its User: role, status), so a deactivation in one
// organization leaves the others, and this credential, untouched.
type Login struct {
	Email        string
	PasswordHash string // "" once a temporary password was used up
	// MustChangePassword: the password is temporary (a reset), good for one
	// sign-in until PasswordExpires, after which the person chooses one.
	MustChangePassword bool
	PasswordExpires    time.Time
	// Version counts writes: a write names the version it was decided on.
	Version int64
}

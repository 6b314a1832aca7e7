// Package org holds usher's domain: users, roles, workspaces, invitations,
// settings, audit entries and the rules of who may do what. It imports only the
// standard library so that every platform and the storage share one set of rules.
package org

import (
	"errors"
	"fmt"
)

// Code classifies an error that a person may see. Tests assert codes, not prose.
type Code string

const (
	CodeInvalid     Code = "invalid"     // the input is wrong; the message says how to fix it
	CodeForbidden   Code = "forbidden"   // the actor may not do this
	CodeNotFound    Code = "not_found"   // no such user, invitation or workspace
	CodeConflict    Code = "conflict"    // the state does not allow it (already accepted, ...)
	CodeLastAdmin   Code = "last_admin"  // the change would leave no active admin
	CodeLimit       Code = "limit"       // a quota such as invites-per-day is exhausted
	CodeDeactivated Code = "deactivated" // the actor's account is deactivated
	CodeNotMember   Code = "not_member"  // the actor is not in the organization
	CodeUnavailable Code = "unavailable" // the database cannot be reached; try again
)

// Error is an error whose Message is safe to show to the person who acted.
// Anything that is not an *Error is an internal failure: adapters show a
// reference and log the details.
type Error struct {
	Code    Code
	Message string
	Hint    string // what to do next, optional
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + " " + e.Hint
}

// Errorf builds a user-facing error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithHint returns a copy of e that tells the user what to do next.
func (e *Error) WithHint(format string, args ...any) *Error {
	c := *e
	c.Hint = fmt.Sprintf(format, args...)
	return &c
}

// ErrorCode returns the code of the first *Error in err's chain, or "".
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrUnavailable is what storage returns when Redis cannot be reached, so that
// every adapter can tell the user to try again instead of "internal error".
var ErrUnavailable = &Error{
	Code:    CodeUnavailable,
	Message: "usher can't reach its database right now, so nothing was changed.",
	Hint:    "Please try again in a minute.",
}

// ErrMaybeApplied is what storage returns when a change was sent to Redis but
// neither its reply nor a check afterwards came back (Redis stalled with the
// change in its input buffer): the change may yet apply, so the user must not
// be told that nothing was changed. Handlers replace the hint with where to
// look (ErrorCode is still CodeUnavailable: Redis is not answering).
var ErrMaybeApplied = &Error{
	Code:    CodeUnavailable,
	Message: "usher lost touch with its database while saving this, so it may or may not have gone through.",
	Hint:    "Check whether it did before trying again.",
}

// PreconditionError reports that the state read before a change moved before
// the change was committed (a concurrent click, a retry). Callers re-read and
// decide again; it never reaches a user as such.
type PreconditionError struct {
	What   string // e.g. "invitation abc status"
	Actual string // what the store holds now
}

func (e *PreconditionError) Error() string {
	return fmt.Sprintf("precondition failed: %s is now %q", e.What, e.Actual)
}

// LastAdminError refuses a change that would leave no active admin.
func LastAdminError(email string) *Error {
	return Errorf(CodeLastAdmin, "%s is the last active admin; usher never leaves the organization without one.", email).
		WithHint("Make someone else an admin first.")
}

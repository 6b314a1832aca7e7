package org

import "time"

// AuditEntry records one change: who, what, to whom, before and after.
type AuditEntry struct {
	At     time.Time
	Actor  string // email, or "operator" for the terminal bootstrap
	Via    string // platform identity, e.g. "slack:U123"
	Action string // e.g. "invitation.create", "user.role"
	Target string // email or invitation id
	Before string
	After  string
	Detail string
}

package org

import (
	"strings"
	"time"
)

// Workspace is a named area of the organization.
type Workspace struct {
	Name    string
	Creator string
	Created time.Time
}

// NormalizeWorkspaceName lower-cases a workspace name and checks that it is
// 1-63 of [a-z0-9._-] starting with a letter or digit, so that it survives every
// chat platform's formatting and the "name:role" syntax unambiguously.
func NormalizeWorkspaceName(s string) (string, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	bad := name == "" || len(name) > 63
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.')
		if !ok {
			bad = true
			break
		}
	}
	if bad {
		return "", Errorf(CodeInvalid, "%q is not a valid workspace name.", s).
			WithHint("Use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit, e.g. fraud-models.")
	}
	return name, nil
}

// AllWorkspaces is what `invite --workspace all` says: every workspace the
// organization has when the invitation is made. No workspace may take the name.
const AllWorkspaces = "all"

// NewWorkspaceName is NormalizeWorkspaceName for a workspace being created or
// renamed: "all" is refused, so `--workspace all` can never mean one of them.
func NewWorkspaceName(s string) (string, error) {
	name, err := NormalizeWorkspaceName(s)
	if err == nil && name == AllWorkspaces {
		return "", Errorf(CodeInvalid, "A workspace can't be called %q: `invite --workspace all` means every workspace.", AllWorkspaces).
			WithHint("Pick another name, e.g. all-hands.")
	}
	return name, err
}

// WorkspaceNameFor is the workspace name an identity provider's group name
// becomes: lower-cased, every run of characters a workspace name may not
// hold ("Sales (EMEA) & Ops") made one '-' ("sales-emea-ops"), cut to 63.
// Providers' group names are free text; chat's workspace names are not,
// and a group must still land somewhere its members recognise. What is left
// is checked as a name typed in chat (so "all", or a name with no letter or
// digit, is refused).
func WorkspaceNameFor(group string) (string, error) {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(strings.TrimSpace(group)) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
			continue
		}
		dash = true
	}
	name := strings.TrimLeft(b.String(), "._")
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-._")
	}
	if name == "" {
		return "", Errorf(CodeInvalid, "The group name %q has no letter or digit to name a workspace by.", group).
			WithHint("Give the group a name with letters or digits, e.g. Fraud Models.")
	}
	return NewWorkspaceName(name)
}

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

package org

import (
	"fmt"
	"regexp"
	"strings"
)

// ID names one organization of a deployment. It is the hash tag of every key
// the organization has in Redis (usher:{ID}:...), so it is restricted to
// characters that can never end a hash tag nor act in a SCAN pattern: 1-32 of
// a-z, 0-9 and '-', starting with a letter or digit. Build one with ParseID
// (operator or environment input) or IDFromName; storage checks Valid again
// at its boundary, because a conversion ID("...") skips ParseID.
type ID string

// idPattern is the rule. It was storage's (keys.go) until organizations
// became values; storage now asks the domain.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// MaxIDLen is the longest organization id.
const MaxIDLen = 32

// ParseID validates an organization id as typed (USHER_ORG, `usher org ...`).
func ParseID(s string) (ID, error) {
	id := ID(s)
	if err := id.Validate(); err != nil {
		return "", err
	}
	return id, nil
}

// Validate reports whether id follows the rule, as an *Error of CodeInvalid.
func (id ID) Validate() error {
	if !idPattern.MatchString(string(id)) {
		return Errorf(CodeInvalid, "%q is not an organization id.", string(id)).
			WithHint("An organization id is 1-%d of a-z, 0-9 and '-', starting with a letter or digit (e.g. acme-corp).", MaxIDLen)
	}
	return nil
}

func (id ID) String() string { return string(id) }

// IDFromName derives an id from an organization's display name: lower-cased,
// every run of other characters than a-z and 0-9 becomes one '-', cut to
// MaxIDLen ("Acme Corp." -> "acme-corp"). A name with no such character at
// all ("Ünïcode" keeps "n-code"; "日本" keeps nothing) is refused: the
// operator then names the id (`--id`).
func IDFromName(name string) (ID, error) {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			sep := dash && b.Len() > 0
			if sep && b.Len()+2 > MaxIDLen || b.Len()+1 > MaxIDLen {
				break
			}
			if sep {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	s := b.String()
	if s == "" {
		return "", Errorf(CodeInvalid, "Cannot make an organization id from the name %q.", name).
			WithHint("Give one with --id (1-%d of a-z, 0-9 and '-').", MaxIDLen)
	}
	return ParseID(s)
}

// ParseOrgName checks an organization's display name as typed: the same rule
// as the `name` setting (one line of clean text, 1-80 characters), so the
// directory's name and the one messages show can always be the same.
func ParseOrgName(s string) (string, error) {
	st, _ := LookupSetting("name")
	return st.Parse(s)
}

// Tenant is what a chat platform signs a request with, and what the directory
// maps to an organization: a Slack workspace (Team, with its Enterprise Grid
// Enterprise when it is in one), a whole Grid enterprise (Enterprise only: an
// org-wide install), or a Teams (Entra) tenant.
type Tenant struct {
	Platform   string // PlatformSlack or PlatformTeams (settings.go)
	Enterprise string // Slack: E..., "" outside Enterprise Grid
	Team       string // Slack: T..., "" for every workspace of Enterprise
	TenantID   string // Teams: the tenant id (a GUID, lower-cased)
}

// SlackTenant is a Slack workspace team in enterprise (either may be "").
func SlackTenant(enterprise, team string) Tenant {
	return Tenant{Platform: PlatformSlack, Enterprise: strings.TrimSpace(enterprise), Team: strings.TrimSpace(team)}
}

// TeamsTenant is a Microsoft Teams tenant. Tenant ids are GUIDs, which
// Microsoft compares case-insensitively.
func TeamsTenant(id string) Tenant {
	return Tenant{Platform: PlatformTeams, TenantID: strings.ToLower(strings.TrimSpace(id))}
}

// slackIDPattern and teamsIDPattern bound what reaches a directory key: the
// ids the platforms hand out, nothing with '|' (the field separator) or spaces.
var (
	slackIDPattern = regexp.MustCompile(`^[A-Z0-9]{2,32}$`)
	teamsIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
)

// Validate checks t before it becomes a directory entry.
func (t Tenant) Validate() error {
	switch t.Platform {
	case PlatformSlack:
		if t.Team == "" && t.Enterprise == "" {
			return Errorf(CodeInvalid, "A Slack tenant needs a team id (T...) or an enterprise id (E...).")
		}
		for _, v := range []string{t.Team, t.Enterprise} {
			if v != "" && !slackIDPattern.MatchString(v) {
				return Errorf(CodeInvalid, "%q is not a Slack team or enterprise id.", v).WithHint("Slack ids look like T0123ABCD or E0123ABCD (upper-case letters and digits).")
			}
		}
		if t.TenantID != "" {
			return Errorf(CodeInvalid, "A Slack tenant has no Teams tenant id.")
		}
	case PlatformTeams:
		if !teamsIDPattern.MatchString(t.TenantID) {
			return Errorf(CodeInvalid, "%q is not a Teams tenant id.", t.TenantID).WithHint("A tenant id is a GUID, e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47.")
		}
		if t.Team != "" || t.Enterprise != "" {
			return Errorf(CodeInvalid, "A Teams tenant has no Slack ids.")
		}
	default:
		return Errorf(CodeInvalid, "Unknown chat platform %q.", t.Platform)
	}
	return nil
}

// String names t for people: "slack team T1 (enterprise E1)", "teams tenant X".
func (t Tenant) String() string {
	switch {
	case t.Platform == PlatformTeams:
		return "teams tenant " + t.TenantID
	case t.Team == "":
		return "slack enterprise " + t.Enterprise + " (every workspace)"
	case t.Enterprise != "":
		return fmt.Sprintf("slack team %s (enterprise %s)", t.Team, t.Enterprise)
	}
	return "slack team " + t.Team
}

// Deployment is what the routing rule needs to know of the directory.
type Deployment struct {
	Default    ID   // USHER_ORG
	Orgs       int  // organizations in the directory
	HasDefault bool // Default is one of them
}

// Route is the routing rule for a chat request whose tenant the directory
// resolved to mapped (found) or to nothing: a mapped tenant is served by its
// organization; a tenant that maps to nothing is served by the default
// organization only when the deployment has exactly one organization, the
// default (so a single-organization deployment needs no directory entries,
// and once a second organization exists no unknown workspace can reach the
// first one's data). ok false: nobody serves it, and the request is told
// that usher is not set up for this workspace.
func Route(mapped ID, found bool, d Deployment) (ID, bool) {
	if found {
		return mapped, true
	}
	if d.Orgs == 1 && d.HasDefault {
		return d.Default, true
	}
	return "", false
}

package storage

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// A link's secret is known by its SHA-256, hex in the domain; it is stored
// base64url (43 characters rather than 64), which keeps an invitation's hash
// and the tokens index a size class smaller (docs/reminders.md, memory).
func tokenField(hexHash string) string {
	b, err := hex.DecodeString(hexHash)
	if err != nil || len(b) != sha256.Size {
		return hexHash // not a SHA-256 in hex: stored as it is
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenHex(field string) string {
	b, err := base64.RawURLEncoding.DecodeString(field)
	if err != nil || len(b) != sha256.Size || len(field) != 43 {
		return field
	}
	return hex.EncodeToString(b)
}

// Times are stored as Unix milliseconds; 0 is the zero time.
func ms(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

func fromMS(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// spellingFields stores a display spelling next to its identity only when it
// differs (most addresses are typed lower-case): an absent field reads as the
// identity, which is also how records from before spellings were kept read.
// The identity stored is org.EmailKey of what the domain passed, so that a
// capitalized Email can never become a record's identity; a capitalized
// Email with no spelling keeps its capitals as the spelling instead.
func spellingFields(field, email, spelling string) (string, []string) {
	id := org.EmailKey(email)
	sp := org.Spelled(id, spelling)
	if sp == id && email != id {
		sp = email
	}
	if sp == id {
		return id, nil
	}
	return id, []string{field, sp}
}

func userFields(u *org.User) []string {
	email, sp := spellingFields("sp", u.Email, u.Spelling)
	if u.ExternalID != "" {
		// Only provisioned users have one: the others' records stay as small
		// as before (commit_user.go drops a cleared one).
		sp = append(sp, "xid", u.ExternalID)
	}
	return append([]string{
		"email", email, "name", u.Name, "role", string(u.Role), "status", string(u.Status),
		"ws", u.Workspaces.Encode(), "pw", u.PasswordHash, "mcp", boolStr(u.MustChangePassword),
		"pwexp", ms(u.PasswordExpires), "created", ms(u.Created), "updated", ms(u.Updated),
		"ver", strconv.FormatInt(u.Version, 10),
	}, sp...)
}

func decodeUser(h map[string]string) (*org.User, error) {
	if len(h) == 0 {
		return nil, nil
	}
	ws, err := org.DecodeGrants(h["ws"])
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", h["email"], err)
	}
	ver, _ := strconv.ParseInt(h["ver"], 10, 64)
	return &org.User{
		Email: h["email"], Spelling: h["sp"], Name: h["name"], ExternalID: h["xid"], Role: org.Role(h["role"]), Status: org.Status(h["status"]),
		Workspaces: ws, PasswordHash: h["pw"], MustChangePassword: h["mcp"] == "1",
		PasswordExpires: fromMS(h["pwexp"]), Created: fromMS(h["created"]), Updated: fromMS(h["updated"]),
		Version: ver,
	}, nil
}

func invitationFields(inv *org.Invitation) []string {
	email, sp := spellingFields("sp", inv.Email, inv.Spelling)
	by, bysp := spellingFields("bysp", inv.Inviter, inv.InviterSpelling)
	return append(append([]string{
		"id", inv.ID, "email", email, "role", string(inv.Role), "ws", inv.Workspaces.Encode(),
		"note", inv.Note, "by", by, "created", ms(inv.Created), "expires", ms(inv.Expires),
		"status", string(inv.Status), "th", tokenField(inv.TokenHash), "dlv", inv.Delivery,
		"rem", strconv.Itoa(inv.Reminders), "next", ms(inv.NextRemind), "updated", ms(inv.Updated),
		"ver", strconv.FormatInt(inv.Version, 10),
	}, sp...), bysp...)
}

func decodeInvitation(h map[string]string) (*org.Invitation, error) {
	if len(h) == 0 {
		return nil, nil
	}
	ws, err := org.DecodeGrants(h["ws"])
	if err != nil {
		return nil, fmt.Errorf("invitation %s: %w", h["id"], err)
	}
	rem, _ := strconv.Atoi(h["rem"])
	ver, _ := strconv.ParseInt(h["ver"], 10, 64)
	return &org.Invitation{
		ID: h["id"], Email: h["email"], Spelling: h["sp"], Role: org.Role(h["role"]), Workspaces: ws, Note: h["note"],
		Inviter: h["by"], InviterSpelling: h["bysp"], Created: fromMS(h["created"]), Expires: fromMS(h["expires"]),
		Status: org.InvitationStatus(h["status"]), TokenHash: tokenHex(h["th"]), Delivery: h["dlv"],
		Reminders: rem, NextRemind: fromMS(h["next"]), Updated: fromMS(h["updated"]), Version: ver,
	}, nil
}

func decodeWorkspaces(h map[string]string) []org.Workspace {
	out := make([]org.Workspace, 0, len(h))
	for name, v := range h {
		creator, created, _ := strings.Cut(v, "|")
		out = append(out, org.Workspace{Name: name, Creator: creator, Created: fromMS(created)})
	}
	return out
}

func auditFields(e org.AuditEntry) []string {
	return []string{
		"at", ms(e.At), "actor", e.Actor, "via", e.Via, "action", e.Action, "target", e.Target,
		"before", e.Before, "after", e.After, "detail", e.Detail,
	}
}

func decodeAudit(h map[string]string) org.AuditEntry {
	return org.AuditEntry{
		At: fromMS(h["at"]), Actor: h["actor"], Via: h["via"], Action: h["action"], Target: h["target"],
		Before: h["before"], After: h["after"], Detail: h["detail"],
	}
}

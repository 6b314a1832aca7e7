package org

import (
	"net/mail"
	"strings"
)

// NormalizeEmail validates an address and returns its canonical form, which is
// the person's identity: trimmed and lower-cased as a whole. RFC 5321 lets a
// local part's case matter, but no mail system people use treats Bob@x and
// bob@x as two mailboxes, and Slack and Teams (Entra ID) find people by email
// case-insensitively; two records for one person let an admin's capitalized
// invitation create a second account that outlived deactivating the first
// (issue 12). So every key, index, guard and comparison sees this one form,
// and storage keys go through EmailKey as well, so that nothing stored under
// another spelling is found by accident (storage.MigrateEmailCase moves what
// older versions stored). Addresses are ASCII (dotAtom, ValidDomain), so
// lower-casing is byte-wise and unambiguous.
// Display-name forms ("Bob <bob@x>") and mailto: prefixes are accepted because
// people paste them from mail clients. SpellEmail also returns the spelling
// people typed, which is kept for display only.
func NormalizeEmail(s string) (string, error) {
	sp, err := spellEmail(s)
	return EmailKey(sp), err
}

// SpellEmail validates an address like NormalizeEmail and returns both its
// identity and its spelling: the address as the person typed it, trimmed and
// unwrapped, with only the domain lower-cased (DNS ignores case; the local
// part is how people write their name: Bob.Smith). The spelling is for
// showing people, never for comparing: EmailKey(spelling) == identity always
// (FuzzNormalizeEmail checks that).
func SpellEmail(s string) (identity, spelling string, err error) {
	sp, err := spellEmail(s)
	if err != nil {
		return "", "", err
	}
	return EmailKey(sp), sp, nil
}

func spellEmail(s string) (string, error) {
	in := strings.TrimSpace(s)
	if len(in) >= 7 && strings.EqualFold(in[:7], "mailto:") {
		in = in[7:]
	}
	if in == "" {
		return "", Errorf(CodeInvalid, "An email address is missing.")
	}
	if out, ok := bareAddress(in); ok {
		return out, nil
	}
	return parseAddress(s, in)
}

// bareAddress spells the common case, a bare dot-atom address such as
// Bob.Smith@Example.com, without mail.ParseAddress, which costs more than the
// rest of an invitation's decision. It gives exactly what parseAddress gives
// for such input (FuzzNormalizeEmail checks that) and declines anything else.
func bareAddress(in string) (string, bool) {
	local, domain, ok := strings.Cut(in, "@")
	if !ok || len(in) > 254 || !dotAtom(local) {
		return "", false
	}
	domain = strings.ToLower(domain)
	if !ValidDomain(domain) {
		return "", false
	}
	return local + "@" + domain, true
}

// parseAddress spells in (s as typed, for the error) the full RFC 5322 way.
func parseAddress(s, in string) (string, error) {
	addr, err := mail.ParseAddress(in)
	if err != nil || strings.ContainsAny(addr.Address, " \t\r\n") {
		return "", Errorf(CodeInvalid, "%q is not an email address.", s).WithHint("Write it like bob@example.com.")
	}
	if len(addr.Address) > 254 {
		return "", Errorf(CodeInvalid, "That email address is longer than 254 characters.")
	}
	local, domain, ok := strings.Cut(addr.Address, "@")
	// Quoted local parts ("a@b"@x, "a,b"@x) parse, but lose their quotes on the
	// way out and would not read back as the same address: refuse them, as
	// every chat platform does.
	if !ok || !dotAtom(local) || !ValidDomain(strings.ToLower(domain)) {
		return "", Errorf(CodeInvalid, "%q is not an email address.", s).WithHint("Write it like bob@example.com.")
	}
	return local + "@" + strings.ToLower(domain), nil
}

// Spelled is the spelling to show for an address whose identity is id: the
// stored spelling if it is one of id's spellings, else id itself. An empty or
// foreign spelling (data written before spellings were kept, or damaged)
// thus never shows another person's address.
func Spelled(id, spelling string) string {
	if spelling != "" && EmailKey(spelling) == id {
		return spelling
	}
	return id
}

// EmailKey is the identity of an address: the whole of it lower-cased. It is
// what NormalizeEmail returns for a valid address; storage applies it to every
// email it puts in a key, a set or a hash field, so a record an older version
// stored under another spelling maps to the same key.
func EmailKey(email string) string {
	for i := 0; i < len(email); i++ {
		if c := email[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(email)
		}
	}
	return email // the common case: no allocation
}

// SameEmail reports whether a and b are one person's address.
func SameEmail(a, b string) bool { return EmailKey(a) == EmailKey(b) }

// dotAtom reports whether s is an unquoted local part (RFC 5322 dot-atom).
func dotAtom(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+/=?^_`{|}~.-", c)
		if !ok {
			return false
		}
	}
	return true
}

// ValidDomain reports whether s is a lower-case DNS name with at least two
// labels of letters, digits and inner hyphens.
func ValidDomain(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// EmailDomain returns the part after the last '@' of a normalized address.
func EmailDomain(email string) string {
	return email[strings.LastIndexByte(email, '@')+1:]
}

package org

import (
	"net/mail"
	"strings"
)

// NormalizeEmail validates an address and returns its canonical form: trimmed,
// domain lower-cased. The local part keeps its case (RFC 5321 says it may be
// significant) but is compared case-insensitively nowhere, so that two people
// who differ only by case stay two people only if they really typed it so.
// Display-name forms ("Bob <bob@x>") and mailto: prefixes are accepted because
// people paste them from mail clients.
func NormalizeEmail(s string) (string, error) {
	in := strings.TrimSpace(s)
	in = strings.TrimPrefix(in, "mailto:")
	if in == "" {
		return "", Errorf(CodeInvalid, "An email address is missing.")
	}
	addr, err := mail.ParseAddress(in)
	if err != nil || strings.ContainsAny(addr.Address, " \t\r\n") {
		return "", Errorf(CodeInvalid, "%q is not an email address.", s).WithHint("Write it like bob@example.com.")
	}
	local, domain, ok := strings.Cut(addr.Address, "@")
	if !ok || local == "" || domain == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", Errorf(CodeInvalid, "%q is not an email address.", s).WithHint("Write it like bob@example.com.")
	}
	if len(addr.Address) > 254 {
		return "", Errorf(CodeInvalid, "That email address is longer than 254 characters.")
	}
	return local + "@" + strings.ToLower(domain), nil
}

// EmailDomain returns the part after the last '@' of a normalized address.
func EmailDomain(email string) string {
	return email[strings.LastIndexByte(email, '@')+1:]
}

package org

import (
	"testing"
	"time"
)

// Regressions found by the unit tests and fuzzers; each was a real bug.

func TestQuotedLocalPartsAreRefused(t *testing.T) {
	for _, in := range []string{`"(\"@0.0`, `"A@B"@x.com`, `"a,b"@x.com`, `"a b"@x.com`, "a..b@x.com", ".a@x.com", "a@-x.com", "a@x..com", "a@x_y.com"} {
		if out, err := NormalizeEmail(in); err == nil {
			t.Errorf("NormalizeEmail(%q) = %q, want an error", in, out)
		}
	}
	for in, want := range map[string]string{"MAILTO:Bob@X.com": "bob@x.com", "o'brien+tag@Example.ORG": "o'brien+tag@example.org"} {
		if out, err := NormalizeEmail(in); err != nil || out != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, out, err, want)
		}
	}
}

func TestParseDurationRefusesOverflowAndNegatives(t *testing.T) {
	for _, in := range []string{"10000w10000w", "10000w10000w10000w3505d", "-72h", "1d-5h", "99999h"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
	st, _ := LookupSetting("invite-expiry")
	if v, err := st.Parse("10000w10000w10000w3505d"); err == nil {
		t.Errorf("invite-expiry accepted an overflowing duration as %q", v)
	}
}

func TestAllowedDomainsRefuseComments(t *testing.T) {
	st, _ := LookupSetting("allowed-domains")
	if v, err := st.Parse("acme.com (Acme)"); err == nil {
		t.Errorf("allowed-domains stored %q", v)
	}
	if v, err := st.Parse(" Acme.com, @example.org ,acme.com"); err != nil || v != "acme.com,example.org" {
		t.Errorf("allowed-domains = %q, %v", v, err)
	}
}

func TestInRoundsMinutesUp(t *testing.T) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{time.Minute: "in 1m", 5 * time.Minute: "in 5m", 59 * time.Minute: "in 59m", 30 * time.Second: "in 1m", 4*time.Minute + 30*time.Second: "in 5m", time.Hour: "in 1h"} {
		if got := In(now, now.Add(d)); got != want {
			t.Errorf("In(+%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCheckManageInvitationNil(t *testing.T) {
	member := &User{Email: "m@example.com", Role: RoleMember, Status: StatusActive}
	if err := CheckManageInvitation(member, DefaultSettings(), ActRevoke, nil, "x@example.com"); ErrorCode(err) != CodeNotFound {
		t.Fatalf("nil invitation: %v", err)
	}
}

package handlers_test

import (
	"strings"
	"testing"
)

// A refusal is never decided on the remembered view (view.go): after
// allowed-domains changed, the next invitation is decided on fresh settings
// (issue 12, 7c).
func TestRefusalIsDecidedOnFreshState(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "settings allowed-domains partner.com")
	e.invite(boss, "c4@partner.com") // boss's view now remembers partner.com
	e.ok(boss, "settings allowed-domains any")

	r := e.run(boss, "invite c5@example.com")
	if r.Code != "" || len(r.Deliveries) == 0 {
		t.Fatalf("invite after allowed-domains any: code %q: %s", r.Code, r.Text)
	}
	if strings.Contains(r.Text, "partner.com") {
		t.Fatalf("answered from the remembered settings: %s", r.Text)
	}
	// A refusal that fresh state agrees with is still given.
	e.ok(boss, "settings allowed-domains partner.com")
	if r := e.run(boss, "invite c6@example.com"); r.Code != "conflict" || !strings.Contains(r.Text, "allowed: partner.com") {
		t.Fatalf("invite outside allowed-domains: code %q: %s", r.Code, r.Text)
	}
}

package org_test

import (
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

func TestParseID(t *testing.T) {
	for _, ok := range []string{"default", "acme", "acme-2", "0", strings.Repeat("a", 32), "a-", "9lives"} {
		if id, err := org.ParseID(ok); err != nil || string(id) != ok {
			t.Errorf("ParseID(%q) = %q, %v", ok, id, err)
		}
	}
	for _, bad := range []string{"", "-acme", "Acme", "acme corp", "acme}", "{acme", "acme*", "acme?", "a:b", "_directory", strings.Repeat("a", 33), "acme\n", "ácme"} {
		_, err := org.ParseID(bad)
		if org.ErrorCode(err) != org.CodeInvalid {
			t.Errorf("ParseID(%q): %v, want CodeInvalid", bad, err)
		}
	}
}

func TestIDFromName(t *testing.T) {
	for name, want := range map[string]org.ID{
		"Acme":                              "acme",
		"Acme Corp.":                        "acme-corp",
		"  ACME -- Corp  ":                  "acme-corp",
		"Ünïcode":                           "n-code",
		"R&D 2":                             "r-d-2",
		strings.Repeat("abcd ", 20):         "abcd-abcd-abcd-abcd-abcd-abcd-ab",
		"a" + strings.Repeat(" ", 40) + "b": "a-b",
		strings.Repeat("x", 31) + " y":      org.ID(strings.Repeat("x", 31)),
		"Fraud Models (EU)":                 "fraud-models-eu",
		"dept.42/finance":                   "dept-42-finance",
		"---":                               "",
		"日本":                                "",
		"":                                  "",
	} {
		got, err := org.IDFromName(name)
		if want == "" {
			if org.ErrorCode(err) != org.CodeInvalid {
				t.Errorf("IDFromName(%q) = %q, %v; want CodeInvalid", name, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("IDFromName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestParseOrgName(t *testing.T) {
	if n, err := org.ParseOrgName("  Acme   Corp "); err != nil || n != "Acme Corp" {
		t.Errorf("ParseOrgName = %q, %v", n, err)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", 81), "evil\u202Eliam", "a\x00b"} {
		if _, err := org.ParseOrgName(bad); org.ErrorCode(err) != org.CodeInvalid {
			t.Errorf("ParseOrgName(%q): %v, want CodeInvalid", bad, err)
		}
	}
}

func TestTenantValidate(t *testing.T) {
	for _, ok := range []org.Tenant{
		org.SlackTenant("", "T0123ABCD"), org.SlackTenant("E0123", "T0123"), org.SlackTenant("E0123", ""),
		org.TeamsTenant("72F988BF-86F1-41AF-91AB-2D7CD011DB47"),
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	if got := org.TeamsTenant(" AB-CD ").TenantID; got != "ab-cd" {
		t.Errorf("TeamsTenant lower-cases and trims: %q", got)
	}
	for _, bad := range []org.Tenant{
		org.SlackTenant("", ""), org.SlackTenant("", "T1|X"), org.SlackTenant("e1", "T1"), org.SlackTenant("", "T 1"),
		org.TeamsTenant(""), org.TeamsTenant("a|b"), {Platform: "irc", Team: "T1"},
		{Platform: org.PlatformSlack, Team: "T1", TenantID: "x"}, {Platform: org.PlatformTeams, TenantID: "x", Team: "T1"},
	} {
		if err := bad.Validate(); org.ErrorCode(err) != org.CodeInvalid {
			t.Errorf("%+v: %v, want CodeInvalid", bad, err)
		}
	}
}

// TestRoute is the routing rule: a mapped tenant goes to its organization;
// an unmapped one to the default only in a deployment whose one organization
// is the default.
func TestRoute(t *testing.T) {
	def := org.ID("default")
	for _, c := range []struct {
		name   string
		mapped org.ID
		found  bool
		d      org.Deployment
		want   org.ID
		ok     bool
	}{
		{"mapped, single org", "default", true, org.Deployment{Default: def, Orgs: 1, HasDefault: true}, "default", true},
		{"mapped, many orgs", "acme", true, org.Deployment{Default: def, Orgs: 3, HasDefault: true}, "acme", true},
		{"mapped, default not registered", "acme", true, org.Deployment{Default: def, Orgs: 1}, "acme", true},
		{"unmapped, only the default", "", false, org.Deployment{Default: def, Orgs: 1, HasDefault: true}, "default", true},
		{"unmapped, two orgs", "", false, org.Deployment{Default: def, Orgs: 2, HasDefault: true}, "", false},
		{"unmapped, 10000 orgs", "", false, org.Deployment{Default: def, Orgs: 10000, HasDefault: true}, "", false},
		{"unmapped, one org that is not the default", "", false, org.Deployment{Default: def, Orgs: 1}, "", false},
		{"unmapped, empty directory", "", false, org.Deployment{Default: def}, "", false},
	} {
		got, ok := org.Route(c.mapped, c.found, c.d)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: Route = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// FuzzOrgID: whatever an operator types as a name or an id, what comes out
// is a valid id (never a hash-tag breaker or SCAN pattern), or a CodeInvalid.
func FuzzOrgID(f *testing.F) {
	for _, s := range []string{"Acme Corp", "acme-2", "{acme}", "acme*", "日本", "", strings.Repeat("a-", 40), "\u202Eevil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (org.ID, error){org.ParseID, org.IDFromName} {
			id, err := parse(s)
			if err != nil {
				if org.ErrorCode(err) != org.CodeInvalid {
					t.Fatalf("%q: error without a code: %v", s, err)
				}
				continue
			}
			if id.Validate() != nil || len(id) > org.MaxIDLen || strings.ContainsAny(string(id), "{}*?[]\\:| ") || strings.HasPrefix(string(id), "-") {
				t.Fatalf("%q gave a bad id %q", s, id)
			}
		}
		if _, err := org.ParseOrgName(s); err != nil && org.ErrorCode(err) != org.CodeInvalid {
			t.Fatalf("name %q: error without a code: %v", s, err)
		}
	})
}

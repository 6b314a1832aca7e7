package scim_test

import (
	"strings"
	"testing"
)

// FuzzUserFilter sends any filter a provider (or anyone holding a token)
// could: the parser (scim2/filter-parser through elimity/scim) and usher's
// reading of it answer 200 or a 400 SCIM error, never a failure of usher's.
func FuzzUserFilter(f *testing.F) {
	e := newEnv(f)
	e.do("POST", "/scim/v2/Users", oktaUser("fuzz@example.com", "F", "Z", "fz")).want(f, 201)
	for _, s := range []string{
		`userName eq "fuzz@example.com"`, `emails[value eq "fuzz@example.com"]`, `emails[type eq "work" and value eq "a@b.c"]`,
		`externalId eq "fz" and active eq true`, `userName eq "x" or userName eq "y"`, `not (userName eq "x")`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`, `userName eq`, `((((`, `emails[value eq "a"].value eq "b"`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "fuzz@example.com"`, `userName sw "f"`, `id eq 1`, `active eq "False"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		e.t = t
		r := e.do("GET", "/scim/v2/Users?filter="+q(filter), nil)
		switch r.status {
		case 200:
			if r.body["totalResults"] == nil {
				t.Fatalf("list without totalResults: %s", r.raw)
			}
		case 400:
			r.scimError(t, 400, r.str("scimType"))
		default:
			t.Fatalf("filter %q: status %d: %s", filter, r.status, r.raw)
		}
	})
}

// FuzzUserPatch sends any PATCH body to a member and to the last active
// admin: the answer is a success or a 4xx SCIM error, and the organization
// keeps its admin whatever the body says.
func FuzzUserPatch(f *testing.F) {
	e := newEnv(f)
	member := e.do("POST", "/scim/v2/Users", oktaUser("pm@example.com", "P", "M", "pm")).want(f, 201).str("id")
	boss := scimID(f, e, admin)
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false,"displayName":"X"}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"roles"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"roles","value":[{"value":"viewer"}]}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"userName","value":"z@example.com"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":1}]}`,
		`{"Operations":[]}`, `[]`, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[null]}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, toBoss bool) {
		e.t = t
		id := member
		if toBoss {
			id = boss
		}
		r := e.do("PATCH", "/scim/v2/Users/"+id, body)
		if r.status >= 500 || r.status < 200 || r.status >= 300 && r.status < 400 {
			t.Fatalf("body %q: status %d: %s", body, r.status, r.raw)
		}
		if r.status >= 400 {
			r.scimError(t, r.status, r.str("scimType"))
		}
		if u := e.user(admin); !u.IsActiveAdmin() {
			t.Fatalf("body %q left the organization without its admin: %+v", body, u)
		}
		if strings.Contains(r.raw, "usher-scim-") {
			t.Fatal("a token in a reply")
		}
	})
}

package scim_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

// members is a group reply's member ids.
func members(r map[string]any) []string {
	var out []string
	ms, _ := r["members"].([]any)
	for _, m := range ms {
		out = append(out, m.(map[string]any)["value"].(string))
	}
	return out
}

func provision(t *testing.T, e *env, emails ...string) []string {
	t.Helper()
	var ids []string
	for _, m := range emails {
		ids = append(ids, e.do("POST", "/scim/v2/Users", oktaUser(m, "G", "U", "")).want(t, 201).str("id"))
	}
	return ids
}

func TestGroups(t *testing.T) {
	e := newEnv(t)
	ids := provision(t, e, "g1@example.com", "g2@example.com", "g3@example.com")
	e.takeTold()

	// Okta checks by displayName first, then creates with members.
	if r := e.do("GET", "/scim/v2/Groups?filter="+q(`displayName eq "Fraud Models"`), nil).want(t, 200); r.total() != 0 {
		t.Fatalf("exists before: %s", r.raw)
	}
	c := e.do("POST", "/scim/v2/Groups", oktaGroup("Fraud Models", ids[0], ids[1])).want(t, 201)
	gid := c.str("id")
	if c.str("displayName") != "fraud-models" || len(members(c.body)) != 2 {
		t.Fatalf("created: %s", c.raw)
	}
	if u := e.user("g1@example.com"); len(u.Workspaces) != 1 || u.Workspaces[0] != (org.Grant{Workspace: "fraud-models", Role: org.WorkspaceEditor}) {
		t.Fatalf("access: %+v", u.Workspaces)
	}
	if told := e.takeTold(); len(told) != 2 || !strings.Contains(told[0].Message.Text, "okta (SCIM) changed your workspace access") {
		t.Fatalf("told: %+v", told)
	}
	e.do("POST", "/scim/v2/Groups", oktaGroup("fraud models")).scimError(t, 409, "uniqueness")
	e.do("POST", "/scim/v2/Groups", oktaGroup("all")).scimError(t, 400, "invalidValue")
	e.do("POST", "/scim/v2/Groups", oktaGroup("!!!")).scimError(t, 400, "invalidValue")
	if g := e.do("POST", "/scim/v2/Groups", oktaGroup("Sales (EMEA) & Ops")).want(t, 201); g.str("displayName") != "sales-emea-ops" {
		t.Fatalf("free-text group name: %s", g.raw)
	} else {
		e.do("DELETE", "/scim/v2/Groups/"+g.str("id"), nil).want(t, 204)
	}
	e.do("POST", "/scim/v2/Groups", oktaGroup("ok", "bm9ib2R5")).scimError(t, 400, "invalidValue")
	// A member who is not in the organization refuses the group, and no
	// workspace is left for the provider's retry to collide with.
	ghost := base64.RawURLEncoding.EncodeToString([]byte("ghost@example.com"))
	e.do("POST", "/scim/v2/Groups", oktaGroup("Ghost Team", ids[0], ghost)).scimError(t, 404, "")
	if r := e.do("GET", "/scim/v2/Groups?filter="+q(`displayName eq "Ghost Team"`), nil).want(t, 200); r.total() != 0 {
		t.Fatalf("a refused group was created: %s", r.raw)
	}
	if u := e.user("g1@example.com"); len(u.Workspaces) != 1 {
		t.Fatalf("g1 got %v", u.Workspaces)
	}

	for _, f := range []string{`displayName eq "Fraud Models"`, `displayName eq "fraud-models"`, `id eq "` + gid + `"`} {
		r := e.do("GET", "/scim/v2/Groups?filter="+q(f), nil).want(t, 200)
		if r.total() != 1 || r.resources()[0]["id"] != gid {
			t.Fatalf("filter %s: %s", f, r.raw)
		}
	}
	// Entra: excludedAttributes=members.
	r := e.do("GET", "/scim/v2/Groups?excludedAttributes=members&filter="+q(`displayName eq "fraud-models"`), nil).want(t, 200)
	if _, has := r.resources()[0]["members"]; has {
		t.Fatalf("members not excluded: %s", r.raw)
	}
	if g := e.do("GET", "/scim/v2/Groups/"+gid+"?excludedAttributes=members", nil).want(t, 200); strings.Contains(g.raw, "members") {
		t.Fatalf("members not excluded: %s", g.raw)
	}
	e.do("GET", "/scim/v2/Groups/nosuch", nil).scimError(t, 404, "")

	// Okta: add with a value array, remove with a path filter.
	e.patchGroup(t, gid, oktaAddMember(ids[2]))
	g := e.patchGroup(t, gid, oktaRemoveMember(ids[0]))
	if got := members(g.body); len(got) != 2 || got[0] != ids[1] || got[1] != ids[2] {
		t.Fatalf("members %v", got)
	}
	if u := e.user("g1@example.com"); len(u.Workspaces) != 0 {
		t.Fatalf("g1 keeps %v", u.Workspaces)
	}
	// Entra: removal with a value array, capitalised ops.
	g = e.patchGroup(t, gid, entraMembers("Remove", ids[1]))
	if got := members(g.body); len(got) != 1 || got[0] != ids[2] {
		t.Fatalf("members %v", got)
	}
	e.patchGroup(t, gid, entraMembers("Add", ids[0], ids[1]))
	// In order: a later operation wins (Entra's documented add-then-remove).
	g = e.patchGroup(t, gid, obj{"schemas": []any{patchSchema}, "Operations": []any{
		obj{"op": "Add", "path": "members", "value": []any{obj{"value": ids[0]}}},
		obj{"op": "Remove", "path": "members", "value": []any{obj{"value": ids[0]}}},
	}})
	if got := members(g.body); len(got) != 2 {
		t.Fatalf("members %v", got)
	}
	// Okta's replace of the whole list.
	g = e.patchGroup(t, gid, obj{"schemas": []any{patchSchema}, "Operations": []any{
		obj{"op": "replace", "path": "members", "value": []any{obj{"value": ids[0]}}}}})
	if got := members(g.body); len(got) != 1 || got[0] != ids[0] {
		t.Fatalf("members %v", got)
	}

	// Renames: Okta's PATCH replace {id, displayName}, Entra's path form; the id stays.
	g = e.patchGroup(t, gid, oktaRename(gid, "Risk Models"))
	if g.str("displayName") != "risk-models" || g.str("id") != gid {
		t.Fatalf("renamed: %s", g.raw)
	}
	if u := e.user("g1@example.com"); u.Workspaces[0].Workspace != "risk-models" {
		t.Fatalf("access after rename: %v", u.Workspaces)
	}
	g = e.patchGroup(t, gid, entraRename("risk-2"))
	if g.str("displayName") != "risk-2" {
		t.Fatalf("renamed: %s", g.raw)
	}
	a := e.audit(2)
	if a[0].Action != "workspace.rename" || a[0].Actor != "scim:okta" || a[0].After != "risk-2" {
		t.Fatalf("audit: %+v", a[0])
	}
	// PUT: name and exactly these members.
	g = e.do("PUT", "/scim/v2/Groups/"+gid, oktaGroup("risk-3", ids[1], ids[2])).want(t, 200)
	if g.str("displayName") != "risk-3" || len(members(g.body)) != 2 {
		t.Fatalf("put: %s", g.raw)
	}
	// A second workspace, to see the list and paging.
	e.do("POST", "/scim/v2/Groups", oktaGroup("Ops")).want(t, 201)
	l := e.do("GET", "/scim/v2/Groups?startIndex=2&count=1", nil).want(t, 200)
	if l.total() != 2 || len(l.resources()) != 1 || l.resources()[0]["displayName"] != "ops" {
		t.Fatalf("page: %s", l.raw)
	}

	// DELETE takes the workspace from everyone's access.
	e.do("DELETE", "/scim/v2/Groups/"+gid, nil).want(t, 204)
	if u := e.user("g2@example.com"); len(u.Workspaces) != 0 {
		t.Fatalf("access after delete: %v", u.Workspaces)
	}
	e.do("GET", "/scim/v2/Groups/"+gid, nil).scimError(t, 404, "")
	if a := e.audit(5); !hasAction(a, "workspace.delete", "scim:okta") {
		t.Fatalf("audit: %+v", a)
	}
	e.do("DELETE", "/scim/v2/Groups/"+gid, nil).scimError(t, 404, "")
}

func hasAction(es []org.AuditEntry, action, actor string) bool {
	for _, a := range es {
		if a.Action == action && a.Actor == actor {
			return true
		}
	}
	return false
}

// Entra's quirks, each as its documentation shows the request.
func TestEntraQuirks(t *testing.T) {
	e := newEnv(t)
	// The connection test: a random GUID as userName, 200 with an empty list.
	r := e.do("GET", "/scim/v2/Users?filter="+q(`userName eq "ca4fd1d0-b2f3-4c5d-9e8f-0a1b2c3d4e5f"`), nil).want(t, 200)
	if r.total() != 0 || len(r.resources()) != 0 {
		t.Fatalf("connection test: %s", r.raw)
	}
	id := e.do("POST", "/scim/v2/Users", entraUser("Quinn@Example.com", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")).want(t, 201).str("id")
	// Matching on externalId then userName, as Entra's default mapping does.
	if r := e.do("GET", "/scim/v2/Users?filter="+q(`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`), nil).want(t, 200); r.total() != 1 {
		t.Fatalf("by externalId: %s", r.raw)
	}
	// "active": "False" as a string, with a capitalised op.
	e.do("PATCH", "/scim/v2/Users/"+id, entraActive("False")).want(t, 200)
	if e.user("quinn@example.com").Active() {
		t.Fatal(`"False" did not deactivate`)
	}
	e.do("PATCH", "/scim/v2/Users/"+id, entraActive("True")).want(t, 200)
	if !e.user("quinn@example.com").Active() {
		t.Fatal(`"True" did not reactivate`)
	}
	e.do("PATCH", "/scim/v2/Users/"+id, entraActive("maybe")).want(t, 400)
	// Entra's documented multi-operation update: email, family name, the same userName, active false.
	e.do("PATCH", "/scim/v2/Users/"+id, obj{"schemas": []any{patchSchema}, "Operations": []any{
		obj{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "quinn@example.com"},
		obj{"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
		obj{"op": "Replace", "path": "userName", "value": "QUINN@example.com"},
		obj{"op": "Replace", "path": "active", "value": false},
	}}).want(t, 200)
	if e.user("quinn@example.com").Active() {
		t.Fatal("not deactivated")
	}
	// A changed userName is refused: the email is usher's identity.
	e.do("PATCH", "/scim/v2/Users/"+id, obj{"schemas": []any{patchSchema}, "Operations": []any{
		obj{"op": "Replace", "path": "userName", "value": "quinn.new@example.com"}}}).scimError(t, 400, "mutability")

	// Groups: members removed by a value array, excludedAttributes=members.
	ids := provision(t, e, "m1@example.com", "m2@example.com")
	g := e.do("POST", "/scim/v2/Groups", obj{"schemas": []any{groupSchema}, "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Group1DisplayName", "members": []any{}}).want(t, 201)
	gid := g.str("id")
	e.patchGroup(t, gid, entraMembers("Add", ids...))
	if r := e.do("GET", "/scim/v2/Groups?excludedAttributes=members&filter="+q(`displayName eq "Group1DisplayName"`), nil).want(t, 200); r.total() != 1 || strings.Contains(r.raw, "members") {
		t.Fatalf("excluded: %s", r.raw)
	}
	e.patchGroup(t, gid, entraMembers("Remove", ids[0]))
	if u := e.user("m1@example.com"); len(u.Workspaces) != 0 {
		t.Fatalf("m1 keeps %v", u.Workspaces)
	}
	if u := e.user("m2@example.com"); len(u.Workspaces) != 1 {
		t.Fatalf("m2 has %v", u.Workspaces)
	}
}

// Okta's quirks, each as its documentation shows the request.
func TestOktaQuirks(t *testing.T) {
	e := newEnv(t)
	// Exists? then create; the GET carries startIndex=1&count=100.
	if r := e.do("GET", oktaExists("test.user@okta.local"), nil).want(t, 200); r.total() != 0 {
		t.Fatalf("exists: %s", r.raw)
	}
	id := e.do("POST", "/scim/v2/Users", oktaUser("test.user@okta.local", "Test", "User", "00ujl29u0le5T6Aj10h7")).want(t, 201).str("id")
	if r := e.do("GET", oktaExists("test.user@okta.local"), nil).want(t, 200); r.total() != 1 || r.resources()[0]["id"] != id {
		t.Fatalf("exists: %s", r.raw)
	}
	// PATCH without a path for active.
	e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(false)).want(t, 200)
	if e.user("test.user@okta.local").Active() {
		t.Fatal("not deactivated")
	}
	// Import paging with count=100.
	r := e.do("GET", "/scim/v2/Users?startIndex=1&count=100", nil).want(t, 200)
	if r.total() != 2 || len(r.resources()) != 2 || r.body["startIndex"] != float64(1) {
		t.Fatalf("import: %s", r.raw)
	}
	// Group rename as PATCH replace {id, displayName}.
	gid := e.do("POST", "/scim/v2/Groups", oktaGroup("Test SCIMv2")).want(t, 201).str("id")
	if g := e.patchGroup(t, gid, oktaRename(gid, "Test SCIMv2 renamed")); g.str("displayName") != "test-scimv2-renamed" {
		t.Fatalf("rename: %s", g.raw)
	}
}

func TestGroupFilterOnMembers(t *testing.T) {
	e := newEnv(t)
	ids := provision(t, e, "f1@example.com", "f2@example.com")
	a := e.do("POST", "/scim/v2/Groups", oktaGroup("Alpha", ids[0])).want(t, 201).str("id")
	e.do("POST", "/scim/v2/Groups", oktaGroup("Beta", ids[1])).want(t, 201)
	r := e.do("GET", "/scim/v2/Groups?excludedAttributes=members&filter="+q(`members[value eq "`+ids[0]+`"]`), nil).want(t, 200)
	if r.total() != 1 || r.resources()[0]["id"] != a || strings.Contains(r.raw, `"members"`) {
		t.Fatalf("groups of f1: %s", r.raw)
	}
	if r := e.do("GET", "/scim/v2/Groups?filter="+q(`displayName eq "ALPHA"`), nil).want(t, 200); r.total() != 1 || len(members(r.resources()[0])) != 1 {
		t.Fatalf("alpha: %s", r.raw)
	}
}

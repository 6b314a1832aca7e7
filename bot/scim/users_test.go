package scim_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/scim"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	spc := e.do("GET", "/scim/v2/ServiceProviderConfig", nil).want(t, 200)
	if p, _ := spc.body["patch"].(map[string]any); p["supported"] != true {
		t.Fatalf("patch not supported: %s", spc.raw)
	}
	if f, _ := spc.body["filter"].(map[string]any); f["supported"] != true {
		t.Fatalf("filter not supported: %s", spc.raw)
	}
	rt := e.do("GET", "/scim/v2/ResourceTypes", nil).want(t, 200)
	if !strings.Contains(rt.raw, `"/Users"`) || !strings.Contains(rt.raw, `"/Groups"`) {
		t.Fatalf("resource types: %s", rt.raw)
	}
	sc := e.do("GET", "/scim/v2/Schemas", nil).want(t, 200)
	for _, s := range []string{userSchema, groupSchema, entSchema} {
		if !strings.Contains(sc.raw, s) {
			t.Fatalf("schemas lack %s", s)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	e := newEnv(t)
	for name, tok := range map[string]string{
		"none":    "",
		"garbage": "abc",
		"unknown": func() string { s, _ := scim.NewToken(); return s }(),
	} {
		r := e.doAs(tok, "GET", "/scim/v2/Users", nil)
		t.Run(name, func(t *testing.T) {
			r.scimError(t, 401, "")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
	// Revoked: refused once the cache lets go of it (at once on this replica
	// when told, within 10 s on others).
	tok := e.newToken("entra")
	e.doAs(tok, "GET", "/scim/v2/Users", nil).want(t, 200)
	ts, err := e.tokens.List(context.Background(), org.ID(e.org.ID))
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, x := range ts {
		if x.Name == "entra" {
			id = x.ID
		}
	}
	if n, err := e.tokens.Revoke(context.Background(), org.ID(e.org.ID), id); err != nil || n != 1 {
		t.Fatalf("revoke: %d, %v", n, err)
	}
	e.doAs(tok, "GET", "/scim/v2/Users", nil).want(t, 200) // cached on this replica
	e.clock.Advance(11 * time.Second)
	e.doAs(tok, "GET", "/scim/v2/Users", nil).scimError(t, 401, "")
	e.doAs(e.token, "GET", "/scim/v2/Users", nil).want(t, 200) // the other token still works
}

func TestRateLimitPerToken(t *testing.T) {
	e := newEnv(t, func(c *scim.Config) { c.Rate, c.Burst = 1, 3 })
	other := e.newToken("entra")
	for i := 0; i < 3; i++ {
		e.do("GET", "/scim/v2/Users?count=1", nil).want(t, 200)
	}
	r := e.do("GET", "/scim/v2/Users?count=1", nil)
	r.scimError(t, 429, "")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	e.doAs(other, "GET", "/scim/v2/Users?count=1", nil).want(t, 200) // per token
	e.clock.Advance(time.Second)
	e.do("GET", "/scim/v2/Users?count=1", nil).want(t, 200)
}

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	// Okta asks first, then creates.
	r := e.do("GET", oktaExists("Dana.Scully@Example.com"), nil).want(t, 200)
	if r.total() != 0 || len(r.resources()) != 0 {
		t.Fatalf("not yet created, listed: %s", r.raw)
	}
	c := e.do("POST", "/scim/v2/Users", oktaUser("Dana.Scully@Example.com", "Dana", "Scully", "00u1")).want(t, 201)
	id := c.str("id")
	if id == "" || c.str("userName") != "Dana.Scully@example.com" || c.body["active"] != true || c.str("displayName") != "Dana Scully" || c.str("externalId") != "00u1" {
		t.Fatalf("created: %s", c.raw)
	}
	if !strings.Contains(c.raw, `"roles":[{"primary":true,"value":"member"}]`) {
		t.Fatalf("default role member: %s", c.raw)
	}
	if m, _ := c.body["meta"].(map[string]any); m["resourceType"] != "User" || !strings.HasSuffix(m["location"].(string), "Users/"+id) {
		t.Fatalf("meta: %s", c.raw)
	}
	u := e.user("dana.scully@example.com")
	if u == nil || u.Role != org.RoleMember || !u.Active() || u.ExternalID != "00u1" || u.Name != "Dana Scully" {
		t.Fatalf("stored: %+v", u)
	}
	if a := e.audit(1)[0]; a.Action != "user.provision" || a.Actor != "scim:okta" || !strings.HasPrefix(a.Via, "scim:") || a.Target != u.Email {
		t.Fatalf("audit: %+v", a)
	}
	// Told in chat, with role and workspaces.
	told := e.takeTold()
	if len(told) != 1 || told[0].To != u.Email || !strings.Contains(told[0].Message.Text, "okta (SCIM) added you to Acme as member") {
		t.Fatalf("told: %+v", told)
	}

	// Found as the identity is elsewhere: any case, by userName, email, externalId, id, and "and".
	for _, f := range []string{
		`userName eq "dana.scully@EXAMPLE.com"`,
		`emails[value eq "DANA.SCULLY@example.com"]`,
		`emails.value eq "dana.scully@example.com"`,
		`externalId eq "00u1"`,
		`userName eq "dana.scully@example.com" and active eq true`,
		`externalId eq "00u1" and userName eq "dana.scully@example.com"`,
		`id eq "` + id + `"`,
	} {
		r := e.do("GET", "/scim/v2/Users?filter="+q(f), nil).want(t, 200)
		if r.total() != 1 || len(r.resources()) != 1 || r.resources()[0]["id"] != id {
			t.Fatalf("filter %s: %s", f, r.raw)
		}
	}
	for _, f := range []string{`userName eq "dana.scully@example.com" and active eq false`, `externalId eq "00u2"`, `userName eq "nobody@example.com"`} {
		if r := e.do("GET", "/scim/v2/Users?filter="+q(f), nil).want(t, 200); r.total() != 0 {
			t.Fatalf("filter %s matched: %s", f, r.raw)
		}
	}
	e.do("GET", "/scim/v2/Users?filter="+q(`displayName co "Dana"`), nil).scimError(t, 400, "invalidFilter")
	e.do("GET", "/scim/v2/Users?filter="+q(`userName eq`), nil).scimError(t, 400, "invalidFilter")

	// GET by id; unknown ids are 404 with a SCIM body.
	g := e.do("GET", "/scim/v2/Users/"+id, nil).want(t, 200)
	if g.str("userName") != "Dana.Scully@example.com" {
		t.Fatalf("get: %s", g.raw)
	}
	e.do("GET", "/scim/v2/Users/bm9ib2R5QGV4YW1wbGUuY29t", nil).scimError(t, 404, "")
	e.do("GET", "/scim/v2/Users/!!", nil).scimError(t, 404, "")

	// A duplicate, in any case, is 409 uniqueness.
	d := e.do("POST", "/scim/v2/Users", oktaUser("DANA.SCULLY@example.com", "Dana", "S", "00u9")).scimError(t, 409, "uniqueness")
	if !strings.Contains(d, "already a member") {
		t.Fatalf("detail: %s", d)
	}
	// So is another user with the same externalId.
	e.do("POST", "/scim/v2/Users", oktaUser("fox@example.com", "Fox", "M", "00u1")).scimError(t, 409, "uniqueness")
	// A userName that is not an email is refused with the reason.
	bad := e.do("POST", "/scim/v2/Users", entraUser("Test_User_ab6490ee", "x1")).scimError(t, 400, "invalidValue")
	if !strings.Contains(bad, "not an email") {
		t.Fatalf("detail: %s", bad)
	}
	// Invalid JSON and a missing userName: 400.
	e.do("POST", "/scim/v2/Users", `{"schemas":`).want(t, 400)
	e.do("POST", "/scim/v2/Users", obj{"schemas": []any{userSchema}, "active": true}).want(t, 400)
}

func TestRoleAttribute(t *testing.T) {
	e := newEnv(t)
	b := oktaUser("ada@example.com", "Ada", "L", "r1")
	b["roles"] = []any{obj{"value": "viewer"}, obj{"value": "Admin", "primary": true}}
	e.do("POST", "/scim/v2/Users", b).want(t, 201)
	if u := e.user("ada@example.com"); u.Role != org.RoleAdmin {
		t.Fatalf("role %s, want the primary admin", u.Role)
	}
	b = oktaUser("bob@example.com", "Bob", "B", "r2")
	b["roles"] = []any{obj{"value": "owner", "primary": true}}
	if d := e.do("POST", "/scim/v2/Users", b).scimError(t, 400, "invalidValue"); !strings.Contains(d, "admin, member, viewer") {
		t.Fatalf("detail: %s", d)
	}
	// Entra's path form: roles[primary eq "True"].value.
	id := e.do("POST", "/scim/v2/Users", oktaUser("cy@example.com", "Cy", "C", "r3")).want(t, 201).str("id")
	e.do("PATCH", "/scim/v2/Users/"+id, obj{"schemas": []any{patchSchema}, "Operations": []any{
		obj{"op": "Replace", "path": `roles[primary eq "True"].value`, "value": "viewer"}}}).want(t, 200)
	u := e.user("cy@example.com")
	if u.Role != org.RoleViewer {
		t.Fatalf("role %s", u.Role)
	}
	if a := e.audit(1)[0]; a.Action != "user.role" || a.Actor != "scim:okta" || a.Before != "member" || a.After != "viewer" {
		t.Fatalf("audit: %+v", a)
	}
	// A body without a role leaves the role set in chat alone.
	e.chat(admin, "role cy@example.com admin --confirm")
	e.do("PUT", "/scim/v2/Users/"+id, oktaUser("cy@example.com", "Cy", "Cee", "r3")).want(t, 200)
	if u := e.user("cy@example.com"); u.Role != org.RoleAdmin || u.Name != "Cy Cee" {
		t.Fatalf("after PUT without role: %+v", u)
	}

	// Configured: the enterprise extension's department.
	e2 := newEnv(t, func(c *scim.Config) { c.RoleAttribute = entSchema + ":department" })
	b = entraUser("dee@example.com", "e1")
	b[entSchema] = obj{"department": "viewer"}
	c := e2.do("POST", "/scim/v2/Users", b).want(t, 201)
	if u := e2.user("dee@example.com"); u.Role != org.RoleViewer {
		t.Fatalf("role %s", u.Role)
	}
	if !strings.Contains(c.raw, `"department":"viewer"`) {
		t.Fatalf("shown: %s", c.raw)
	}
	e2.do("PATCH", "/scim/v2/Users/"+c.str("id"), obj{"schemas": []any{patchSchema}, "Operations": []any{
		obj{"op": "Replace", "path": entSchema + ":department", "value": "member"}}}).want(t, 200)
	if u := e2.user("dee@example.com"); u.Role != org.RoleMember {
		t.Fatalf("role %s", u.Role)
	}
	if _, err := scim.New(scim.Config{Tokens: tokenStore{}, Org: nil}); err == nil {
		t.Fatal("no Service accepted")
	}
}

func TestReplacePatchDelete(t *testing.T) {
	e := newEnv(t)
	c := e.do("POST", "/scim/v2/Users", oktaUser("eve@example.com", "Eve", "E", "x1")).want(t, 201)
	id := c.str("id")
	e.takeTold()

	// PUT: Okta sends the whole user back.
	put := oktaUser("eve@example.com", "Eve", "Evans", "x1")
	put["id"] = id
	r := e.do("PUT", "/scim/v2/Users/"+id, put).want(t, 200)
	if r.str("displayName") != "Eve Evans" {
		t.Fatalf("put: %s", r.raw)
	}
	// userName is the identity: it cannot change.
	put["userName"] = "eve2@example.com"
	if d := e.do("PUT", "/scim/v2/Users/"+id, put).scimError(t, 400, "mutability"); !strings.Contains(d, "identity") {
		t.Fatalf("detail: %s", d)
	}
	e.do("PUT", "/scim/v2/Users/bm9ib2R5QGV4YW1wbGUuY29t", oktaUser("nobody@example.com", "N", "B", "")).scimError(t, 404, "")

	// PATCH with a path, without one, add / replace / remove.
	e.do("PATCH", "/scim/v2/Users/"+id, obj{"schemas": []any{patchSchema}, "Operations": []any{
		obj{"op": "replace", "path": "displayName", "value": "Eve Q"},
		obj{"op": "add", "path": "externalId", "value": "x2"},
	}}).want(t, 200)
	u := e.user("eve@example.com")
	if u.Name != "Eve Q" || u.ExternalID != "x2" {
		t.Fatalf("patched: %+v", u)
	}
	if r := e.do("GET", "/scim/v2/Users?filter="+q(`externalId eq "x1"`), nil).want(t, 200); r.total() != 0 {
		t.Fatalf("old externalId still indexed: %s", r.raw)
	}
	if r := e.do("GET", "/scim/v2/Users?filter="+q(`externalId eq "x2"`), nil).want(t, 200); r.total() != 1 {
		t.Fatalf("new externalId not indexed: %s", r.raw)
	}
	e.do("PATCH", "/scim/v2/Users/"+id, obj{"schemas": []any{patchSchema}, "Operations": []any{
		obj{"op": "remove", "path": "externalId"},
		obj{"op": "replace", "value": obj{"displayName": "Eve R", "name.familyName": "R"}},
	}}).want(t, 200)
	if u := e.user("eve@example.com"); u.Name != "Eve R" || u.ExternalID != "" {
		t.Fatalf("patched: %+v", u)
	}
	// A PATCH that says what is already so writes nothing.
	before := e.user("eve@example.com").Version
	e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(true)).want(t, 200)
	if e.user("eve@example.com").Version != before {
		t.Fatal("a no-op PATCH wrote")
	}
	// Not a PatchOp, no operations, a bad path: 400.
	e.do("PATCH", "/scim/v2/Users/"+id, obj{"schemas": []any{userSchema}, "Operations": []any{}}).want(t, 400)
	e.do("PATCH", "/scim/v2/Users/"+id, obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "replace", "path": "nosuch[", "value": 1}}}).want(t, 400)

	// Okta's deactivation: PATCH with no path.
	e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(false)).want(t, 200)
	if u := e.user("eve@example.com"); u.Active() {
		t.Fatal("still active")
	}
	a := e.audit(1)[0]
	if a.Action != "user.status" || a.Actor != "scim:okta" || a.After != "deactivated" {
		t.Fatalf("audit: %+v", a)
	}
	if told := e.takeTold(); len(told) != 1 || !strings.Contains(told[0].Message.Text, "okta (SCIM) deactivated your account") {
		t.Fatalf("told: %+v", told)
	}
	e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(true)).want(t, 200)
	if u := e.user("eve@example.com"); !u.Active() {
		t.Fatal("not reactivated")
	}
	if told := e.takeTold(); len(told) != 1 || !strings.Contains(told[0].Message.Text, "reactivated your account") {
		t.Fatalf("told: %+v", told)
	}

	// DELETE deactivates, audited as the provider's deletion; the member is kept.
	e.do("DELETE", "/scim/v2/Users/"+id, nil).want(t, 204)
	u = e.user("eve@example.com")
	if u == nil || u.Active() {
		t.Fatalf("after DELETE: %+v", u)
	}
	a = e.audit(1)[0]
	if a.Action != "user.status" || a.Actor != "scim:okta" || !strings.Contains(a.Detail, "deleted in okta (SCIM)") {
		t.Fatalf("audit: %+v", a)
	}
	if g := e.do("GET", "/scim/v2/Users/"+id, nil).want(t, 200); g.body["active"] != false {
		t.Fatalf("get after delete: %s", g.raw)
	}
	// Deleting again is still the provider's act, audited, and changes nothing else.
	e.do("DELETE", "/scim/v2/Users/"+id, nil).want(t, 204)
	if a := e.audit(1)[0]; a.Action != "user.deprovision" {
		t.Fatalf("audit: %+v", a)
	}
	e.do("DELETE", "/scim/v2/Users/bm9ib2R5QGV4YW1wbGUuY29t", nil).scimError(t, 404, "")
}

// The last active admin cannot be deactivated, deleted or demoted by a
// provider, with a SCIM error that says why; nothing changes.
func TestLastAdminRefused(t *testing.T) {
	e := newEnv(t)
	id := scimID(t, e, admin)
	for name, body := range map[string]obj{
		"okta deactivate": oktaActive(false),
		"entra False":     entraActive("False"),
		"demote":          {"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "replace", "path": "roles", "value": []any{obj{"value": "member", "primary": true}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			d := e.do("PATCH", "/scim/v2/Users/"+id, body).scimError(t, 409, "")
			if !strings.Contains(d, "last active admin") {
				t.Fatalf("detail: %s", d)
			}
		})
	}
	d := e.do("DELETE", "/scim/v2/Users/"+id, nil).scimError(t, 409, "")
	if !strings.Contains(d, "last active admin") {
		t.Fatalf("detail: %s", d)
	}
	if u := e.user(admin); !u.IsActiveAdmin() || u.Version != 1 {
		t.Fatalf("admin changed: %+v", u)
	}
	// With a second admin, the first may go.
	b := oktaUser("second@example.com", "S", "A", "a2")
	b["roles"] = []any{obj{"value": "admin", "primary": true}}
	e.do("POST", "/scim/v2/Users", b).want(t, 201)
	e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(false)).want(t, 200)
	if e.user(admin).Active() {
		t.Fatal("not deactivated")
	}
}

func scimID(t testing.TB, e *env, email string) string {
	t.Helper()
	r := e.do("GET", "/scim/v2/Users?filter="+q(`userName eq "`+email+`"`), nil).want(t, 200)
	if len(r.resources()) != 1 {
		t.Fatalf("%s not found: %s", email, r.raw)
	}
	return r.resources()[0]["id"].(string)
}

// A chat admin's deactivate and a provider's reactivate at the same moment
// end in one state, decided by the version guards: both write the user (the
// provider also renames them, so its write is never a no-op), neither write
// is lost (the name is the provider's, the status what the last audit entry
// about it says).
func TestConcurrentChatDeactivateAndSCIMReactivate(t *testing.T) {
	e := newEnv(t)
	id := e.do("POST", "/scim/v2/Users", oktaUser("race@example.com", "R", "R", "rr")).want(t, 201).str("id")
	outcomes := map[string]int{}
	for i := 0; i < 20; i++ {
		body := oktaUser("race@example.com", "R", fmt.Sprint(i), "rr") // active: true, a new name
		start := make(chan struct{})
		done := make(chan handlers.Reply, 1)
		go func() { <-start; done <- e.chat(admin, "deactivate race@example.com --confirm") }()
		close(start)
		r := e.do("PUT", "/scim/v2/Users/"+id, body)
		chat := <-done
		if r.status != 200 {
			t.Fatalf("scim: %s", r.raw)
		}
		if chat.Code != "" && chat.Code != org.CodeConflict {
			t.Fatalf("chat: %+v", chat)
		}
		u := e.user("race@example.com")
		if u.Name != "R "+fmt.Sprint(i) {
			t.Fatalf("round %d: the provider's rename was lost: %q", i, u.Name)
		}
		var last *org.AuditEntry
		for _, a := range e.audit(10000) {
			if a.Target == u.Email && a.Action == "user.status" {
				last = &a
				break
			}
		}
		if last != nil && last.After != string(u.Status) {
			t.Fatalf("round %d: status %s but the last audit entry says %s", i, u.Status, last.After)
		}
		if strings.HasPrefix(chat.Message.Text, "Deactivated") && u.Active() && (last == nil || last.Actor != "scim:okta") {
			t.Fatalf("round %d: chat deactivated, the user is active, and no provider entry says why", i)
		}
		outcomes[string(u.Status)]++
		if !u.Active() {
			e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(true)).want(t, 200) // next round starts active
		}
	}
	t.Logf("final states over 20 races: %v", outcomes)
}

func TestLongFilterRefused(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/scim/v2/Users?filter="+q(strings.Repeat("(", 5000)), nil).scimError(t, 400, "invalidFilter")
	e.do("POST", "/scim/v2/Users", `{"schemas":["`+strings.Repeat("x", 2<<20)+`"]}`).want(t, 400)
}

// A provider sync that undoes an admin's change in chat says so in its
// audit entry.
func TestProviderOverrideOfChatIsAudited(t *testing.T) {
	e := newEnv(t)
	id := e.do("POST", "/scim/v2/Users", oktaUser("ov@example.com", "O", "V", "ov")).want(t, 201).str("id")
	if r := e.chat(admin, "deactivate ov@example.com --confirm"); r.Code != "" {
		t.Fatalf("chat: %+v", r)
	}
	e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(true)).want(t, 200)
	a := e.audit(1)[0]
	if a.Action != "user.status" || a.Actor != "scim:okta" || !strings.Contains(a.Detail, "overrides "+admin+"'s change active -> deactivated") {
		t.Fatalf("audit: %+v", a)
	}
	e.chat(admin, "role ov@example.com viewer --confirm")
	e.do("PATCH", "/scim/v2/Users/"+id, obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "add", "path": "roles", "value": []any{obj{"value": "member"}}}}}).want(t, 200)
	if a := e.audit(1)[0]; a.Action != "user.role" || !strings.Contains(a.Detail, "overrides "+admin+"'s change member -> viewer") {
		t.Fatalf("audit: %+v", a)
	}
	// The provider's own earlier change is not an override.
	e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(false)).want(t, 200)
	e.do("PATCH", "/scim/v2/Users/"+id, oktaActive(true)).want(t, 200)
	if a := e.audit(1)[0]; strings.Contains(a.Detail, "overrides") {
		t.Fatalf("audit: %+v", a)
	}
}

func TestHugeStartIndex(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/scim/v2/Users?startIndex=9223372036854775807&count=100", nil).want(t, 200)
	if r.total() != 1 || len(r.resources()) != 0 {
		t.Fatalf("past the end: %s", r.raw)
	}
}

// A token reaches its own organization only.
func TestTokensAreIsolatedPerOrganization(t *testing.T) {
	e := newEnv(t)
	other, tok := e.addOrg("Globex", "hank@globex.example")
	e.do("POST", "/scim/v2/Users", oktaUser("a@acme.example", "A", "A", "a")).want(t, 201)
	e.doAs(tok, "POST", "/scim/v2/Users", entraUser("b@globex.example", "b")).want(t, 201)
	if r := e.do("GET", "/scim/v2/Users", nil).want(t, 200); r.total() != 2 || strings.Contains(r.raw, "globex") {
		t.Fatalf("acme sees: %s", r.raw)
	}
	if r := e.doAs(tok, "GET", "/scim/v2/Users", nil).want(t, 200); r.total() != 2 || strings.Contains(r.raw, "acme") {
		t.Fatalf("globex sees: %s", r.raw)
	}
	// An id of the other organization is not found here.
	e.doAs(tok, "GET", "/scim/v2/Users/"+scimID(t, e, "a@acme.example"), nil).scimError(t, 404, "")
	snap, err := other.Store.Load(context.Background(), org.Query{Users: []string{"b@globex.example"}, AuditLimit: 1})
	if err != nil || snap.Users["b@globex.example"] == nil || snap.Audit[0].Actor != "scim:entra" {
		t.Fatalf("globex: %+v %+v %v", snap.Users, snap.Audit, err)
	}
}

func TestNames(t *testing.T) {
	e := newEnv(t)
	id := e.do("POST", "/scim/v2/Users", oktaUser("nm@example.com", "Nora", "M", "nm")).want(t, 201).str("id")
	e.do("PATCH", "/scim/v2/Users/"+id, obj{"schemas": []any{patchSchema}, "Operations": []any{obj{"op": "remove", "path": "displayName"}}}).want(t, 200)
	if u := e.user("nm@example.com"); u.Name != "" {
		t.Fatalf("name %q after remove", u.Name)
	}
	if a := e.audit(1)[0]; a.Action != "user.name" || a.Before != "Nora M" || a.After != "" {
		t.Fatalf("audit: %+v", a)
	}
	e.do("PATCH", "/scim/v2/Users/"+id, entraRename("Bad\u0007Name")).scimError(t, 400, "invalidValue")
	e.do("PATCH", "/scim/v2/Users/"+id, entraRename("  Nora   Marsh ")).want(t, 200)
	if u := e.user("nm@example.com"); u.Name != "Nora Marsh" {
		t.Fatalf("name %q", u.Name)
	}
}

// Made-up tokens are held to a rate before they reach Redis; a provider's
// cached token is not slowed by them.
func TestUnknownTokensAreRateLimited(t *testing.T) {
	e := newEnv(t, func(c *scim.Config) { c.Rate, c.Burst = 1, 3 })
	e.do("GET", "/scim/v2/Users?count=1", nil).want(t, 200) // looked up once, cached
	fake := func() string { s, _ := scim.NewToken(); return s }
	e.doAs(fake(), "GET", "/scim/v2/Users", nil).scimError(t, 401, "")
	e.doAs(fake(), "GET", "/scim/v2/Users", nil).scimError(t, 401, "")
	r := e.doAs(fake(), "GET", "/scim/v2/Users", nil)
	r.scimError(t, 429, "")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	e.do("GET", "/scim/v2/Users?count=1", nil).want(t, 200)
}

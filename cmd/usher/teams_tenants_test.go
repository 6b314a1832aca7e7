package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/teams/teamstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// tenantsEdge is one usher serve whose single-tenant bot serves every
// tenant that installs it (MICROSOFT_ALLOWED_TENANTS=directory,...).
type tenantsEdge struct {
	*teamsEdge
	dir *storage.Directory
}

func newTenantsEdge(t *testing.T, allowed string, members ...teamstest.Member) *tenantsEdge {
	srv := redistest.Start(t) // the directory is deployment-wide: a server of its own
	f := teamstest.New(t)
	f.Tenant = freshGUID() // the bot's own (home) tenant
	for _, m := range members {
		f.AddMember(m)
	}
	def := freshOrgID("home")
	base, logs := serveUsher(t, map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": def,
		"MICROSOFT_APP_ID": f.AppID, "MICROSOFT_APP_PASSWORD": f.Secret, "MICROSOFT_APP_TYPE": "SingleTenant", "MICROSOFT_APP_TENANT_ID": f.Tenant,
		"MICROSOFT_ALLOWED_TENANTS":     allowed,
		"MICROSOFT_OPENID_METADATA_URL": f.MetadataURL(), "MICROSOFT_TOKEN_URL": f.TenantTokenURL(),
		"MICROSOFT_SERVICE_URL_HOSTS": "127.0.0.1",
	})
	rdb := srv.Client(t)
	return &tenantsEdge{teamsEdge: &teamsEdge{t: t, fake: f, base: base, logs: logs, rdb: rdb, org: def}, dir: storage.NewDirectory(rdb)}
}

// install posts an installationUpdate (personal scope unless team is set)
// and returns its status.
func (e *tenantsEdge) install(tenant string, m teamstest.Member, conv, action, team string) int {
	e.t.Helper()
	status, _ := e.post(e.fake.InstallationUpdate(tenant, m, conv, action, team), e.signed())
	return status
}

// sayIn sends a message from m's personal chat in tenant.
func (e *tenantsEdge) sayIn(tenant string, m teamstest.Member, text string) int {
	e.t.Helper()
	status, _ := e.post(e.fake.ActivityIn(tenant, m, chatOf(m), text), e.signed())
	return status
}

// waitNew waits for an activity in conv, after the first skip, containing want.
func (e *tenantsEdge) waitNew(conv string, skip int, want string) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range e.fake.Activities(conv)[min(skip, len(e.fake.Activities(conv))):] {
			if strings.Contains(fmtJSON(a.Body), want) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("no new activity in %s contains %q\nlogs:\n%s", conv, want, e.logs)
}

func (e *tenantsEdge) waitLog(want string) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(e.logs.String(), want) {
		if time.Now().After(deadline) {
			e.t.Fatalf("no log line contains %q:\n%s", want, e.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runner runs a command as m in tenant and returns the answers it got in
// m's personal chat, as JSON.
func (e *tenantsEdge) runner(tenant string, m teamstest.Member) func(text string) string {
	return func(text string) string {
		e.t.Helper()
		before := len(e.fake.Activities(chatOf(m)))
		status, body := e.post(e.fake.ActivityIn(tenant, m, chatOf(m), text), e.signed())
		if status != 200 {
			e.t.Fatalf("%s: %q: %d %s", m.Name, text, status, body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(e.fake.Activities(chatOf(m))) == before {
			if time.Now().After(deadline) {
				e.t.Fatalf("%s: %q got no answer", m.Name, text)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var out []string
		for _, a := range e.fake.Activities(chatOf(m))[before:] {
			out = append(out, fmtJSON(a.Body))
		}
		return strings.Join(out, "\n")
	}
}

func (e *tenantsEdge) orgOf(tenant string) (org.ID, bool) {
	e.t.Helper()
	id, found, err := e.dir.Resolve(context.Background(), org.TeamsTenant(tenant))
	if err != nil {
		e.t.Fatal(err)
	}
	return id, found
}

func (e *tenantsEdge) userIn(id org.ID, email string) *org.User {
	e.t.Helper()
	st, err := storage.New(e.rdb, id)
	if err != nil {
		e.t.Fatal(err)
	}
	snap, err := st.Load(context.Background(), org.Query{Users: []string{email}})
	if err != nil {
		e.t.Fatal(err)
	}
	return snap.Users[email]
}

// TestTeamsTwoTenantsInstall: one single-tenant bot registration, two other
// tenants installing it. Each installationUpdate "add" from a tenant the
// directory does not know makes it an organization of its own with its
// installer as first admin (a guest may not be); invitations are delivered
// proactively in each tenant with the token of the bot's own tenant (the
// fake's token endpoint sees no other, and its connector takes no other);
// neither organization sees the other's people; a tenant not allowed is
// refused; removing the tenant's last installation unlinks it (a message
// then gets the "not set up" answer) and keeps its data, which a reinstall
// brings back.
func TestTeamsTwoTenantsInstall(t *testing.T) {
	tenantA, tenantB, tenantC := freshGUID(), freshGUID(), freshGUID()
	ann := teamstest.Member{ID: "29:ann", Name: "Ann", AADObjectID: "00000000-0000-0000-0000-00000000a001", Email: "Ann@Alpha.example", TenantID: tenantA, UserRole: "user"}
	ben := teamstest.Member{ID: "29:ben", Name: "Ben", AADObjectID: "00000000-0000-0000-0000-00000000a002", UPN: "ben@alpha.example", TenantID: tenantA, UserRole: "user"}
	cy := teamstest.Member{ID: "29:cy", Name: "Cy", AADObjectID: "00000000-0000-0000-0000-00000000b001", Email: "cy@beta.example", TenantID: tenantB, UserRole: "user"}
	dot := teamstest.Member{ID: "29:dot", Name: "Dot", AADObjectID: "00000000-0000-0000-0000-00000000b002", Email: "dot@beta.example", TenantID: tenantB, UserRole: "user"}
	gia := teamstest.Member{ID: "29:gia", Name: "Gia (Guest)", AADObjectID: "00000000-0000-0000-0000-00000000b003", Email: "gia@partner.example", TenantID: tenantB, UserRole: "guest"}
	eve := teamstest.Member{ID: "29:eve", Name: "Eve", AADObjectID: "00000000-0000-0000-0000-00000000a003", Email: "eve@alpha.example", TenantID: tenantA, UserRole: "user"}
	cal := teamstest.Member{ID: "29:cal", Name: "Cal", AADObjectID: "00000000-0000-0000-0000-00000000c001", Email: "cal@gamma.example", TenantID: tenantC, UserRole: "user"}
	e := newTenantsEdge(t, "directory,"+tenantA+","+strings.ToUpper(tenantB), ann, ben, eve, cy, dot, gia, cal)

	// A guest of B installing first does not become its admin.
	if status := e.install(tenantB, gia, chatOf(gia), "add", ""); status != 200 {
		t.Fatalf("guest install: %d", status)
	}
	e.waitFor(chatOf(gia), "a guest can't become its first admin")
	if _, found := e.orgOf(tenantB); found {
		t.Fatal("a guest's install created an organization")
	}

	// Ann installs usher in her personal scope: tenant A becomes an
	// organization with her as its first admin.
	if status := e.install(tenantA, ann, chatOf(ann), "add", ""); status != 200 {
		t.Fatalf("ann's install: %d\n%s", status, e.logs)
	}
	e.waitFor(chatOf(ann), "you are the first admin of its organization")
	orgA, found := e.orgOf(tenantA)
	if !found || !strings.HasPrefix(string(orgA), "teams-"+tenantA[:20]) {
		t.Fatalf("tenant A's organization: %q %v", orgA, found)
	}
	if u := e.userIn(orgA, "ann@alpha.example"); u == nil || !u.IsActiveAdmin() {
		t.Fatalf("ann in %s: %+v", orgA, u)
	}
	// The channel retrying the install (a new activity id) changes nothing.
	if status := e.install(tenantA, ann, chatOf(ann), "add", ""); status != 200 {
		t.Fatalf("ann's install again: %d", status)
	}
	if id, _ := e.orgOf(tenantA); id != orgA {
		t.Fatalf("a retried install moved the tenant to %q", id)
	}

	// Cy adds usher to a team in tenant B: its organization, named after
	// his address's domain; he is greeted in his personal chat.
	teamConv := "19:beta-general@thread.tacv2"
	if status := e.install(tenantB, cy, teamConv, "add", "Beta Crew"); status != 200 {
		t.Fatalf("cy's team install: %d\n%s", status, e.logs)
	}
	e.waitFor(teamConv, "answered you in our private chat")
	e.waitFor(e.fake.PersonalConversation(cy.ID), "you are the first admin of its organization")
	orgB, found := e.orgOf(tenantB)
	if !found || orgB == orgA {
		t.Fatalf("tenant B's organization: %q %v (A's is %q)", orgB, found, orgA)
	}
	if g, _, _ := e.dir.Get(context.Background(), orgB); g.Name != "beta.example" {
		t.Fatalf("B's organization is named %q", g.Name)
	}
	if u := e.userIn(orgB, "cy@beta.example"); u == nil || !u.IsActiveAdmin() {
		t.Fatalf("cy in %s: %+v", orgB, u)
	}
	if e.userIn(orgA, "cy@beta.example") != nil || e.userIn(orgB, "ann@alpha.example") != nil {
		t.Fatal("an installer is in the other tenant's organization")
	}

	// Ben and Dot install usher for themselves; each admin invites their
	// colleague, delivered proactively in their own tenant.
	for _, in := range []struct {
		tenant string
		m      teamstest.Member
	}{{tenantA, ben}, {tenantB, dot}} {
		if status := e.install(in.tenant, in.m, chatOf(in.m), "add", ""); status != 200 {
			t.Fatalf("%s's install: %d", in.m.Name, status)
		}
		e.waitFor(chatOf(in.m), "usher is installed for you")
	}
	e.sayIn(tenantA, ann, "invite ben@alpha.example")
	toBen := e.waitFor(chatOf(ben), "You're invited to")
	e.waitFor(chatOf(ann), "got the invitation in a direct message")
	e.sayIn(tenantB, cy, "invite dot@beta.example")
	toDot := e.waitFor(chatOf(dot), "You're invited to")

	// The isolation matrix: no command of one tenant's admin, naming the
	// other's people and invitation, shows or changes anything there.
	invOf := func(a teamstest.Activity) string {
		return strings.TrimPrefix(buttonData(t, card(a.Body), "Accept")["usher"].(string), "accept ")
	}
	assertIsolated(t, e.rdb.(*redis.Client), []isoPlace{
		{id: orgA, run: e.runner(tenantA, ann), admin: "ann@alpha.example", secrets: []string{"ben@alpha.example", "ann@alpha.example"}, invID: invOf(toBen)},
		{id: orgB, run: e.runner(tenantB, cy), admin: "cy@beta.example", secrets: []string{"dot@beta.example", "cy@beta.example"}, invID: invOf(toDot)},
	})
	// Dot is in Teams for B only: A's invitation to her reaches no chat.
	e.sayIn(tenantA, ann, "invite dot@beta.example")
	e.waitFor(chatOf(ann), "dot@beta.example isn't in chat")
	if n := len(e.fake.Activities(chatOf(dot))); n != 2 { // the greeting and B's invitation
		t.Fatalf("dot got %d activities, want 2 (A's invitation went to her?)", n)
	}

	// Every token came from the bot's own tenant's authority, whichever
	// tenant the conversation was in.
	asked := e.fake.TokenTenants()
	if len(asked) == 0 {
		t.Fatal("no token was requested")
	}
	for _, tn := range asked {
		if !strings.EqualFold(tn, e.fake.Tenant) {
			t.Fatalf("a token was requested from tenant %q, not the bot's own %s: %v", tn, e.fake.Tenant, asked)
		}
	}
	if n := e.fake.Unauthorized.Load(); n != 0 {
		t.Fatalf("%d connector calls refused for their token", n)
	}

	// A tenant not on the list is refused, its install and its messages.
	if status := e.install(tenantC, cal, chatOf(cal), "add", ""); status != 403 {
		t.Fatalf("install from a tenant not allowed: %d, want 403", status)
	}
	if status := e.sayIn(tenantC, cal, "help"); status != 403 {
		t.Fatalf("message from a tenant not allowed: %d, want 403", status)
	}
	if _, found := e.orgOf(tenantC); found {
		t.Fatal("a tenant not allowed got an organization")
	}

	// Eve talks to usher (her app was there before usher recorded
	// installations); an invitation to her is held back by a 429 when
	// usher is removed from tenant A: its retry sends nothing there.
	e.sayIn(tenantA, eve, "help")
	e.waitFor(chatOf(eve), "invitation")
	eveSeen := len(e.fake.Activities(chatOf(eve)))
	e.fake.Fail(chatOf(eve), teamstest.Fault{Status: 429, RetryAfter: 3, Times: 1})
	e.sayIn(tenantA, ann, "invite eve@alpha.example")
	e.waitFor(chatOf(ann), "eve@alpha.example: invited")

	// Ben removes usher: tenant A still has Ann's installation. Ann removes
	// it: tenant A is unlinked, its organization's data kept.
	if status := e.install(tenantA, ben, chatOf(ben), "remove", ""); status != 200 {
		t.Fatalf("ben's removal: %d", status)
	}
	if id, found := e.orgOf(tenantA); !found || id != orgA {
		t.Fatalf("one of two installations removed unlinked the tenant: %q %v", id, found)
	}
	if status := e.install(tenantA, ann, chatOf(ann), "remove", ""); status != 200 {
		t.Fatalf("ann's removal: %d", status)
	}
	if _, found := e.orgOf(tenantA); found {
		t.Fatal("tenant A is still linked after its last installation went")
	}
	if status := e.install(tenantA, ann, chatOf(ann), "remove", ""); status != 200 { // again: nothing to do
		t.Fatalf("removal again: %d", status)
	}
	if status := e.sayIn(tenantA, ann, "invitations"); status != 200 {
		t.Fatalf("message after the removal: %d", status)
	}
	e.waitFor(chatOf(ann), "usher is not set up for this Microsoft Teams tenant: install the usher app")
	if u := e.userIn(orgA, "ann@alpha.example"); u == nil || !u.IsActiveAdmin() {
		t.Fatalf("the uninstall touched A's people: %+v", u)
	}
	e.waitLog("usher was removed from their tenant")
	if n := len(e.fake.Activities(chatOf(eve))); n != eveSeen {
		t.Fatalf("eve got %d activities after usher was removed from her tenant", n-eveSeen)
	}
	// B goes on.
	e.sayIn(tenantB, cy, "members")
	e.waitFor(chatOf(cy), "cy@beta.example")

	// Ann installs usher again: the same organization, as it was.
	if status := e.install(tenantA, ann, chatOf(ann), "add", ""); status != 200 {
		t.Fatalf("reinstall: %d", status)
	}
	e.waitFor(chatOf(ann), "usher is installed again in this tenant")
	if id, found := e.orgOf(tenantA); !found || id != orgA {
		t.Fatalf("reinstalled tenant A is organization %q %v, want %s", id, found, orgA)
	}
	seen := len(e.fake.Activities(chatOf(ann)))
	e.sayIn(tenantA, ann, "audit --search install.remove")
	e.waitNew(chatOf(ann), seen, "install.remove")
	seen = len(e.fake.Activities(chatOf(ann)))
	e.sayIn(tenantA, ann, "invitations --search ben")
	e.waitNew(chatOf(ann), seen, "ben@alpha.example")
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTeamsDirectoryConfig: MICROSOFT_ALLOWED_TENANTS=directory (alone: any
// tenant may install; with tenant ids: only those), for a SingleTenant bot
// whose token stays its own tenant's, and a MultiTenant one; "directory"
// with "*" is refused.
func TestTeamsDirectoryConfig(t *testing.T) {
	const app, home, other = "11111111-2222-3333-4444-555555555555", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "bbbbbbbb-cccc-dddd-eeee-ffffffffffff"
	base := map[string]string{"MICROSOFT_APP_ID": app, "MICROSOFT_APP_PASSWORD": "p", "MICROSOFT_APP_TENANT_ID": home}
	with := func(kv ...string) func(string) string {
		vars := map[string]string{}
		for k, v := range base {
			vars[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			vars[kv[i]] = kv[i+1]
		}
		return func(k string) string { return vars[k] }
	}
	c, _, err := loadTeamsConfig(with("MICROSOFT_ALLOWED_TENANTS", "directory"), ":3000")
	if err != nil || !c.selfInstall || len(c.allowedTenants) != 0 || c.tokenURL != "https://login.microsoftonline.com/"+home+"/oauth2/v2.0/token" {
		t.Fatalf("directory alone: %+v %v", c, err)
	}
	c, _, err = loadTeamsConfig(with("MICROSOFT_ALLOWED_TENANTS", "Directory, "+other, "MICROSOFT_TOKEN_URL", "http://127.0.0.1:9/{tenant}/oauth2/v2.0/token"), ":3000")
	if err != nil || !c.selfInstall || fmt.Sprint(c.allowedTenants) != "["+other+"]" || c.tokenURL != "http://127.0.0.1:9/"+home+"/oauth2/v2.0/token" {
		t.Fatalf("directory with a list: %+v %v", c, err)
	}
	c, _, err = loadTeamsConfig(with("MICROSOFT_ALLOWED_TENANTS", "directory", "MICROSOFT_APP_TYPE", "MultiTenant", "MICROSOFT_APP_TENANT_ID", ""), ":3000")
	if err != nil || !c.selfInstall || c.tokenURL != "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token" {
		t.Fatalf("MultiTenant directory: %+v %v", c, err)
	}
	if _, _, err := loadTeamsConfig(with("MICROSOFT_ALLOWED_TENANTS", "directory,*"), ":3000"); err == nil || !strings.Contains(err.Error(), `"directory" alone`) {
		t.Fatalf("directory with *: %v", err)
	}
}

// TestTeamsInstallRetried: an install that could not be applied (the
// installer's look-up failed) answers 500 and is unmarked, so the channel's
// retry of the very same activity applies it; installs arriving at once in a
// new tenant make one organization with one admin; a tenant an operator
// linked (`usher org link`) keeps its organization when installed.
func TestTeamsInstallRetried(t *testing.T) {
	tenantD, tenantE := freshGUID(), freshGUID()
	var crowd []teamstest.Member
	for i := range 8 {
		crowd = append(crowd, teamstest.Member{ID: fmt.Sprintf("29:d%d", i), Name: fmt.Sprintf("D%d", i),
			AADObjectID: fmt.Sprintf("00000000-0000-0000-0000-0000000d%04d", i), Email: fmt.Sprintf("d%d@delta.example", i), TenantID: tenantD, UserRole: "user"})
	}
	eli := teamstest.Member{ID: "29:eli", Name: "Eli", AADObjectID: "00000000-0000-0000-0000-00000000e001", Email: "eli@epsilon.example", TenantID: tenantE, UserRole: "user"}
	e := newTenantsEdge(t, "directory", crowd...)

	act := e.fake.InstallationUpdate(tenantE, eli, chatOf(eli), "add", "")
	if status, _ := e.post(act, e.signed()); status != 500 {
		t.Fatalf("install whose installer cannot be looked up: %d, want 500", status)
	}
	e.fake.AddMember(eli)
	if status, body := e.post(act, e.signed()); status != 200 {
		t.Fatalf("the channel's retry of the same activity: %d %s", status, body)
	}
	e.waitFor(chatOf(eli), "you are the first admin")
	if status, _ := e.post(act, e.signed()); status != 401 {
		t.Fatalf("the same activity once applied: %d, want 401 (a replay)", status)
	}

	// A setup policy installs usher for everyone in tenant D at once.
	var wg sync.WaitGroup
	for _, m := range crowd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _ := e.post(e.fake.InstallationUpdate(tenantD, m, chatOf(m), "add", ""), e.signed()); status != 200 {
				t.Errorf("%s's install: %d", m.Name, status)
			}
		}()
	}
	wg.Wait()
	orgD, found := e.orgOf(tenantD)
	if !found {
		t.Fatalf("tenant D has no organization:\n%s", e.logs)
	}
	admins := 0
	for _, m := range crowd {
		if u := e.userIn(orgD, strings.ToLower(m.Email)); u != nil && u.IsActiveAdmin() {
			admins++
		}
	}
	if admins != 1 {
		t.Fatalf("%d admins in %s after concurrent installs, want 1", admins, orgD)
	}
	orgs, err := e.dir.List(context.Background())
	if err != nil || len(orgs) != 3 { // the default, E's, D's (H's and F's come later)
		t.Fatalf("organizations: %d %v", len(orgs), err)
	}

	// The tenant's own organization exists without it (an operator made it
	// by that name): the install links it back, and makes nobody admin.
	tenantH := freshGUID()
	hal := teamstest.Member{ID: "29:hal", Name: "Hal", AADObjectID: "00000000-0000-0000-0000-00000000f0b1", Email: "hal@theta.example", TenantID: tenantH, UserRole: "user"}
	e.fake.AddMember(hal)
	ownH, _ := teamsOrgID(tenantH)
	if err := e.dir.Create(context.Background(), storage.Organization{ID: ownH, Name: "Theta"}); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.post(e.fake.InstallationUpdate(tenantH, hal, chatOf(hal), "add", ""), e.signed()); status != 200 {
		t.Fatalf("install of a tenant whose organization exists: %d", status)
	}
	e.waitFor(chatOf(hal), "usher is installed again in this tenant")
	if id, _ := e.orgOf(tenantH); id != ownH || e.userIn(ownH, "hal@theta.example") != nil {
		t.Fatalf("tenant H: linked to %q (want %s), hal made a user: %v", id, ownH, e.userIn(ownH, "hal@theta.example") != nil)
	}

	// An operator links tenant F to an organization first: its install keeps it.
	tenantF := freshGUID()
	fay := teamstest.Member{ID: "29:fay", Name: "Fay", AADObjectID: "00000000-0000-0000-0000-00000000f001", Email: "fay@zeta.example", TenantID: tenantF, UserRole: "user"}
	e.fake.AddMember(fay)
	if err := e.dir.Link(context.Background(), org.ID(e.org), org.TeamsTenant(tenantF)); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.post(e.fake.InstallationUpdate(tenantF, fay, chatOf(fay), "add", ""), e.signed()); status != 200 {
		t.Fatalf("install in a linked tenant: %d", status)
	}
	e.waitFor(chatOf(fay), "usher is installed for you")
	if id, _ := e.orgOf(tenantF); id != org.ID(e.org) {
		t.Fatalf("tenant F moved to %q", id)
	}
	// Its installations going does not undo the operator's link (some may
	// predate their recording).
	if status, _ := e.post(e.fake.InstallationUpdate(tenantF, fay, chatOf(fay), "remove", ""), e.signed()); status != 200 {
		t.Fatalf("removal in a linked tenant: %d", status)
	}
	if id, found := e.orgOf(tenantF); !found || id != org.ID(e.org) {
		t.Fatalf("an uninstall unlinked the operator's tenant F: %q %v", id, found)
	}
}

// TestTeamsLinkedTenantAllowed: with the default allow-list (the bot's own
// tenant), another tenant is refused until an operator links it to an
// organization (`usher org link`), then served by it.
func TestTeamsLinkedTenantAllowed(t *testing.T) {
	tenantG := freshGUID()
	gus := teamstest.Member{ID: "29:gus", Name: "Gus", AADObjectID: "00000000-0000-0000-0000-00000000f0a1", Email: "gus@eta.example", TenantID: tenantG, UserRole: "user"}
	e := newTenantsEdge(t, "", gus)
	if status := e.sayIn(tenantG, gus, "help"); status != 403 {
		t.Fatalf("unlinked tenant off the list: %d, want 403", status)
	}
	if err := e.dir.Link(context.Background(), org.ID(e.org), org.TeamsTenant(tenantG)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(routeTTL) // the refusal's cached answer ages out
	if status := e.sayIn(tenantG, gus, "help"); status != 200 {
		t.Fatalf("linked tenant: %d, want 200", status)
	}
	e.waitFor(chatOf(gus), "invitation")
}

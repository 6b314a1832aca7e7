package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// grantGrid makes code exchangeable for an org-wide install of enterprise
// by installer, as oauth.v2.access answers one (api.slack.com/enterprise/
// apps/reference): team null, the enterprise, is_enterprise_install true.
func (s *slackWorkspaces) grantGrid(code, enterprise, token, installer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codes == nil {
		s.codes = map[string]map[string]any{}
	}
	s.codes[code] = map[string]any{"access_token": token, "token_type": "bot", "scope": "commands,chat:write,im:write,users:read,users:read.email",
		"bot_user_id": "UUSHER", "app_id": "A0USHER", "team": nil, "enterprise": map[string]any{"id": enterprise, "name": "Grid " + enterprise},
		"is_enterprise_install": true, "authed_user": map[string]any{"id": installer, "scope": "", "token_type": "user"}}
}

// gridEvent posts an org-wide install's event, as Slack delivers them to
// an org-wide app: the enterprise, and an authorization for the whole of it.
func gridEvent(t *testing.T, base, enterprise string, ev map[string]any) {
	t.Helper()
	slackEvent(t, base, map[string]any{"type": "event_callback", "enterprise_id": enterprise, "api_app_id": "A0USHER", "event": ev,
		"event_id": fmt.Sprintf("Ev%v%d", ev["type"], time.Now().UnixNano()), "event_time": time.Now().Unix(),
		"authorizations": []map[string]any{{"enterprise_id": enterprise, "team_id": nil, "is_enterprise_install": true, "is_bot": true}}})
}

func gridDeployment(t *testing.T, extra map[string]string) (srv *redistest.Server, base string, logs *lockedBuffer, fake *slackWorkspaces, ent string) {
	srv = redistest.Start(t)
	ent = freshSlackID("EG")
	fake = newSlackWorkspaces(t)
	fake.client = [2]string{"1234.5678", "client-secret-abc"}
	// The org-wide token sees the whole enterprise's people.
	fake.add(ent, "xoxb-grid-org-token", map[string]string{"UADM": "adm@grid.example", "UONE": "one@grid.example", "UTWO": "two@grid.example"})
	fake.grantGrid("code-grid", ent, "xoxb-grid-org-token", "UADM")
	vars := map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": freshOrgID("grid"), "USHER_SECRET": strings.Repeat("grid-secret-", 3),
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_CLIENT_ID": "1234.5678", "SLACK_CLIENT_SECRET": "client-secret-abc",
		"SLACK_API_URL": fake.srv.URL + "/api/",
	}
	for k, v := range extra {
		vars[k] = v
	}
	base, logs = serveUsher(t, vars)
	return srv, base, logs, fake, ent
}

// TestGridEnterpriseOneOrganization: an org-wide Enterprise Grid install
// through "Add to Slack" sends the installer on to Slack's page for adding
// the app to workspaces, and (by default) makes the whole enterprise one
// organization: two of its workspaces share it, and an invitation from
// one reaches a person of the other. A workspace of the same enterprise
// that installs usher on its own gets its own organization: an enterprise
// id alone never decides.
func TestGridEnterpriseOneOrganization(t *testing.T) {
	srv, base, logs, fake, ent := gridDeployment(t, nil)
	rdb := srv.Client(t)
	t1, t2, t3 := freshSlackID("T1"), freshSlackID("T2"), freshSlackID("T3")
	code, page := installThrough(t, base, "code-grid")
	if want := "Location: https://app.slack.com/manage/" + ent + "/integrations/profile/A0USHER/workspaces/add"; code != 302 || page != want {
		t.Fatalf("org-wide install: %d %q, want %q\n%s", code, page, want, logs)
	}
	gridID := org.ID("slack-" + strings.ToLower(ent))
	if id, found, err := storage.NewDirectory(rdb).Resolve(t.Context(), org.SlackTenant(ent, "")); err != nil || !found || id != gridID {
		t.Fatalf("enterprise's organization: %v %v %v", id, found, err)
	}
	gridEvent(t, base, ent, map[string]any{"type": "team_access_granted", "team_ids": []string{t1, t2}})

	if a := slackAsIn(t, base, ent, t1, "UADM", "invite two@grid.example"); !strings.Contains(a, "invited") {
		t.Fatalf("invite from %s: %s\n%s", t1, a, logs)
	}
	waitForSlack(t, logs, "two's invitation", func() bool { return len(fake.postsTo(ent, "UTWO")) == 1 })
	if a := slackAsIn(t, base, ent, t2, "UADM", "invitations"); !strings.Contains(a, "two@grid.example") {
		t.Fatalf("the same organization from %s: %s", t2, a)
	}

	// T3 installs usher itself, at workspace level.
	fake.add(t3, "xoxb-t3-own", map[string]string{"UTHREE": "three@grid.example"})
	fake.grant("code-t3", t3, "xoxb-t3-own", "UTHREE")
	fake.mu.Lock()
	fake.codes["code-t3"]["enterprise"] = map[string]any{"id": ent, "name": "Grid " + ent}
	fake.mu.Unlock()
	if code, page := installThrough(t, base, "code-t3"); code != 200 {
		t.Fatalf("workspace install in the enterprise: %d %s", code, page)
	}
	t3ID := org.ID("slack-" + strings.ToLower(t3))
	if id, found, _ := storage.NewDirectory(rdb).Resolve(t.Context(), org.SlackTenant(ent, t3)); !found || id != t3ID {
		t.Fatalf("%s routes to %v, want its own %s", t3, id, t3ID)
	}
	if a := slackAsIn(t, base, ent, t3, "UTHREE", "invitations"); strings.Contains(a, "two@grid.example") {
		t.Fatalf("%s sees the enterprise's invitations: %s", t3, a)
	}
	if got := installAudit(t, rdb, gridID); len(got) != 2 || got[0] != "install.add adm@grid.example" || got[1] != "install.access slack" {
		t.Fatalf("enterprise's install audit: %q", got)
	}
}

// TestGridEnterpriseOrganizationPerWorkspace: with SLACK_GRID_ORGS=
// workspace, an org-wide install creates no organization; each workspace
// the admin adds usher to gets its own, the installer its first admin, and
// the two are as separate as two installs.
func TestGridEnterpriseOrganizationPerWorkspace(t *testing.T) {
	srv, base, logs, fake, ent := gridDeployment(t, map[string]string{"SLACK_GRID_ORGS": "workspace"})
	rdb := srv.Client(t)
	t1, t2 := freshSlackID("T1"), freshSlackID("T2")
	if code, page := installThrough(t, base, "code-grid"); code != 302 || !strings.Contains(page, "/workspaces/add") {
		t.Fatalf("org-wide install: %d %s\n%s", code, page, logs)
	}
	if _, found, _ := storage.NewDirectory(rdb).Resolve(t.Context(), org.SlackTenant(ent, "")); found {
		t.Fatal("an organization for the whole enterprise")
	}
	if a := slackAsIn(t, base, ent, t1, "UADM", "help"); !strings.Contains(a, "not set up") {
		t.Fatalf("before the workspace is added: %s", a)
	}
	gridEvent(t, base, ent, map[string]any{"type": "team_access_granted", "team_ids": []string{t1, t2}})
	for _, team := range []string{t1, t2} {
		id := org.ID("slack-" + strings.ToLower(team))
		if got, found, _ := storage.NewDirectory(rdb).Resolve(t.Context(), org.SlackTenant(ent, team)); !found || got != id {
			t.Fatalf("%s routes to %v, want %s\n%s", team, got, id, logs)
		}
		if got := installAudit(t, rdb, id); len(got) != 1 || got[0] != "install.add adm@grid.example" {
			t.Fatalf("%s's install audit: %q", id, got)
		}
	}
	if a := slackAsIn(t, base, ent, t1, "UADM", "invite one@grid.example"); !strings.Contains(a, "invited") {
		t.Fatalf("invite in %s: %s\n%s", t1, a, logs)
	}
	waitForSlack(t, logs, "one's invitation", func() bool { return len(fake.postsTo(ent, "UONE")) == 1 })
	if a := slackAsIn(t, base, ent, t2, "UADM", "invitations"); strings.Contains(a, "one@grid.example") {
		t.Fatalf("%s sees %s's invitation: %s", t2, t1, a)
	}
	// A second grant of the same workspace changes nothing.
	gridEvent(t, base, ent, map[string]any{"type": "team_access_granted", "team_ids": []string{t1}})
	if a := slackAsIn(t, base, ent, t1, "UADM", "invitations"); !strings.Contains(a, "one@grid.example") {
		t.Fatalf("after a repeated grant: %s", a)
	}
}

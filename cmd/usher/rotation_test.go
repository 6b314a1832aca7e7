package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// rotatingDeployment is distribution mode with token rotation: a workspace
// whose install grants tokens that expire within the 2-hour refresh window.
func rotatingDeployment(t *testing.T, extra map[string]string) (srv *redistest.Server, vars map[string]string, fake *slackWorkspaces, ta string) {
	srv = redistest.Start(t)
	ta = freshSlackID("TR")
	fake = newSlackWorkspaces(t)
	fake.client = [2]string{"1234.5678", "client-secret-abc"}
	fake.expiresIn = 3600 // an hour: inside the 2-hour window at once
	fake.add(ta, "xoxe.xoxb-tr-first", map[string]string{"UBOSS": "boss@rot.example", "UAMY": "amy@rot.example", "UBEA": "bea@rot.example"})
	fake.grant("code-r", ta, "xoxe.xoxb-tr-first", "UBOSS")
	vars = map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": freshOrgID("rot"), "USHER_SECRET": strings.Repeat("rotation-", 4),
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_CLIENT_ID": "1234.5678", "SLACK_CLIENT_SECRET": "client-secret-abc",
		"SLACK_API_URL": fake.srv.URL + "/api/",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return srv, vars, fake, ta
}

// TestTokenRotationAcrossReplicas: three usher serve replicas on one Redis;
// 20 concurrent commands spread over them, with the installed token about
// to expire, make exactly one oauth.v2.access refresh, and every later Web
// API call uses the refreshed token.
func TestTokenRotationAcrossReplicas(t *testing.T) {
	_, vars, fake, ta := rotatingDeployment(t, nil)
	var bases []string
	for range 3 {
		base, _ := serveUsher(t, vars)
		bases = append(bases, base)
	}
	if code, page := installThrough(t, bases[0], "code-r"); code != 200 {
		t.Fatalf("install: %d %s", code, page)
	}
	if n := fake.refreshes(); n != 0 {
		t.Fatalf("%d refreshes before any use", n)
	}
	users := []string{"UBOSS", "UAMY", "UBEA"}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if a := slackAs(t, bases[i%3], ta, users[i%3], "help"); strings.Contains(a, "not installed") || strings.Contains(a, "try again") {
				t.Errorf("command %d: %s", i, a)
			}
		})
	}
	wg.Wait()
	if n := fake.refreshes(); n != 1 {
		t.Fatalf("%d oauth.v2.access refresh calls from 3 replicas, want 1", n)
	}
	fake.mu.Lock()
	before := fake.uses["xoxe.xoxb-tr-first"]
	fake.mu.Unlock()
	if a := slackAs(t, bases[2], ta, "UBOSS", "invite amy@rot.example"); !strings.Contains(a, "invited") {
		t.Fatalf("invite: %s", a)
	}
	waitForSlack(t, nil, "amy's invitation", func() bool { return len(fake.postsTo(ta, "UAMY")) == 1 })
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.uses["xoxe.xoxb-tr-first"] != before || fake.uses[fmt.Sprintf("xoxe.xoxb-%s-rotated-1", ta)] == 0 {
		t.Fatalf("token uses after the refresh: %v", fake.uses)
	}
}

// TestTokenSweepWithoutRequests: with nobody typing in the workspace, the
// sweep refreshes a token about to expire (so the reminders and digests
// queued for it never meet an expired token); a refresh token Slack refuses
// marks the installation broken, the operator reads it in the log, the
// organization's audit log has it, and the workspace is told to add usher again.
func TestTokenSweepWithoutRequests(t *testing.T) {
	srv, vars, fake, ta := rotatingDeployment(t, map[string]string{"SLACK_TOKEN_SWEEP": "1s"})
	base, logs := serveUsher(t, vars)
	if code, page := installThrough(t, base, "code-r"); code != 200 {
		t.Fatalf("install: %d %s", code, page)
	}
	waitForSlack(t, logs, "the sweep's refresh", func() bool { return fake.refreshes() == 1 })
	fake.mu.Lock()
	rotated := fmt.Sprintf("xoxe.xoxb-%s-rotated-1", ta)
	_, ok := fake.byToken[rotated]
	fake.mu.Unlock()
	if !ok {
		t.Fatal("no rotated token")
	}
	// The refreshed token lasts 12 hours: the next sweeps leave it alone.
	if n := fake.refreshes(); n != 1 {
		t.Fatalf("%d refreshes", n)
	}

	// Slack stops honouring the refresh token (the app's tokens revoked
	// behind usher's back): the next refresh is refused.
	fake.mu.Lock()
	clear(fake.refreshable)
	fake.mu.Unlock()
	rdb := srv.Client(t)
	st := storage.NewSlackInstalls(rdb, deploymentSecret{value: []byte(vars["USHER_SECRET"])}.sealKey())
	inst, found, err := st.Find(t.Context(), "", ta)
	if err != nil || !found {
		t.Fatalf("installation: %v %v", found, err)
	}
	inst.Expires = inst.Installed // expired: the next sweep must refresh it
	if err := st.Save(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	waitForSlack(t, logs, "the broken installation", func() bool { return strings.Contains(logs.String(), "installation broken") })
	if a := slackAs(t, base, ta, "UBOSS", "help"); !strings.Contains(a, "stopped working") || !strings.Contains(a, base+"/slack/install") {
		t.Fatalf("after the refusal: %s", a)
	}
	id := org.ID("slack-" + strings.ToLower(ta))
	waitForSlack(t, logs, "the audit entry", func() bool {
		got := installAudit(t, rdb, id)
		return len(got) == 2 && got[1] == "install.broken slack"
	})
	if strings.Contains(logs.String(), "xoxe-1-refresh") || strings.Contains(logs.String(), "xoxe.xoxb-") {
		t.Fatal("a token was logged")
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// exchange is oauth.v2.access as Slack documents it: client credentials
// (Basic auth or form), a code good once, else ok:false with invalid_code;
// on success the bot token, the team (enterprise null outside a Grid),
// authed_user, and with rotation refresh_token and expires_in.
func (s *slackWorkspaces) exchange(w http.ResponseWriter, r *http.Request, form url.Values) {
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client[0] == "" || id != s.client[0] || secret != s.client[1] {
		io.WriteString(w, `{"ok":false,"error":"invalid_client_id"}`)
		return
	}
	if form.Get("grant_type") == "refresh_token" {
		// A refresh token is good once; the new access token works at once
		// and the old one until it expires (Slack's token rotation docs).
		rt := form.Get("refresh_token")
		s.refreshCalls++
		team, ok := s.refreshable[rt]
		if !ok {
			io.WriteString(w, `{"ok":false,"error":"invalid_refresh_token"}`)
			return
		}
		delete(s.refreshable, rt)
		s.rotations++
		token := fmt.Sprintf("xoxe.xoxb-%s-rotated-%d", team, s.rotations)
		s.byToken[token] = team
		next := "xoxe-1-refresh-" + token
		s.refreshable[next] = team
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "access_token": token, "token_type": "bot", "refresh_token": next,
			"expires_in": 43200, "team": map[string]any{"id": team}, "bot_user_id": "UUSHER", "app_id": "A0USHER"})
		return
	}
	v, ok := s.codes[form.Get("code")]
	if !ok {
		io.WriteString(w, `{"ok":false,"error":"invalid_code"}`)
		return
	}
	delete(s.codes, form.Get("code"))
	v["ok"] = true
	json.NewEncoder(w).Encode(v)
}

// refreshes is how many refresh calls the fake has answered or refused.
func (s *slackWorkspaces) refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshCalls
}

// grant makes code exchangeable for a workspace install of team by installer.
func (s *slackWorkspaces) grant(code, team, token, installer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codes == nil {
		s.codes = map[string]map[string]any{}
	}
	if s.refreshable == nil {
		s.refreshable = map[string]string{}
	}
	expires := s.expiresIn
	if expires == 0 {
		expires = 43200
	}
	s.refreshable["xoxe-1-refresh-"+token] = team
	s.codes[code] = map[string]any{"access_token": token, "token_type": "bot", "scope": "commands,chat:write,im:write,users:read,users:read.email",
		"bot_user_id": "UUSHER", "app_id": "A0USHER", "team": map[string]any{"id": team, "name": "Team " + team}, "enterprise": nil,
		"is_enterprise_install": false, "authed_user": map[string]any{"id": installer, "scope": "", "token_type": "user"},
		"refresh_token": "xoxe-1-refresh-" + token, "expires_in": expires}
}

// installThrough runs "Add to Slack" in a fresh browser: the install page,
// Slack's consent (code), the redirect back.
func installThrough(t *testing.T, base, code string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/slack/install?redirect=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	state := loc.Query().Get("state")
	if resp.StatusCode != http.StatusFound || state == "" {
		t.Fatalf("install: %d %s", resp.StatusCode, loc)
	}
	resp, err = c.Get(base + "/slack/oauth_redirect?" + url.Values{"code": {code}, "state": {state}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusFound {
		return resp.StatusCode, "Location: " + resp.Header.Get("Location")
	}
	return resp.StatusCode, string(b)
}

// slackEvent posts a signed Events API delivery.
func slackEvent(t *testing.T, base string, v map[string]any) {
	t.Helper()
	body, _ := json.Marshal(v)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte("s3cret"))
	io.WriteString(mac, "v0:"+ts+":"+string(body))
	req, _ := http.NewRequest("POST", base+"/slack/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("event %s: %d", body, resp.StatusCode)
	}
}

// TestAddToSlackTwoWorkspaces: two workspaces install usher through "Add
// to Slack" on one deployment with no SLACK_BOT_TOKEN; each becomes its own
// organization with its installer as first admin, greeted in a DM; tokens
// are sealed in Redis; each workspace's commands run with its own token on
// its own organization; an uninstall leaves that workspace "not installed"
// and the other working, and the organization's data in place.
func TestAddToSlackTwoWorkspaces(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	ta, tb := freshSlackID("TA"), freshSlackID("TB")
	fake := newSlackWorkspaces(t)
	fake.client = [2]string{"1234.5678", "client-secret-abc"}
	fake.unconfirmed = map[string]bool{"UNOMAIL": true}
	fake.add(ta, "xoxb-ta-installed-secret", map[string]string{"UBOSS": "boss@alpha.example", "UAMY": "amy@alpha.example", "UNOMAIL": "nomail@alpha.example"})
	fake.add(tb, "xoxb-tb-installed-secret", map[string]string{"UBEA": "bea@beta.example", "UBEN": "ben@beta.example"})
	vars := map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": freshOrgID("dist"), "USHER_ADMINS": "operator@example.com",
		"USHER_SECRET":         strings.Repeat("add-to-slack-", 3),
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_CLIENT_ID": "1234.5678", "SLACK_CLIENT_SECRET": "client-secret-abc",
		"SLACK_API_URL": fake.srv.URL + "/api/",
	}
	base, logs := serveUsher(t, vars)

	// Before any install: "not installed".
	if a := slackAs(t, base, ta, "UBOSS", "help"); !strings.Contains(a, "usher is not installed in this workspace") || !strings.Contains(a, base+"/slack/install") {
		t.Fatalf("before install: %s", a)
	}
	// An installer without a verified email is refused, clearly.
	fake.grant("code-nomail", ta, "xoxb-ta-installed-secret", "UNOMAIL")
	if code, page := installThrough(t, base, "code-nomail"); code != 400 || !strings.Contains(page, "verified email") {
		t.Fatalf("unverified installer: %d %s", code, page)
	}
	if _, found, _ := storage.NewDirectory(rdb).Resolve(ctx, org.SlackTenant("", ta)); found {
		t.Fatal("an organization was created for an unverified installer")
	}
	if a := slackAs(t, base, ta, "UBOSS", "help"); !strings.Contains(a, "usher is not installed in this workspace") {
		t.Fatalf("after a refused install: %s", a)
	}

	fake.grant("code-a", ta, "xoxb-ta-installed-secret", "UBOSS")
	fake.grant("code-b", tb, "xoxb-tb-installed-secret", "UBEA")
	for _, c := range []string{"code-a", "code-b"} {
		if code, page := installThrough(t, base, c); code != 200 || !strings.Contains(page, "usher is installed in Team") {
			t.Fatalf("install %s: %d %s\n%s", c, code, page, logs)
		}
	}
	orgA, orgB := org.ID("slack-"+strings.ToLower(ta)), org.ID("slack-"+strings.ToLower(tb))
	for team, id := range map[string]org.ID{ta: orgA, tb: orgB} {
		got, found, err := storage.NewDirectory(rdb).Resolve(ctx, org.SlackTenant("", team))
		if !found || err != nil || got != id {
			t.Fatalf("directory for %s: %v %v %v", team, got, found, err)
		}
	}
	if g := fake.postsTo(ta, "UBOSS"); len(g) != 1 || !strings.Contains(g[0], "first admin") {
		t.Fatalf("boss's greeting: %q", g)
	}
	if g := fake.postsTo(tb, "UBEA"); len(g) != 1 || !strings.Contains(g[0], "first admin") {
		t.Fatalf("bea's greeting: %q", g)
	}
	// No token in the clear anywhere in Redis.
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		v, _ := rdb.Dump(ctx, iter.Val()).Bytes()
		if bytes.Contains(v, []byte("installed-secret")) {
			t.Fatalf("%s holds a token in the clear", iter.Val())
		}
	}
	if strings.Contains(logs.String(), "installed-secret") || strings.Contains(logs.String(), "client-secret-abc") {
		t.Fatal("a secret was logged")
	}

	// Each installer is their organization's admin, in their own workspace.
	if a := slackAs(t, base, ta, "UBOSS", "invite amy@alpha.example"); !strings.Contains(a, "invited") {
		t.Fatalf("alpha invite: %s", a)
	}
	if a := slackAs(t, base, tb, "UBEA", "invite ben@beta.example"); !strings.Contains(a, "invited") {
		t.Fatalf("beta invite: %s", a)
	}
	waitForSlack(t, logs, "amy's invitation in TA", func() bool { return len(fake.postsTo(ta, "UAMY")) == 1 })
	waitForSlack(t, logs, "ben's invitation in TB", func() bool { return len(fake.postsTo(tb, "UBEN")) == 1 })
	for id, foreign := range map[org.ID]string{orgA: "beta.example", orgB: "alpha.example"} {
		for k, v := range orgKeys(t, rdb, id) {
			if strings.Contains(v, foreign) {
				t.Fatalf("%s's key %s holds the other organization's people", id, k)
			}
		}
	}
	// The isolation matrix of the organizations issue, between the two
	// installed workspaces.
	amy, ben := pendingID(t, rdb, orgA, "amy@alpha.example"), pendingID(t, rdb, orgB, "ben@beta.example")
	assertIsolated(t, rdb, []isoPlace{
		{orgA, func(text string) string { return slackAs(t, base, ta, "UBOSS", text) }, "boss@alpha.example",
			[]string{"amy@alpha.example", "boss@alpha.example", amy}, amy},
		{orgB, func(text string) string { return slackAs(t, base, tb, "UBEA", text) }, "bea@beta.example",
			[]string{"ben@beta.example", "bea@beta.example", ben}, ben},
	})
	// A Beta admin's command in Alpha's workspace is Alpha's: bea is nobody there.
	if a := slackAs(t, base, ta, "UBEA", "invite x@beta.example"); strings.Contains(a, "invited") {
		t.Fatalf("cross-workspace: %s", a)
	}

	// Uninstall from TA (tokens_revoked then app_uninstalled, each twice).
	before := len(orgKeys(t, rdb, orgA))
	for _, kind := range []string{"tokens_revoked", "app_uninstalled", "tokens_revoked", "app_uninstalled"} {
		ev := map[string]any{"type": kind}
		if kind == "tokens_revoked" {
			ev["tokens"] = map[string]any{"bot": []string{"UUSHER"}}
		}
		slackEvent(t, base, map[string]any{"type": "event_callback", "team_id": ta, "api_app_id": "A0USHER", "event": ev,
			"event_id": fmt.Sprintf("Ev%s%d", kind, time.Now().UnixNano()), "event_time": time.Now().Unix(),
			"authorizations": []map[string]any{{"team_id": ta, "is_enterprise_install": false, "is_bot": true}}})
	}
	if n := rdb.Exists(ctx, "usher:slackinstall:|"+ta).Val(); n != 0 {
		t.Fatal("TA's installation is still there")
	}
	if a := slackAs(t, base, ta, "UBOSS", "help"); !strings.Contains(a, "usher is not installed in this workspace") {
		t.Fatalf("after uninstall: %s", a)
	}
	if a := slackAs(t, base, tb, "UBEA", "people"); strings.Contains(a, "not installed") {
		t.Fatalf("TB after TA's uninstall: %s", a)
	}
	if after := len(orgKeys(t, rdb, orgA)); after < before || after == 0 {
		t.Fatalf("alpha's data went with the install: %d keys, then %d", before, after)
	}
	// The organization's audit log says who installed it and that it was
	// uninstalled, once although Slack said so four times.
	if got := installAudit(t, rdb, orgA); !slices.Equal(got, []string{"install.add boss@alpha.example", "install.remove slack"}) {
		t.Fatalf("alpha's install audit: %q", got)
	}
	if got := installAudit(t, rdb, orgB); !slices.Equal(got, []string{"install.add bea@beta.example"}) {
		t.Fatalf("beta's install audit: %q", got)
	}
}

// installAudit lists organization id's install.* audit entries, oldest
// first, as "ACTION ACTOR".
func installAudit(t *testing.T, rdb redis.UniversalClient, id org.ID) []string {
	t.Helper()
	st, err := storage.New(rdb, id)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(context.Background(), org.Query{AuditLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range snap.Audit {
		if strings.HasPrefix(a.Action, "install.") {
			out = append(out, a.Action+" "+a.Actor)
		}
	}
	slices.Reverse(out) // newest first as read
	return out
}

func TestDistributionConfig(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string // "" : valid
	}{
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x"}, ""},
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_SIGNING_SECRET": "x"}, "both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"},
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s"}, "needs SLACK_SIGNING_SECRET"},
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x", "SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_BOT_TOKEN is for a single workspace"},
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x", "SLACK_APP_TOKEN": "xapp-1"}, "Socket Mode"},
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x", "SLACK_TEAM_ID": "T1"}, "unset them"},
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x", "SLACK_TOKEN_SWEEP": "5m", "SLACK_GRID_ORGS": "Workspace"}, ""},
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x", "SLACK_TOKEN_SWEEP": "15"}, "SLACK_TOKEN_SWEEP \"15\": want a duration"},
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x", "SLACK_TOKEN_SWEEP": "3h"}, "from 1s to 1h0m0s"},
		{map[string]string{"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x", "SLACK_GRID_ORGS": "team"}, "want enterprise"},
	} {
		c, on, err := loadSlackConfig(func(k string) string { return tc.vars[k] })
		if !on {
			t.Fatalf("%v: Slack off", tc.vars)
		}
		if tc.want == "" && (err != nil || !c.distributed()) {
			t.Fatalf("%v: %v", tc.vars, err)
		}
		if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Fatalf("%v: %v, want %q", tc.vars, err, tc.want)
		}
	}
}

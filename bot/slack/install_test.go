package slack_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

type installEnv struct {
	t     *testing.T
	fake  *fakeSlack
	rdb   *redis.Client
	store *storage.SlackInstalls
	srv   *httptest.Server
	logs  *bytes.Buffer
}

func newInstallEnv(t *testing.T, onInstall func(context.Context, slack.Installation) (slack.Installation, error)) *installEnv {
	f := newFakeSlack(t)
	f.client = [2]string{"111.222", "client-secret-xyz"}
	f.codes = map[string]map[string]any{}
	f.tokenTeams = map[string][2]string{}
	rdb := redistest.Start(t).Client(t)
	store := storage.NewSlackInstalls(rdb, nil)
	logs := &bytes.Buffer{}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	in, err := slack.NewInstaller(slack.InstallConfig{ClientID: "111.222", ClientSecret: "client-secret-xyz", RedirectURL: srv.URL + "/slack/oauth_redirect",
		Scopes: []string{"commands", "chat:write"}, APIURL: f.APIURL(), Store: installStore{store}, OnInstall: onInstall,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	in.Routes(mux)
	return &installEnv{t: t, fake: f, rdb: rdb, store: store, srv: srv, logs: logs}
}

// grant makes code exchangeable for a workspace install, in the shape
// Slack documents for oauth.v2.access (with rotation: refresh_token, expires_in).
func (e *installEnv) grant(code, team, token string, rotation bool) {
	v := map[string]any{"access_token": token, "token_type": "bot", "scope": "commands,chat:write", "bot_user_id": "UBOT" + team, "app_id": "A0USHER",
		"team": map[string]any{"id": team, "name": "Team " + team}, "enterprise": nil, "is_enterprise_install": false,
		"authed_user": map[string]any{"id": "UINST" + team, "scope": "", "token_type": "user"}}
	if rotation {
		v["refresh_token"], v["expires_in"] = "xoxe-1-refresh-"+team, 43200
	}
	e.fake.mu.Lock()
	e.fake.codes[code] = v
	e.fake.tokenTeams[token] = [2]string{team, ""}
	e.fake.mu.Unlock()
}

func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// start opens the install page in c and returns the state Slack would echo.
func (e *installEnv) start(c *http.Client) string {
	e.t.Helper()
	resp, _ := get(e.t, c, e.srv.URL+"/slack/install?redirect=1")
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("direct install: %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	return loc.Query().Get("state")
}

func (e *installEnv) back(c *http.Client, q url.Values) (*http.Response, string) {
	return get(e.t, c, e.srv.URL+"/slack/oauth_redirect?"+q.Encode())
}

func TestInstallPageAndCookie(t *testing.T) {
	e := newInstallEnv(t, nil)
	c := browser(t)
	resp, body := get(t, c, e.srv.URL+"/slack/install")
	if resp.StatusCode != 200 || !strings.Contains(body, "Add to Slack") || !strings.Contains(body, "https://slack.com/oauth/v2/authorize?") {
		t.Fatalf("page %d %s", resp.StatusCode, body)
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "usher_slack_oauth" {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.MaxAge != 600 || len(ck.Value) < 43 {
		t.Fatalf("cookie %+v", ck)
	}
	if !strings.Contains(body, "state="+ck.Value) || !strings.Contains(body, "client_id=111.222") || !strings.Contains(body, "scope=commands%2Cchat%3Awrite") {
		t.Fatalf("authorize link lacks state/client/scope: %s", body)
	}
	keys := e.rdb.Keys(context.Background(), "usher:slackoauth:*").Val()
	if len(keys) != 1 || strings.Contains(keys[0], ck.Value) {
		t.Fatalf("state keys %v", keys)
	}
	// Direct install: straight to Slack, a new state each time.
	resp, _ = get(t, c, e.srv.URL+"/slack/install?redirect=1")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "https://slack.com/oauth/v2/authorize?") {
		t.Fatalf("direct %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if s := e.start(c); s == ck.Value || s == "" {
		t.Fatal("state reused across installs")
	}
}

func TestInstallSuccessStoresSealedRecord(t *testing.T) {
	e := newInstallEnv(t, nil)
	e.grant("code-1", "TWS1", "xoxb-secret-token-ws1", true)
	c := browser(t)
	state := e.start(c)
	resp, body := e.back(c, url.Values{"code": {"code-1"}, "state": {state}})
	if resp.StatusCode != 200 || !strings.Contains(body, "usher is installed in Team TWS1") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := methods(e.fake.Calls())
	if strings.Join(got, " ") != "oauth.v2.access auth.test" {
		t.Fatalf("calls %v", got)
	}
	inst, ok, err := e.store.Find(context.Background(), "", "TWS1")
	if !ok || err != nil || inst.BotToken != "xoxb-secret-token-ws1" || inst.RefreshToken != "xoxe-1-refresh-TWS1" || inst.Installer != "UINSTTWS1" ||
		inst.BotUserID != "UBOTTWS1" || inst.AppID != "A0USHER" || len(inst.Scopes) != 2 || inst.Expires.Sub(inst.Installed).Hours() != 12 {
		t.Fatalf("record %+v %v %v", inst, ok, err)
	}
	ctx := context.Background()
	for _, k := range e.rdb.Keys(ctx, "*").Val() {
		v, _ := e.rdb.Dump(ctx, k).Bytes()
		if bytes.Contains(v, []byte("secret-token")) || bytes.Contains(v, []byte("refresh-TWS1")) {
			t.Fatalf("%s holds a token in the clear", k)
		}
	}
	if strings.Contains(e.logs.String(), "secret-token") {
		t.Fatal("token logged")
	}
	// The state is spent: the same redirect again is refused.
	resp, body = e.back(c, url.Values{"code": {"code-1"}, "state": {state}})
	if resp.StatusCode != 400 || !strings.Contains(body, "started in another browser") {
		t.Fatalf("replay %d %s", resp.StatusCode, body)
	}
}

func TestInstallRefusals(t *testing.T) {
	e := newInstallEnv(t, nil)
	e.grant("good", "TWS2", "xoxb-ws2", false)
	for _, tc := range []struct {
		name string
		run  func() (*http.Response, string)
		want string
		log  string
	}{
		{"access_denied", func() (*http.Response, string) {
			c := browser(t)
			s := e.start(c)
			return e.back(c, url.Values{"error": {"access_denied"}, "state": {s}})
		}, "You cancelled the install", "access_denied"},
		{"no state", func() (*http.Response, string) {
			c := browser(t)
			e.start(c)
			return e.back(c, url.Values{"code": {"good"}})
		}, "carries no state", "no state"},
		{"invalid state", func() (*http.Response, string) {
			c := browser(t)
			e.start(c)
			// A state of the right cookie but never issued: set both.
			u, _ := url.Parse(e.srv.URL + "/slack/")
			c.Jar.SetCookies(u, []*http.Cookie{{Name: "usher_slack_oauth", Value: "forged-state", Path: "/slack/"}})
			return e.back(c, url.Values{"code": {"good"}, "state": {"forged-state"}})
		}, "expired or was already used", "state expired or used"},
		{"cookie mismatch", func() (*http.Response, string) {
			victim, attacker := browser(t), browser(t)
			s := e.start(victim)
			e.start(attacker)
			return e.back(attacker, url.Values{"code": {"good"}, "state": {s}})
		}, "started in another browser", "state does not match the cookie"},
		{"no cookie", func() (*http.Response, string) {
			s := e.start(browser(t))
			return e.back(browser(t), url.Values{"code": {"good"}, "state": {s}})
		}, "started in another browser", "state does not match the cookie"},
		{"expired state", func() (*http.Response, string) {
			c := browser(t)
			s := e.start(c)
			// What 10 minutes do to it.
			for _, k := range e.rdb.Keys(context.Background(), "usher:slackoauth:*").Val() {
				e.rdb.Del(context.Background(), k)
			}
			return e.back(c, url.Values{"code": {"good"}, "state": {s}})
		}, "expired or was already used", "state expired or used"},
		{"failed exchange", func() (*http.Response, string) {
			c := browser(t)
			s := e.start(c)
			return e.back(c, url.Values{"code": {"not-a-code"}, "state": {s}})
		}, "invalid_code", "oauth.v2.access failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.logs.Reset()
			resp, body := tc.run()
			if resp.StatusCode < 400 || !strings.Contains(body, tc.want) || strings.Contains(body, "goroutine") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if !strings.Contains(e.logs.String(), tc.log) {
				t.Fatalf("log %q lacks %q", e.logs.String(), tc.log)
			}
		})
	}
	if _, ok, _ := e.store.Find(context.Background(), "", "TWS2"); ok {
		t.Fatal("a refused redirect installed")
	}
	// Reused state: the second of two redirects with one state loses.
	c := browser(t)
	s := e.start(c)
	saved := c.Jar.Cookies(mustURL(e.srv.URL + "/slack/"))
	if resp, _ := e.back(c, url.Values{"code": {"good"}, "state": {s}}); resp.StatusCode != 200 {
		t.Fatalf("first %d", resp.StatusCode)
	}
	c.Jar.SetCookies(mustURL(e.srv.URL+"/slack/"), saved)
	if resp, body := e.back(c, url.Values{"code": {"good"}, "state": {s}}); resp.StatusCode != 400 || !strings.Contains(body, "expired or was already used") {
		t.Fatalf("reuse %d %s", resp.StatusCode, body)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestInstallOrgWide: an org-wide install (is_enterprise_install, team
// null as Slack sends it) is stored for the enterprise and serves its
// workspaces; the installer is sent on to Slack's page for adding the app
// to workspaces, since an org-wide app starts in none.
func TestInstallOrgWide(t *testing.T) {
	e := newInstallEnv(t, nil)
	e.fake.mu.Lock()
	e.fake.codes["code-grid"] = map[string]any{"access_token": "xoxb-grid-token", "token_type": "bot", "scope": "commands", "bot_user_id": "UBOTG", "app_id": "A0USHER",
		"team": nil, "enterprise": map[string]any{"id": "EGRID1", "name": "Grid Corp"}, "is_enterprise_install": true,
		"authed_user": map[string]any{"id": "UGRIDADMIN"}}
	e.fake.tokenTeams["xoxb-grid-token"] = [2]string{"", "EGRID1"}
	e.fake.mu.Unlock()
	c := browser(t)
	state := e.start(c)
	resp, body := e.back(c, url.Values{"code": {"code-grid"}, "state": {state}})
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://app.slack.com/manage/EGRID1/integrations/profile/A0USHER/workspaces/add" {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	inst, ok, err := e.store.Find(context.Background(), "EGRID1", "TANYWS")
	if !ok || err != nil || inst.Team != "" || inst.Enterprise != "EGRID1" || inst.BotToken != "xoxb-grid-token" || inst.Installer != "UGRIDADMIN" {
		t.Fatalf("%+v %v %v", inst, ok, err)
	}
}

// installStore is usher serve's adapter (cmd/usher slackInstallStore): the
// Redis store behind bot/slack's interface.
type installStore struct{ s *storage.SlackInstalls }

func (w installStore) Save(ctx context.Context, inst slack.Installation) error {
	return w.s.Save(ctx, storage.SlackInstallation(inst))
}

func (w installStore) Find(ctx context.Context, enterprise, team string) (slack.Installation, bool, error) {
	inst, ok, err := w.s.Find(ctx, enterprise, team)
	return slack.Installation(inst), ok, err
}

func (w installStore) Fresh(ctx context.Context, enterprise, team string, within time.Duration, now func() time.Time,
	refresh func(context.Context, string) (slack.Refreshed, error)) (slack.Installation, bool, error) {
	inst, ok, err := w.s.Fresh(ctx, enterprise, team, within, now, func(ctx context.Context, rt string) (storage.Refreshed, error) {
		r, err := refresh(ctx, rt)
		if errors.Is(err, slack.ErrRefreshRevoked) {
			err = fmt.Errorf("%w: %w", storage.ErrRefreshRevoked, err)
		}
		return storage.Refreshed(r), err
	})
	if errors.Is(err, storage.ErrBroken) {
		err = fmt.Errorf("%w: %w", slack.ErrBroken, err)
	}
	return slack.Installation(inst), ok, err
}

func (w installStore) Remove(ctx context.Context, e, t string) (bool, error) {
	return w.s.Remove(ctx, e, t)
}
func (w installStore) RevokeBots(ctx context.Context, e, t string, b []string) (bool, error) {
	return w.s.RevokeBots(ctx, e, t, b)
}
func (w installStore) RevokeTeams(ctx context.Context, e string, ts []string) error {
	return w.s.RevokeTeams(ctx, e, ts)
}
func (w installStore) GrantTeams(ctx context.Context, e string, ts []string) error {
	return w.s.GrantTeams(ctx, e, ts)
}
func (w installStore) PutState(ctx context.Context, st string) error { return w.s.PutState(ctx, st) }
func (w installStore) TakeState(ctx context.Context, st string) (bool, error) {
	return w.s.TakeState(ctx, st)
}

package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/scim"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

var scimTokenRE = regexp.MustCompile(`usher-scim-[A-Za-z0-9_-]{43}`)

// TestSCIMTokenCommands: a token is printed once, stored only as its hash,
// opens /scim/v2/ of its own organization in `usher serve` (and no log line
// carries it), and is gone once revoked.
func TestSCIMTokenCommands(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	vars := map[string]string{"REDIS_URL": srv.URL(), "USHER_PUBLIC_URL": "https://usher.example.com"}
	mustRun(t, vars, "org", "create", "Acme", "--admin", "ann@example.com")

	// A new organization's workspace index is complete from the start.
	if n, _ := rdb.Exists(ctx, "usher:{acme}:wsm").Result(); n != 1 {
		t.Fatal("org create left the workspace index incomplete")
	}
	if out := mustRun(t, vars, "org", "reindex", "acme"); !strings.Contains(out, "acme: the members of every workspace indexed") {
		t.Fatalf("reindex:\n%s", out)
	}

	out := mustRun(t, vars, "scim", "token", "create", "acme", "--name", "okta")
	token := scimTokenRE.FindString(out)
	if token == "" || !strings.Contains(out, "https://usher.example.com/scim/v2") || !strings.Contains(out, "usher scim token revoke acme t") {
		t.Fatalf("create:\n%s", out)
	}
	// Only the hash is stored: the secret is in no key and no value.
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, token) {
			t.Fatalf("token in key %s", k)
		}
		if typ, _ := rdb.Type(ctx, k).Result(); typ == "hash" {
			h, _ := rdb.HGetAll(ctx, k).Result()
			for f, v := range h {
				if strings.Contains(f+v, strings.TrimPrefix(token, "usher-scim-")) {
					t.Fatalf("token in %s", k)
				}
			}
		}
	}
	if out := mustRun(t, vars, "scim", "token", "list", "acme"); !strings.Contains(out, "okta") {
		t.Fatalf("list:\n%s", out)
	}

	// Served, for acme.
	logs := &lockedBuffer{}
	addr, stop := startServeLogged(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ADDR": "127.0.0.1:0", "USHER_PUBLIC_URL": "https://usher.example.com"}, logs)
	defer stop()
	do := func(method, path, tok, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "ann@example.com"`), token, "")
	if code != 200 || !strings.Contains(body, `"totalResults":1`) {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body = do("POST", "/scim/v2/Users", token, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new@example.com","active":true}`)
	if code != 201 || !strings.Contains(body, `"location":"https://usher.example.com/scim/v2/Users/`) {
		t.Fatalf("create: %d %s", code, body)
	}
	acme, _ := storage.New(rdb, "acme")
	snap, err := acme.Load(ctx, org.Query{Users: []string{"new@example.com"}, AuditLimit: 1})
	if err != nil || snap.Users["new@example.com"] == nil || snap.Audit[0].Actor != "scim:okta" {
		t.Fatalf("in acme: %+v %+v %v", snap.Users, snap.Audit, err)
	}
	if code, body := do("GET", "/scim/v2/Users", "usher-scim-"+strings.Repeat("A", 43), ""); code != 401 || !strings.Contains(body, `"status":"401"`) {
		t.Fatalf("bad token: %d %s", code, body)
	}
	if strings.Contains(logs.String(), strings.TrimPrefix(token, "usher-scim-")) {
		t.Fatal("the token reached the log")
	}

	// Revoked: its hash is gone.
	if _, err := runCmd(t, vars, "scim", "token", "revoke", "acme", "nosuch"); err == nil || !strings.Contains(err.Error(), "no SCIM token nosuch") {
		t.Fatalf("revoke unknown: %v", err)
	}
	if out := mustRun(t, vars, "scim", "token", "revoke", "acme"); !strings.Contains(out, "Revoked 1 SCIM token(s) of acme") {
		t.Fatalf("revoke:\n%s", out)
	}
	if c, err := storage.NewSCIMTokens(rdb).Lookup(ctx, scim.HashToken(token)); err != nil || c != nil {
		t.Fatalf("after revoke: %+v %v", c, err)
	}

	// Mistakes are answered with the usage.
	for _, args := range [][]string{
		{"scim", "token", "create"}, {"scim", "token", "make", "acme"}, {"scim", "tokens"},
		{"scim", "token", "create", "acme", "--name", "Not Valid"}, {"scim", "token", "create", "Not Valid"},
	} {
		if _, err := runCmd(t, vars, args...); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
	if _, err := runCmd(t, vars, "scim", "token", "create", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("unknown org: %v", err)
	}
	if out := mustRun(t, vars, "scim", "help"); !strings.Contains(out, "usher scim token create ORG") {
		t.Fatalf("help:\n%s", out)
	}
	// Deleting the organization revokes its tokens too.
	mustRun(t, vars, "scim", "token", "create", "acme")
	mustRun(t, vars, "org", "delete", "acme", "--confirm")
	if ts, _ := storage.NewSCIMTokens(rdb).List(ctx, "acme"); len(ts) != 0 {
		t.Fatalf("tokens after delete: %+v", ts)
	}
}

func startServeLogged(t testing.TB, vars map[string]string, logs io.Writer) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env{args: []string{"serve"}, getenv: func(k string) string {
			if k == "USHER_METRICS_ADDR" && vars[k] == "" {
				return "127.0.0.1:0"
			}
			return vars[k]
		}, stdout: io.Discard, stderr: logs, ready: ready})
	}()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve stopped: %v", err)
	}
	return addr, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// TestSCIMNewUserToldInSlack: in `usher serve` with Slack, a member a
// provider creates is told in a Slack DM, with their role, through the
// organization's router and outbox.
func TestSCIMNewUserToldInSlack(t *testing.T) {
	srv := redistest.Shared(t)
	edge := newSlackEdge(t)
	vars := map[string]string{"REDIS_URL": srv.URL(), "USHER_ADDR": "127.0.0.1:0", "USHER_ORG": "scimslack",
		"USHER_ADMINS": "a@example.com", "SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": edge.srv.URL + "/api/",
		"USHER_PUBLIC_URL": "https://usher.test"}
	addr, stop := startServe(t, vars)
	defer stop()
	token := scimTokenRE.FindString(mustRun(t, vars, "scim", "token", "create", "scimslack", "--name", "entra"))
	req, _ := http.NewRequest("POST", "http://"+addr+"/scim/v2/Users", strings.NewReader(
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob@example.com","displayName":"Bob","active":true,"roles":[{"value":"viewer","primary":"True"}]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("create: %d %s", res.StatusCode, b)
	}
	for i := 0; len(edge.postsTo("DUBOB")) == 0; i++ {
		if i == 200 {
			t.Fatal("bob was never told in Slack")
		}
		time.Sleep(25 * time.Millisecond)
	}
	if p := edge.postsTo("DUBOB")[0]; !strings.Contains(p.Get("blocks")+p.Get("text"), "entra (SCIM) added you to") || !strings.Contains(p.Get("blocks")+p.Get("text"), "as viewer") {
		t.Fatalf("told: %v", p)
	}
}

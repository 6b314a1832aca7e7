package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/usher-chat/usher/bot/slack/slacktest"
	"github.com/usher-chat/usher/storage/redistest"
)

// slackEdge is a minimal Slack Web API at its network edge for the serve
// tests: it knows two users and records the messages posted.
type slackEdge struct {
	srv   *httptest.Server
	mu    sync.Mutex
	posts []url.Values
	// responses are the bodies posted to response_urls (/respond/NAME), by NAME.
	responses map[string][]string
	wsURL     string // apps.connections.open's answer
}

func newSlackEdge(t testing.TB) *slackEdge {
	return newSlackEdgeWith(t, map[string]string{"UADMIN": "a@example.com", "UBOB": "bob@example.com"})
}

// newSlackEdgeWith is the edge knowing the users given (Slack user id -> email).
func newSlackEdgeWith(t testing.TB, people map[string]string) *slackEdge {
	users := map[string]map[string]any{}
	for id, email := range people {
		users[id] = map[string]any{"id": id, "profile": map[string]any{"email": email, "display_name": strings.TrimPrefix(id, "U")}}
	}
	e := &slackEdge{responses: map[string][]string{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, _ := slacktest.Args(r)
		w.Header().Set("Content-Type", "application/json")
		ok := func(v map[string]any) { v["ok"] = true; json.NewEncoder(w).Encode(v) }
		switch strings.TrimPrefix(r.URL.Path, "/api/") {
		case "users.info":
			if u, found := users[form.Get("user")]; found {
				ok(map[string]any{"user": u})
				return
			}
			io.WriteString(w, `{"ok":false,"error":"user_not_found"}`)
		case "users.lookupByEmail":
			for _, u := range users {
				if u["profile"].(map[string]any)["email"] == form.Get("email") {
					ok(map[string]any{"user": u})
					return
				}
			}
			io.WriteString(w, `{"ok":false,"error":"users_not_found"}`)
		case "conversations.open":
			ok(map[string]any{"channel": map[string]any{"id": "D" + form.Get("users")}})
		case "auth.test":
			// usher serve learns the workspace it serves from the bot token.
			ok(map[string]any{"team_id": "T1", "team": "acme", "user_id": "UUSHER", "bot_id": "B1"})
		case "apps.connections.open":
			ok(map[string]any{"url": e.wsURL})
		case "chat.postMessage":
			post := maps.Clone(form)
			if _, found := users[post.Get("channel")]; found {
				// A user id: Slack posts in the app's DM with them and answers with its id.
				post.Set("channel", "D"+post.Get("channel"))
			}
			e.mu.Lock()
			e.posts = append(e.posts, post)
			e.mu.Unlock()
			ok(map[string]any{"channel": post.Get("channel"), "ts": "1.1"})
		default:
			if name, found := strings.CutPrefix(r.URL.Path, "/respond/"); found {
				body, _ := io.ReadAll(r.Body)
				e.mu.Lock()
				e.responses[name] = append(e.responses[name], string(body))
				e.mu.Unlock()
			}
			ok(map[string]any{}) // response_url posts
		}
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *slackEdge) postsTo(channel string) []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []url.Values
	for _, p := range e.posts {
		if p.Get("channel") == channel {
			out = append(out, p)
		}
	}
	return out
}

// responsesTo returns what was posted to the response_url /respond/name.
func (e *slackEdge) responsesTo(name string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.responses[name])
}

func signedCommand(secret, user, text, responseURL string) (string, http.Header) {
	body := url.Values{"team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {user}, "command": {"/usher"}, "text": {text},
		"response_url": {responseURL}, "trigger_id": {strconv.FormatInt(time.Now().UnixNano(), 36)}}.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	io.WriteString(mac, "v0:"+ts+":"+body)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return body, h
}

// startServe runs the real `usher serve` in-process with vars.
func startServe(t testing.TB, vars map[string]string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env{args: []string{"serve"}, getenv: func(k string) string {
			if k == "USHER_METRICS_ADDR" && vars[k] == "" {
				return "127.0.0.1:0" // several serves, one machine
			}
			return vars[k]
		}, stdout: io.Discard, stderr: io.Discard, ready: ready})
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

// TestServeSlackHTTP runs `usher serve` with Slack configured: a signed
// /usher invite is answered ephemerally, the outbox worker started by serve
// posts the invitation to bob's DM, and forged requests are refused.
func TestServeSlackHTTP(t *testing.T) {
	srv := redistest.Shared(t)
	edge := newSlackEdge(t)
	addr, stop := startServe(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ADDR": "127.0.0.1:0", "USHER_ORG": "slackserve",
		"USHER_ADMINS": "a@example.com", "SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": edge.srv.URL + "/api/",
		"USHER_PUBLIC_URL": "https://usher.test"})
	defer stop()
	body, h := signedCommand("s3cret", "UADMIN", "invite bob@example.com", edge.srv.URL+"/respond/1")
	req, _ := http.NewRequest("POST", "http://"+addr+"/slack/commands", strings.NewReader(body))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(out), `"response_type":"ephemeral"`) || !strings.Contains(string(out), "bob@example.com: invited as member") {
		t.Fatalf("answer %d: %s", resp.StatusCode, out)
	}
	for i := 0; len(edge.postsTo("DUBOB")) == 0; i++ {
		if i == 200 {
			t.Fatal("the invitation never reached bob's DM")
		}
		time.Sleep(25 * time.Millisecond)
	}
	if p := edge.postsTo("DUBOB")[0]; !strings.Contains(p.Get("blocks"), `"accept `) || !strings.Contains(p.Get("blocks"), "https://usher.test/invitations/") {
		t.Fatalf("invitation: %v", p)
	}
	// Nobody named the organization: it took the workspace's name from
	// auth.test (the edge answers "acme"), issue 14, 5.6.
	if p := edge.postsTo("DUBOB")[0]; !strings.Contains(p.Get("blocks"), "invited you to join acme as member") {
		t.Fatalf("invitation does not name the workspace: %v", p.Get("blocks"))
	}
	body, h = signedCommand("wrong", "UADMIN", "invite carol@example.com", "")
	req, _ = http.NewRequest("POST", "http://"+addr+"/slack/commands", strings.NewReader(body))
	req.Header = h
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("forged command: %d", resp.StatusCode)
	}
}

// TestSlackConfig: Slack is off without its variables; with some, every
// missing or malformed one is reported at once.
func TestSlackConfig(t *testing.T) {
	if _, on, err := loadSlackConfig(func(string) string { return "" }); on || err != nil {
		t.Fatalf("no Slack vars: on=%v err=%v", on, err)
	}
	_, _, err := loadSlackConfig(func(k string) string {
		return map[string]string{"SLACK_APP_TOKEN": "xoxb-wrong", "SLACK_API_URL": "ftp://x"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN") || !strings.Contains(err.Error(), "SLACK_APP_TOKEN") || !strings.Contains(err.Error(), "SLACK_API_URL") {
		t.Fatalf("want every problem at once: %v", err)
	}
	_, _, err = loadSlackConfig(func(k string) string { return map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"}[k] })
	if err == nil || !strings.Contains(err.Error(), "SLACK_SIGNING_SECRET") {
		t.Fatalf("bot token alone: %v", err)
	}
	c, _, err := loadSlackConfig(func(k string) string {
		return map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "SLACK_TEAM_ID": "T1, T2", "SLACK_ENTERPRISE_ID": "E1"}[k]
	})
	if err != nil || !slices.Equal(c.tenants.Teams, []string{"T1", "T2"}) || !slices.Equal(c.tenants.Enterprises, []string{"E1"}) {
		t.Fatalf("pinned workspaces: %+v %v", c.tenants, err)
	}
	_, _, err = loadSlackConfig(func(k string) string {
		return map[string]string{"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x", "SLACK_TEAM_ID": "acme", "SLACK_ENTERPRISE_ID": "T1"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), "SLACK_TEAM_ID") || !strings.Contains(err.Error(), "SLACK_ENTERPRISE_ID") {
		t.Fatalf("bad workspace ids: %v", err)
	}
	srv := redistest.Shared(t)
	_, err = runCmd(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "slackcfg", "SLACK_SIGNING_SECRET": "x"}, "serve")
	if err == nil || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN") {
		t.Fatalf("serve with half a Slack config: %v", err)
	}
}

// TestServeSlackSocketMode: with SLACK_APP_TOKEN, `usher serve` mounts no
// Slack routes and answers over Socket Mode instead.
func TestServeSlackSocketMode(t *testing.T) {
	srv := redistest.Shared(t)
	edge := newSlackEdge(t)
	conns := make(chan *websocket.Conn, 2)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := up.Upgrade(w, r, nil); err == nil {
			conns <- c
		}
	}))
	defer ws.Close()
	edge.wsURL = "ws" + strings.TrimPrefix(ws.URL, "http")
	addr, stop := startServe(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ADDR": "127.0.0.1:0", "USHER_ORG": "slacksocket",
		"USHER_ADMINS": "a@example.com", "SLACK_APP_TOKEN": "xapp-1", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": edge.srv.URL + "/api/"})
	defer stop()
	if resp, err := http.Post("http://"+addr+"/slack/commands", "application/x-www-form-urlencoded", strings.NewReader("x=1")); err != nil || resp.StatusCode != 404 {
		t.Fatalf("HTTP routes mounted in Socket Mode: %v %v", resp, err)
	}
	var c *websocket.Conn
	select {
	case c = <-conns:
	case <-time.After(5 * time.Second):
		t.Fatal("usher serve did not connect over Socket Mode")
	}
	defer c.Close()
	c.WriteJSON(map[string]any{"type": "hello", "num_connections": 1})
	c.WriteJSON(map[string]any{"envelope_id": "e1", "type": "slash_commands", "accepts_response_payload": true,
		"payload": map[string]any{"team_id": "T1", "user_id": "UADMIN", "command": "/usher", "text": "invite bob@example.com", "channel_id": "C1"}})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ack struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := c.ReadJSON(&ack); err != nil {
		t.Fatal(err)
	}
	if ack.EnvelopeID != "e1" || !strings.Contains(string(ack.Payload), "bob@example.com: invited as member") {
		t.Fatalf("ack: %s %s", ack.EnvelopeID, ack.Payload)
	}
	for i := 0; len(edge.postsTo("DUBOB")) == 0; i++ {
		if i == 200 {
			t.Fatal("the invitation never reached bob's DM")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

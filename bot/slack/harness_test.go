package slack_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/bot/outbox/redisqueue"
	slackbot "github.com/usher-chat/usher/bot/slack"
	"github.com/usher-chat/usher/bot/slack/slacktest"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func TestMain(m *testing.M) {
	slacktest.RunChildIfAsked() // the fake Slack of a benchmark, in a process of its own
	redistest.Main(m)
}

var update = flag.Bool("update", false, "rewrite golden files")

const (
	secret = "test-signing-secret"
	admin  = "admin@example.com"
	team   = "T1"
)

// Users of the fake Slack workspace.
var (
	uAdmin = fakeUser{ID: "UADMIN", Email: admin, Name: "Ada"}
	uBob   = fakeUser{ID: "UBOB", Email: "bob@example.com", Name: "Bob"}
	uCarol = fakeUser{ID: "UCAROL", Email: "carol@example.com", Name: "Carol"}
	uGuest = fakeUser{ID: "UGUEST", Name: "Guest"} // no email
	uBot   = fakeUser{ID: "UBOT", Name: "robot", Bot: true}
)

// env is one organization on a real redis-server, its Slack adapter, the
// outbox worker, and a fake Slack.
type env struct {
	t      *testing.T
	rdb    *redis.Client
	org    string
	store  *storage.Store
	svc    *handlers.Service
	app    *slackbot.App
	router *deliver.Router
	dm     *slackbot.DM
	slack  *fakeSlack
	worker *outbox.Worker
	queue  redisqueue.Queue
	server *httptest.Server
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newEnv(t *testing.T) *env {
	return newEnvOn(t, chatClient(t, redistest.Shared(t)))
}

// chatClient connects as usher serve does: with storage.ChatTimeouts.
func chatClient(t *testing.T, srv *redistest.Server) *redis.Client {
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	storage.ChatTimeouts(opt)
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func newEnvOn(t *testing.T, rdb *redis.Client) *env { return newEnvFull(t, rdb, "") }

// newEnvWith is an env in Socket Mode (appToken set).
func newEnvWith(t *testing.T, appToken string) *env {
	return newEnvFull(t, chatClient(t, redistest.Shared(t)), appToken)
}

func newEnvFull(t *testing.T, rdb *redis.Client, appToken string) *env {
	t.Helper()
	return newEnvConfigured(t, rdb, appToken, nil)
}

// newEnvConfigured is newEnvFull with the adapter's Config adjusted by edit.
func newEnvConfigured(t *testing.T, rdb *redis.Client, appToken string, edit func(*slackbot.Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, rdb: rdb, logs: &syncBuffer{}}
	e.slack = newFakeSlack(t, uAdmin, uBob, uCarol, uGuest, uBot)
	o := handlerstest.NewOrg(t, rdb, "s", admin, handlers.Config{PublicURL: "https://usher.test", Rand: mrand.NewChaCha8([32]byte{1, 2, 3})})
	e.org, e.store, e.svc = o.ID, o.Store, o.Service
	state, err := storage.NewSlackState(rdb, org.ID(e.org))
	if err != nil {
		t.Fatal(err)
	}
	ob, err := storage.NewOutbox(rdb, org.ID(e.org))
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	e.queue = redisqueue.New(ob)
	// Deliveries go through the router with Slack as its only platform, as
	// in a deployment without Teams.
	cfg := slackbot.Config{
		SigningSecret: secret, BotToken: "xoxb-test", AppToken: appToken, APIURL: e.slack.APIURL(),
		Service: e.svc, State: state, QueueInCommit: true, Queue: e.queue, Tenants: slackbot.Tenants{Teams: []string{team}},
		Logger: slogTo(e.logs), OrgID: org.ID(e.org),
	}
	if edit != nil {
		edit(&cfg)
	}
	dm, err := slackbot.NewDM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.dm = dm
	marks, err := storage.NewDeliveryMarks(rdb, org.ID(e.org))
	if err != nil {
		t.Fatal(err)
	}
	e.router, err = deliver.New(deliver.Config{Org: org.ID(e.org), Platforms: []deliver.Platform{dm}, Service: e.svc, Queue: e.queue, Marks: marks, Log: slogTo(e.logs)})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Router = e.router
	e.app, err = slackbot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.app.Routes(mux)
	e.server = httptest.NewServer(mux)
	t.Cleanup(e.server.Close)
	e.worker = &outbox.Worker{Queue: e.queue, Senders: map[string]outbox.Sender{slackbot.Platform: e.app.Send, deliver.JobPlatform: e.router.Send}, Consumer: "test", Pace: time.Millisecond}
	return e
}

// drain runs the outbox worker until it finds nothing more to do.
func (e *env) drain() {
	e.t.Helper()
	idle := 0
	for range 100 {
		n, err := e.worker.Step(context.Background(), 20*time.Millisecond)
		if err != nil {
			e.t.Fatal(err)
		}
		// A paced job comes back from the retry set a moment later: only a
		// few empty claims in a row mean the outbox is empty.
		if idle = idle + 1; n > 0 {
			idle = 0
		}
		if idle == 3 {
			return
		}
	}
	e.t.Fatal("outbox never drained")
}

// sign signs body the way Slack does.
func sign(body string, ts time.Time, key string) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(key))
	io.WriteString(mac, "v0:"+stamp+":"+body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h
}

func (e *env) post(path, body string, h http.Header) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.server.URL+path, strings.NewReader(body))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// command sends a signed slash command as user, as Slack builds it.
func (e *env) command(user fakeUser, text string) (int, []byte) {
	return e.commandAs(user, "/usher", text, "")
}

var triggers atomic.Uint64

func (e *env) commandAs(user fakeUser, cmd, text, trigger string) (int, []byte) {
	e.t.Helper()
	if trigger == "" {
		// Slack sends a fresh trigger_id with every command: two identical
		// commands in one second are then two differently signed requests.
		trigger = "trig-" + strconv.FormatUint(triggers.Add(1), 10)
	}
	form := url.Values{
		"token": {"ignored"}, "team_id": {team}, "team_domain": {"acme"}, "channel_id": {"C1"}, "channel_name": {"general"},
		"user_id": {user.ID}, "user_name": {strings.ToLower(user.Name)}, "command": {cmd}, "text": {text},
		"api_app_id": {"A1"}, "response_url": {e.slack.ResponseURL("cmd-" + user.ID)}, "trigger_id": {trigger},
	}
	body := form.Encode()
	return e.post("/slack/commands", body, sign(body, time.Now(), secret))
}

// click sends a signed block_actions payload for the button with value.
func (e *env) click(user fakeUser, channel, ts, actionID, value string, ephemeral bool) (int, []byte) {
	e.t.Helper()
	p := map[string]any{
		"type": "block_actions", "team": map[string]any{"id": team, "domain": "acme"},
		"user":         map[string]any{"id": user.ID, "username": strings.ToLower(user.Name), "team_id": team},
		"api_app_id":   "A1",
		"container":    map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": ephemeral},
		"channel":      map[string]any{"id": channel},
		"trigger_id":   "trig-click",
		"response_url": e.slack.ResponseURL("click-" + user.ID),
		"actions": []map[string]any{{"type": "button", "action_id": actionID, "block_id": "b1", "value": value,
			"text": map[string]any{"type": "plain_text", "text": "x"}, "action_ts": strconv.FormatInt(time.Now().UnixNano(), 10)}},
	}
	raw, _ := json.Marshal(p)
	body := url.Values{"payload": {string(raw)}}.Encode()
	return e.post("/slack/interactions", body, sign(body, time.Now(), secret))
}

// golden compares got (indented JSON) with testdata/name.golden.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, got)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	pretty = append(pretty, '\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, pretty, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(pretty) {
		t.Errorf("%s differs from golden file (go test -update to accept):\n--- got\n%s\n--- want\n%s", name, pretty, want)
	}
}

// buttons lists the buttons of Block Kit JSON: action_id -> value.
func buttons(t *testing.T, blocks []byte) map[string]string {
	t.Helper()
	var bs []struct {
		Type     string `json:"type"`
		Elements []struct {
			Type     string          `json:"type"`
			ActionID string          `json:"action_id"`
			Value    string          `json:"value"`
			Text     json.RawMessage `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(blocks, &bs); err != nil {
		t.Fatalf("blocks: %v\n%s", err, blocks)
	}
	out := map[string]string{}
	for _, b := range bs {
		if b.Type != "actions" {
			continue
		}
		for _, el := range b.Elements {
			var label struct {
				Text string `json:"text"`
			}
			json.Unmarshal(el.Text, &label)
			out[label.Text] = el.ActionID + "=" + el.Value
		}
	}
	return out
}

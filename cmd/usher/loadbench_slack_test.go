package main

// Shared by the crash test (production_crash_test.go), the multi-replica test
// (production_replicas_test.go) and the end-to-end load benchmark
// (loadbench_test.go): real `usher serve` processes (built binaries) in Slack
// HTTP mode, a fake Slack Web API at its network edge, and a client that
// signs slash commands and clicks the way Slack does.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/slack/slacktest"
)

// wireSlack is Slack's Web API (and response_url endpoints) at the network
// edge, in Slack's wire format: methods called with a form or a JSON body
// (slacktest.Args), answered in the {"ok":...} envelope. Everyone with an
// email is a Slack user (created on users.lookupByEmail). It keeps every
// posted message with its metadata per conversation and answers
// conversations.history with them (metadata only with include_all_metadata,
// as Slack does), so the Slack sender's check for an already-posted job works
// against it. chat.postMessage can be made slow (SlowPost), to hold jobs in
// flight in the outbox worker.
type wireSlack struct {
	srv *httptest.Server

	mu       sync.Mutex
	ids      map[string]string // user id -> email
	byEmail  map[string]string // email -> user id
	messages map[string][]wireMessage
	responds map[string][]string // response_url name -> texts posted to it
	ts       int
	calls    map[string]int // method -> calls

	slowPost atomic.Int64 // nanoseconds each chat.postMessage waits before answering
	inFlight atomic.Int32 // chat.postMessage requests received and not answered yet
	lost     atomic.Int32 // messages posted whose caller hung up before the answer
}

type wireMessage struct {
	Channel, TS, Text, Blocks string
	Key                       string // metadata event_payload.key
}

func newWireSlack(tb testing.TB) *wireSlack {
	f := &wireSlack{ids: map[string]string{}, byEmail: map[string]string{}, messages: map[string][]wireMessage{},
		responds: map[string][]string{}, calls: map[string]int{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.SetKeepAlivesEnabled(true)
	f.srv.Start()
	tb.Cleanup(f.srv.Close)
	return f
}

// APIURL is SLACK_API_URL for usher.
func (f *wireSlack) APIURL() string { return f.srv.URL + "/api/" }

// ResponseURL is a response_url served by the fake.
func (f *wireSlack) ResponseURL(name string) string { return f.srv.URL + "/respond/" + name }

// User makes email a Slack user and returns its id.
func (f *wireSlack) User(email string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.userLocked(email)
}

func (f *wireSlack) userLocked(email string) string {
	email = strings.ToLower(email)
	if id, ok := f.byEmail[email]; ok {
		return id
	}
	sum := sha256.Sum256([]byte(email))
	id := "U" + strings.ToUpper(hex.EncodeToString(sum[:6]))
	f.byEmail[email], f.ids[id] = id, email
	return id
}

// DM is the id of the direct-message conversation with email.
func (f *wireSlack) DM(email string) string { return "D" + f.User(email) }

func (f *wireSlack) serve(w http.ResponseWriter, r *http.Request) {
	form, _ := slacktest.Args(r)
	body, _ := io.ReadAll(r.Body)
	if name, ok := strings.CutPrefix(r.URL.Path, "/respond/"); ok {
		var msg struct{ Text string }
		json.Unmarshal(body, &msg)
		f.mu.Lock()
		f.responds[name] = append(f.responds[name], msg.Text)
		f.calls["response_url"]++
		f.mu.Unlock()
		io.WriteString(w, "ok")
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	answer := func(v map[string]any) {
		v["ok"] = true
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":false,"error":%q}`, code)
	}
	user := func(id, email string) map[string]any {
		name := strings.Split(email, "@")[0]
		return map[string]any{"id": id, "name": name, "real_name": name,
			"profile": map[string]any{"email": email, "display_name": name, "real_name": name}}
	}
	f.mu.Lock()
	f.calls[method]++
	switch method {
	case "users.info":
		email, ok := f.ids[form.Get("user")]
		f.mu.Unlock()
		if !ok {
			fail("user_not_found")
			return
		}
		answer(map[string]any{"user": user(form.Get("user"), email)})
	case "users.list":
		// Everyone known so far (users are made on users.lookupByEmail), one page.
		var members []map[string]any
		for id, email := range f.ids {
			members = append(members, user(id, email))
		}
		f.mu.Unlock()
		answer(map[string]any{"members": members, "response_metadata": map[string]any{"next_cursor": ""}})
	case "users.lookupByEmail":
		email := strings.ToLower(form.Get("email"))
		id := f.userLocked(email)
		f.mu.Unlock()
		answer(map[string]any{"user": user(id, email)})
	case "conversations.open":
		f.mu.Unlock()
		answer(map[string]any{"channel": map[string]any{"id": "D" + form.Get("users")}})
	case "chat.postMessage":
		f.ts++
		channel := form.Get("channel")
		if _, ok := f.ids[channel]; ok {
			// A user id: Slack posts in the app's DM with them and answers with its id.
			channel = "D" + channel
		}
		m := wireMessage{Channel: channel, TS: fmt.Sprintf("1700000000.%06d", f.ts), Text: form.Get("text"), Blocks: form.Get("blocks")}
		var meta struct {
			Type    string         `json:"event_type"`
			Payload map[string]any `json:"event_payload"`
		}
		if json.Unmarshal([]byte(form.Get("metadata")), &meta) == nil && meta.Type != "" {
			m.Key, _ = meta.Payload["key"].(string)
		}
		// Slack has the message as soon as it has the request: a client
		// killed while waiting for the answer has still posted it.
		f.messages[m.Channel] = append(f.messages[m.Channel], m)
		f.mu.Unlock()
		if d := time.Duration(f.slowPost.Load()); d > 0 {
			f.inFlight.Add(1)
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				f.lost.Add(1)
			}
			f.inFlight.Add(-1)
		}
		answer(map[string]any{"channel": m.Channel, "ts": m.TS})
	case "conversations.history":
		withMeta := form.Get("include_all_metadata") == "true" || form.Get("include_all_metadata") == "1"
		limit, _ := strconv.Atoi(form.Get("limit"))
		if limit <= 0 {
			limit = 100
		}
		list := f.messages[form.Get("channel")]
		var msgs []map[string]any
		for i := len(list) - 1; i >= 0 && len(msgs) < limit; i-- {
			m := map[string]any{"type": "message", "ts": list[i].TS, "text": list[i].Text}
			if withMeta && list[i].Key != "" {
				m["metadata"] = map[string]any{"event_type": "usher_message", "event_payload": map[string]any{"key": list[i].Key}}
			}
			msgs = append(msgs, m)
		}
		f.mu.Unlock()
		answer(map[string]any{"messages": msgs, "has_more": len(list) > limit})
	case "chat.update":
		f.mu.Unlock()
		answer(map[string]any{"channel": form.Get("channel"), "ts": form.Get("ts")})
	default:
		f.mu.Unlock()
		fail("unknown_method")
	}
}

// Messages returns the messages posted to a conversation.
func (f *wireSlack) Messages(channel string) []wireMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wireMessage(nil), f.messages[channel]...)
}

// Responses returns what was posted to the response_url name.
func (f *wireSlack) Responses(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.responds[name]...)
}

// Calls is how often a method (or "response_url") was called.
func (f *wireSlack) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// invitationDMs counts the invitation messages (the first one, with the
// link; reminders are "Reminder: ..." messages) and reminders in a DM.
func invitationDMs(ms []wireMessage) (invitations, reminders int) {
	for _, m := range ms {
		switch {
		case strings.HasPrefix(m.Text, "Reminder"):
			reminders++
		case strings.HasPrefix(m.Text, "You're invited"):
			invitations++
		}
	}
	return invitations, reminders
}

var acceptButton = regexp.MustCompile(`"value":"(accept [A-Za-z0-9]+)"`)

// --- signed requests, as Slack sends them ---

const e2eSecret = "e2e-signing-secret-5f1c9a"

// slackClient signs requests with e2eSecret.
type slackClient struct{ http *http.Client }

func newSlackClient(conns int) *slackClient {
	tr := &http.Transport{MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: time.Minute}).DialContext}
	return &slackClient{http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (c *slackClient) post(ctx context.Context, addr, path, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(e2eSecret))
	io.WriteString(mac, "v0:"+ts+":"+body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// triggers numbers trigger_ids: Slack sends a fresh one with every command
// and click, which makes every delivery's body unique (usher refuses a body
// it has seen as a replay).
var triggers atomic.Uint64

func nextTrigger() string { return "1.2." + strconv.FormatUint(triggers.Add(1), 10) }

// command sends `/usher text` as Slack user userID.
func (c *slackClient) command(ctx context.Context, addr, userID, text, responseURL string) (int, string, error) {
	body := url.Values{"team_id": {"T1"}, "team_domain": {"acme"}, "channel_id": {"C1"}, "channel_name": {"general"},
		"user_id": {userID}, "user_name": {strings.ToLower(userID)}, "command": {"/usher"}, "text": {text},
		"response_url": {responseURL}, "trigger_id": {nextTrigger()}, "api_app_id": {"A1"}}.Encode()
	return c.post(ctx, addr, "/slack/commands", body)
}

// click sends a block_actions interaction: userID clicked the button whose
// value is value, on a message in channel.
func (c *slackClient) click(ctx context.Context, addr, userID, channel, value, responseURL string) (int, string, error) {
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "team": map[string]any{"id": "T1"}, "user": map[string]any{"id": userID, "team_id": "T1"},
		"api_app_id": "A1", "trigger_id": nextTrigger(), "response_url": responseURL,
		"container": map[string]any{"type": "message", "channel_id": channel, "message_ts": "1700000000.000001"},
		"channel":   map[string]any{"id": channel},
		"actions":   []map[string]any{{"type": "button", "action_id": "usher-0", "block_id": "b0", "value": value, "action_ts": "1700000001.000001"}},
	})
	return c.post(ctx, addr, "/slack/interactions", url.Values{"payload": {string(payload)}}.Encode())
}

var invitationField = regexp.MustCompile(`Invitation\*\\n([A-Za-z0-9]+)`)

// invitedID is the invitation id in a successful invite's answer, "" if the
// answer is not a success.
func invitedID(body string) string {
	if !strings.Contains(body, ": invited as ") {
		return ""
	}
	if m := invitationField.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// --- real usher serve processes ---

// replica is one `usher serve` process.
type replica struct {
	*serveProcess
	name string
	mu   sync.Mutex
	tail []string // the last stderr lines
	// swept counts the messages of this replica's scheduler runs (its
	// "scheduler: run" log lines).
	swept atomic.Int64
}

// serveEnv is the environment of a Slack HTTP replica on redisEnv's Redis.
func serveEnv(f *wireSlack, orgID string, admins []string, redisEnv map[string]string) map[string]string {
	env := map[string]string{
		"USHER_ORG": orgID, "USHER_ADMINS": strings.Join(admins, ","), "USHER_PUBLIC_URL": "https://usher.test",
		"SLACK_SIGNING_SECRET": e2eSecret, "SLACK_BOT_TOKEN": "xoxb-e2e", "SLACK_API_URL": f.APIURL(), "SLACK_TEAM_ID": "T1",
		// The fake answers at once and has no limits: these tests and the
		// load benchmark measure usher, not Slack's pace.
		"SLACK_RATE": "off",
		// One deployment secret on every replica: any replica's worker sends
		// what another queued (TestCrashMidLoad fails without it).
		"USHER_SECRET": "e2e-deployment-secret-0123456789abcdef0123456789",
	}
	for k, v := range redisEnv {
		env[k] = v
	}
	return env
}

// startReplica starts `usher serve` with env and waits until it listens.
func startReplica(tb testing.TB, name string, env map[string]string) *replica {
	tb.Helper()
	r := &replica{name: name}
	r.serveProcess = startServeBinary(tb, name, env, func(line string) {
		r.mu.Lock()
		if len(r.tail) == 200 {
			r.tail = r.tail[1:]
		}
		r.tail = append(r.tail, line)
		r.mu.Unlock()
		var rec struct {
			Msg      string
			Messages int64
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "scheduler: run" {
			r.swept.Add(rec.Messages)
		}
	}, r.log)
	return r
}

func (r *replica) kill() {
	_ = r.cmd.Process.Kill()
	<-r.exited
}

func (r *replica) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.tail, "\n")
}

// metric reads one sample of the replica's /metrics, 0 if absent.
func (r *replica) metric(tb testing.TB, sample string) float64 {
	tb.Helper()
	resp, err := http.Get("http://" + r.metricsAddr + "/metrics")
	if err != nil {
		tb.Fatalf("%s /metrics: %v", r.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

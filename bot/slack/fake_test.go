package slack_test

import (
	"encoding/json"
	"fmt"
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

	"github.com/usher-chat/usher/bot/slack/slacktest"
)

// fakeSlack is Slack at its network edge: the Web API methods usher calls
// (form-encoded or JSON, answered in Slack's {"ok":...} envelope) and
// response_url endpoints. It records every call, knows a few users, keeps
// the messages posted per conversation (with metadata, for
// conversations.history), and can answer 429 + Retry-After.
type fakeSlack struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	calls    []apiCall
	users    map[string]fakeUser // by id
	messages map[string][]postedMessage
	throttle map[string]int // method -> 429s still to answer
	ts       int
	wsURL    string // apps.connections.open answer

	// Install flow (install_test.go): codes oauth.v2.access exchanges once
	// for client, and the team each bot token's auth.test answers.
	client     [2]string
	codes      map[string]map[string]any
	refreshes  map[string]map[string]any // refresh token -> answer, once
	tokenTeams map[string][2]string      // token -> team, enterprise
}

type fakeUser struct {
	ID, Email, Name string
	Bot, Deleted    bool
}

type apiCall struct {
	Method string
	Auth   string // the token sent, form or Authorization header
	Form   url.Values
	JSON   map[string]any
}

type postedMessage struct {
	Channel  string
	TS       string
	Text     string
	Blocks   json.RawMessage
	Metadata map[string]any
}

func newFakeSlack(t testing.TB, users ...fakeUser) *fakeSlack {
	f := &fakeSlack{t: t, users: map[string]fakeUser{}, messages: map[string][]postedMessage{}, throttle: map[string]int{}}
	for _, u := range users {
		f.users[u.ID] = u
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// APIURL is SLACK_API_URL for usher.
func (f *fakeSlack) APIURL() string { return f.srv.URL + "/api/" }

// ResponseURL is a response_url served by the fake.
func (f *fakeSlack) ResponseURL(name string) string { return f.srv.URL + "/respond/" + name }

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	var c apiCall
	c.Form, _ = slacktest.Args(r)
	c.Auth = c.Form.Get("token") // the Authorization header's, else the form's (Args)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &c.JSON)
	}
	if name, ok := strings.CutPrefix(r.URL.Path, "/respond/"); ok {
		c.Method = "respond:" + name
	} else {
		c.Method = strings.TrimPrefix(r.URL.Path, "/api/")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.throttle[c.Method] > 0 {
		f.throttle[c.Method]--
		f.calls = append(f.calls, apiCall{Method: c.Method + " (429)", Form: c.Form, JSON: c.JSON})
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	f.calls = append(f.calls, c)
	answer := func(v map[string]any) {
		v["ok"] = true
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":false,"error":%q}`, code)
	}
	switch c.Method {
	case "oauth.v2.access":
		id, secret, basic := r.BasicAuth()
		if !basic {
			id, secret = c.Form.Get("client_id"), c.Form.Get("client_secret")
		}
		if id != f.client[0] || secret != f.client[1] || f.client[0] == "" {
			fail("invalid_client_id")
			return
		}
		if c.Form.Get("grant_type") == "refresh_token" {
			v, ok := f.refreshes[c.Form.Get("refresh_token")]
			if !ok {
				fail("invalid_refresh_token")
				return
			}
			delete(f.refreshes, c.Form.Get("refresh_token"))
			answer(v)
			return
		}
		v, ok := f.codes[c.Form.Get("code")]
		if !ok {
			fail("invalid_code")
			return
		}
		delete(f.codes, c.Form.Get("code")) // codes are single-use
		answer(v)
	case "auth.test":
		tt, ok := f.tokenTeams[c.Auth]
		if !ok {
			fail("invalid_auth")
			return
		}
		answer(map[string]any{"team_id": tt[0], "enterprise_id": tt[1], "user_id": "UBOT" + tt[0], "bot_id": "B" + tt[0]})
	case "users.info":
		u, ok := f.users[c.Form.Get("user")]
		if !ok {
			fail("user_not_found")
			return
		}
		answer(map[string]any{"user": userJSON(u)})
	case "users.list":
		// Cursor-paged in id order (https://docs.slack.dev/apis/web-api/pagination):
		// the cursor is the last id of the page before.
		limit, _ := strconv.Atoi(c.Form.Get("limit"))
		if limit <= 0 {
			limit = 100
		}
		ids := slices.Sorted(maps.Keys(f.users))
		var members []map[string]any
		next := ""
		for _, id := range ids {
			if id <= c.Form.Get("cursor") {
				continue
			}
			if len(members) == limit {
				next = members[len(members)-1]["id"].(string)
				break
			}
			members = append(members, userJSON(f.users[id]))
		}
		answer(map[string]any{"members": members, "response_metadata": map[string]any{"next_cursor": next}})
	case "users.lookupByEmail":
		for _, u := range f.users {
			if strings.EqualFold(u.Email, c.Form.Get("email")) && u.Email != "" {
				answer(map[string]any{"user": userJSON(u)})
				return
			}
		}
		fail("users_not_found")
	case "conversations.open":
		answer(map[string]any{"channel": map[string]any{"id": "D" + c.Form.Get("users")}})
	case "chat.postMessage", "chat.update":
		f.ts++
		ts := fmt.Sprintf("1700000000.%06d", f.ts)
		if c.Method == "chat.update" {
			ts = c.Form.Get("ts")
		}
		channel := c.Form.Get("channel")
		if _, ok := f.users[channel]; ok && c.Method == "chat.postMessage" {
			// A user id: Slack posts in the app's DM with them and answers with its id.
			channel = "D" + channel
		}
		m := postedMessage{Channel: channel, TS: ts, Text: c.Form.Get("text"), Blocks: json.RawMessage(c.Form.Get("blocks"))}
		if md := c.Form.Get("metadata"); md != "" {
			var meta struct {
				Payload map[string]any `json:"event_payload"`
			}
			json.Unmarshal([]byte(md), &meta)
			m.Metadata = meta.Payload
		}
		if c.Method == "chat.postMessage" {
			f.messages[m.Channel] = append(f.messages[m.Channel], m)
		}
		answer(map[string]any{"channel": m.Channel, "ts": ts})
	case "conversations.history":
		var msgs []map[string]any
		list := f.messages[c.Form.Get("channel")]
		for i := len(list) - 1; i >= 0; i-- {
			m := list[i]
			msgs = append(msgs, map[string]any{"type": "message", "ts": m.TS, "text": m.Text,
				"metadata": map[string]any{"event_type": "usher_message", "event_payload": m.Metadata}})
		}
		answer(map[string]any{"messages": msgs, "has_more": false})
	case "views.open":
		answer(map[string]any{"view": map[string]any{"id": "V1"}})
	case "apps.connections.open":
		if r.Header.Get("Authorization") != "Bearer xapp-1-test" {
			fail("invalid_auth")
			return
		}
		answer(map[string]any{"url": f.wsURL})
	default:
		if strings.HasPrefix(c.Method, "respond:") {
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "ok")
			return
		}
		fail("unknown_method")
	}
}

func userJSON(u fakeUser) map[string]any {
	return map[string]any{"id": u.ID, "name": strings.ToLower(u.Name), "real_name": u.Name, "is_bot": u.Bot, "deleted": u.Deleted,
		"profile": map[string]any{"email": u.Email, "display_name": u.Name, "real_name": u.Name}}
}

// SetUser adds or changes a user (a new member, a changed email).
func (f *fakeSlack) SetUser(u fakeUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.ID] = u
}

// Calls returns the calls made so far, and forgets them.
func (f *fakeSlack) Calls() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// methods lists the calls' methods.
func methods(cs []apiCall) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Method
	}
	return out
}

func (f *fakeSlack) Throttle(method string, n int) {
	f.mu.Lock()
	f.throttle[method] = n
	f.mu.Unlock()
}

func (f *fakeSlack) Messages(channel string) []postedMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]postedMessage(nil), f.messages[channel]...)
}

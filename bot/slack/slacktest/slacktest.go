// Package slacktest is a Slack Web API at its network edge that enforces
// Slack's published rate limits, for tests and benchmarks of delivery at
// scale: a workspace of many users, the methods usher calls in Slack's wire
// format (a form or a JSON body: Args; answered in the {"ok":...}
// envelope), and per method and per conversation limits answered with HTTP
// 429 and a Retry-After header past them, as Slack does. It counts every
// call.
//
// The limits are Slack's, from its documentation, not from usher's code
// (https://docs.slack.dev/apis/web-api/rate-limits): "per API method per
// app per workspace", Tier 1 1+ a minute, Tier 2 20+, Tier 3 50+, Tier 4
// 100+; chat.postMessage "generally allows posting one message per second
// per channel, while also maintaining a workspace-wide limit" ("Short
// bursts >1 allowed"), the workspace-wide one unpublished ("several
// hundred messages per minute": Config.PostsPerMinute). The fake counts
// calls in a sliding window of a minute, the strictest reading of "N per
// minute" (no minute ever holds more than N), and lets a conversation
// have PostBurst messages in any PostBurst seconds. Scale runs every window
// that many times faster, so that a 1,000-message run takes seconds.
package slacktest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tier is a method's published limit, calls per minute.
const (
	Tier1 = 1
	Tier2 = 20
	Tier3 = 50
	Tier4 = 100
)

// Tiers are the published tiers of the methods the fake serves
// (docs.slack.dev/reference/methods/NAME, "Rate limits").
var Tiers = map[string]int{
	"users.list":            Tier2,
	"users.lookupByEmail":   Tier3,
	"users.info":            Tier4,
	"conversations.open":    Tier3,
	"conversations.history": Tier3,
	"chat.update":           Tier3,
	"auth.test":             Tier4 * 10, // "special": generous
}

// Config shapes the fake.
type Config struct {
	// Users is how many people the workspace has: user N is UN (U00001...)
	// with email userN@Domain (user00001@corp.example).
	Users  int
	Domain string
	// Scale runs every window Scale times faster (default 1: a minute).
	Scale float64
	// PostsPerMinute is chat.postMessage's workspace-wide limit (default
	// 300, "several hundred"); PostBurst its per-conversation burst
	// (default 2 in 2 seconds: one a second, short bursts).
	PostsPerMinute int
	PostBurst      int
	// Tiers overrides Tiers per method.
	Tiers map[string]int
}

// Server is the fake.
type Server struct {
	cfg Config
	srv *httptest.Server

	mu       sync.Mutex
	users    map[string]*User // by id
	byEmail  map[string]string
	windows  map[string][]time.Time // method or "ch:CHANNEL" -> calls within the window
	calls    map[string]int
	limited  map[string]int
	posts    map[string][]Post // by DM channel
	ts       int
	first429 time.Time // when the first 429 was answered
	firstEnd time.Time // ... and when its Retry-After ended
	after    int       // 429s answered after firstEnd
	afterBy  map[string]int
	conns    int // connections opened to the fake
}

// User is a workspace member.
type User struct {
	ID, Email string
	Deleted   bool
	Bot       bool
}

// Post is a message posted with chat.postMessage.
type Post struct {
	Channel, TS, Text string
	Key               string // metadata event_payload.key (usher's job key)
}

// New starts the fake; Close stops it.
func New(cfg Config) *Server {
	if cfg.Scale <= 0 {
		cfg.Scale = 1
	}
	if cfg.Domain == "" {
		cfg.Domain = "corp.example"
	}
	if cfg.PostsPerMinute <= 0 {
		cfg.PostsPerMinute = 300
	}
	if cfg.PostBurst <= 0 {
		cfg.PostBurst = 2
	}
	s := &Server{cfg: cfg, users: map[string]*User{}, byEmail: map[string]string{}, windows: map[string][]time.Time{},
		calls: map[string]int{}, limited: map[string]int{}, posts: map[string][]Post{}, afterBy: map[string]int{}}
	for i := 1; i <= cfg.Users; i++ {
		s.putLocked(&User{ID: UserID(i), Email: Email(i, cfg.Domain)})
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.route))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.srv.Start()
	return s
}

// route serves the Web API, and /_stats and /_reset for a test driving
// the fake in another process (Child).
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_stats":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Stats())
	case "/_reset":
		s.Reset()
	default:
		s.serve(w, r)
	}
}

// UserID is the id of user n; Email their address.
func UserID(n int) string { return fmt.Sprintf("U%05d", n) }

// Email is the address of user n in domain.
func Email(n int, domain string) string { return fmt.Sprintf("user%05d@%s", n, domain) }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// APIURL is SLACK_API_URL for usher.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// Put adds or changes a member.
func (s *Server) Put(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putLocked(&u)
}

func (s *Server) putLocked(u *User) {
	if old, ok := s.users[u.ID]; ok {
		delete(s.byEmail, strings.ToLower(old.Email))
	}
	s.users[u.ID] = u
	s.byEmail[strings.ToLower(u.Email)] = u.ID
}

// window is the length of "a minute", scaled.
func (s *Server) window() time.Duration { return time.Duration(float64(time.Minute) / s.cfg.Scale) }

// admit counts a call against a sliding window of length w holding at
// most n; it reports how long until the oldest call leaves when full.
func (s *Server) admit(key string, n int, w time.Duration, now time.Time) (bool, time.Duration) {
	calls := s.windows[key]
	i := sort.Search(len(calls), func(i int) bool { return calls[i].After(now.Add(-w)) })
	calls = calls[i:]
	if len(calls) >= n {
		s.windows[key] = calls
		return false, calls[len(calls)-n].Add(w).Sub(now)
	}
	s.windows[key] = append(calls, now)
	return true, 0
}

func (s *Server) limitOf(method string) int {
	if n, ok := s.cfg.Tiers[method]; ok {
		return n
	}
	if method == "chat.postMessage" {
		return s.cfg.PostsPerMinute
	}
	if n, ok := Tiers[method]; ok {
		return n
	}
	return Tier2
}

// limit answers 429 + Retry-After (whole seconds, as Slack sends it) when
// the call is over a limit; it reports whether it did.
func (s *Server) limit(w http.ResponseWriter, method, channel string) bool {
	now := time.Now()
	ok, wait := s.admit(method, s.limitOf(method), s.window(), now)
	if ok && channel != "" {
		burst := s.cfg.PostBurst
		cw := time.Duration(float64(time.Duration(burst)*time.Second) / s.cfg.Scale)
		if ok, wait = s.admit("ch:"+channel, burst, cw, now); !ok {
			// Give back the method's slot: the call was refused.
			m := s.windows[method]
			s.windows[method] = m[:len(m)-1]
		}
	}
	if ok {
		return false
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	s.limited[method]++
	if s.first429.IsZero() {
		s.first429, s.firstEnd = now, now.Add(time.Duration(secs)*time.Second)
	} else if now.After(s.firstEnd) {
		s.after++
		s.afterBy[method]++
	}
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	w.WriteHeader(http.StatusTooManyRequests)
	return true
}

func userJSON(u *User) map[string]any {
	name := strings.Split(u.Email, "@")[0]
	return map[string]any{"id": u.ID, "name": name, "real_name": name, "deleted": u.Deleted, "is_bot": u.Bot,
		"profile": map[string]any{"email": u.Email, "display_name": name, "real_name": name}}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	form, err := Args(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	channel := ""
	if method == "chat.postMessage" {
		channel = form.Get("channel")
		if _, ok := s.users[channel]; ok {
			channel = "D" + channel // a user id: their DM with the app
		}
	}
	if s.limit(w, method, channel) {
		return
	}
	switch method {
	case "auth.test":
		answer(map[string]any{"team_id": "T1", "team": "corp", "user_id": "UUSHER", "bot_id": "B1"})
	case "users.list":
		// Cursor-paged in id order: the cursor is the last id of the page before.
		limit := 100
		fmt.Sscan(form.Get("limit"), &limit)
		limit = min(max(limit, 1), 1000)
		ids := make([]string, 0, len(s.users))
		for id := range s.users {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		cursor := form.Get("cursor")
		start := sort.SearchStrings(ids, cursor)
		if start < len(ids) && ids[start] == cursor {
			start++
		}
		end := min(start+limit, len(ids))
		members := make([]map[string]any, 0, end-start)
		for _, id := range ids[start:end] {
			members = append(members, userJSON(s.users[id]))
		}
		next := ""
		if end < len(ids) {
			next = ids[end-1]
		}
		answer(map[string]any{"members": members, "response_metadata": map[string]any{"next_cursor": next}})
	case "users.lookupByEmail":
		id, ok := s.byEmail[strings.ToLower(form.Get("email"))]
		if !ok {
			fail("users_not_found")
			return
		}
		answer(map[string]any{"user": userJSON(s.users[id])})
	case "users.info":
		u, ok := s.users[form.Get("user")]
		if !ok {
			fail("user_not_found")
			return
		}
		answer(map[string]any{"user": userJSON(u)})
	case "conversations.open":
		u, ok := s.users[form.Get("users")]
		if !ok || u.Deleted {
			fail("user_not_found")
			return
		}
		answer(map[string]any{"channel": map[string]any{"id": "D" + u.ID}})
	case "chat.postMessage":
		if !strings.HasPrefix(channel, "D") {
			fail("channel_not_found")
			return
		}
		if u := s.users[strings.TrimPrefix(channel, "D")]; u == nil || u.Deleted {
			fail("user_not_found")
			return
		}
		s.ts++
		p := Post{Channel: channel, TS: fmt.Sprintf("1700000000.%06d", s.ts), Text: form.Get("text")}
		var meta struct {
			Payload map[string]any `json:"event_payload"`
		}
		if json.Unmarshal([]byte(form.Get("metadata")), &meta) == nil {
			p.Key, _ = meta.Payload["key"].(string)
		}
		s.posts[channel] = append(s.posts[channel], p)
		// Slack answers with the message it posted
		// (docs.slack.dev/reference/methods/chat.postMessage, "Example
		// response"): its blocks and metadata come back too.
		msg := map[string]any{"type": "message", "subtype": "bot_message", "text": p.Text, "ts": p.TS, "user": "UUSHER",
			"bot_id": "B1", "app_id": "A1", "team": "T1"}
		for _, k := range []string{"blocks", "metadata"} {
			if raw := form.Get(k); json.Valid([]byte(raw)) {
				msg[k] = json.RawMessage(raw)
			}
		}
		answer(map[string]any{"channel": channel, "ts": p.TS, "message": msg})
	case "conversations.history":
		list := s.posts[form.Get("channel")]
		var msgs []map[string]any
		for i := len(list) - 1; i >= 0 && len(msgs) < 50; i-- {
			msgs = append(msgs, map[string]any{"type": "message", "ts": list[i].TS, "text": list[i].Text,
				"metadata": map[string]any{"event_type": "usher_message", "event_payload": map[string]any{"key": list[i].Key}}})
		}
		answer(map[string]any{"messages": msgs, "has_more": false})
	case "chat.update":
		answer(map[string]any{"channel": form.Get("channel"), "ts": form.Get("ts")})
	default:
		fail("unknown_method")
	}
}

// Stats are the fake's counts.
type Stats struct {
	Calls   map[string]int // answered, by method (429s included)
	Limited map[string]int // 429s, by method
	// LimitedAfterFirst counts 429s answered after the first one's
	// Retry-After ended: calls over a limit that the first answer should
	// have prevented.
	LimitedAfterFirst int
	AfterBy           map[string]int
	Posts             int
	// Channels is how many conversations got a message; Repeats, how many
	// got one with a key they had already (a message posted twice).
	Channels, Repeats int
	// Conns is how many connections were opened: a client that keeps too
	// few idle opens one for most calls (and, against slack.com, pays a
	// TLS handshake for each).
	Conns int
}

// Total is every call answered.
func (st Stats) Total() int {
	n := 0
	for _, c := range st.Calls {
		n += c
	}
	return n
}

// Stats reads the counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Calls: map[string]int{}, Limited: map[string]int{}, AfterBy: map[string]int{}, LimitedAfterFirst: s.after, Conns: s.conns}
	for k, v := range s.calls {
		st.Calls[k] = v
	}
	for k, v := range s.limited {
		st.Limited[k] = v
	}
	for k, v := range s.afterBy {
		st.AfterBy[k] = v
	}
	for _, ps := range s.posts {
		st.Channels++
		st.Posts += len(ps)
		seen := map[string]bool{}
		for _, p := range ps {
			if seen[p.Key] {
				st.Repeats++
			}
			seen[p.Key] = true
		}
	}
	return st
}

// Posts are the messages in a user's DM.
func (s *Server) Posts(userID string) []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Post(nil), s.posts["D"+userID]...)
}

// Reset forgets the counts and the posts (not the users).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.limited, s.posts, s.afterBy = map[string]int{}, map[string]int{}, map[string][]Post{}, map[string]int{}
	s.windows = map[string][]time.Time{}
	s.first429, s.firstEnd, s.after, s.conns = time.Time{}, time.Time{}, 0, 0
}

// childEnv names the fake's configuration (JSON) in a child process.
const childEnv = "USHER_SLACKTEST_CHILD"

// RunChildIfAsked serves the fake and never returns when this process was
// started by Child (call it first in TestMain): its CPU is then not the
// measured process's.
func RunChildIfAsked() {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return
	}
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "slacktest child:", err)
		os.Exit(2)
	}
	s := New(cfg)
	fmt.Println(s.srv.URL)
	io.Copy(io.Discard, os.Stdin) // until the parent goes
	os.Exit(0)
}

// Remote is a fake running in a child process (Child).
type Remote struct {
	URL string
	cmd *exec.Cmd
}

// Child starts the fake in a child process, the running test binary
// re-executed (its TestMain calls RunChildIfAsked).
func Child(tb testing.TB, cfg Config) *Remote {
	tb.Helper()
	raw, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("slacktest child: %v", err)
	}
	tb.Cleanup(func() { stdin.Close(); cmd.Wait() })
	return &Remote{URL: strings.TrimSpace(line), cmd: cmd}
}

// APIURL is SLACK_API_URL for usher.
func (r *Remote) APIURL() string { return r.URL + "/api/" }

// Stats reads the child's counts.
func (r *Remote) Stats(tb testing.TB) Stats {
	resp, err := http.Get(r.URL + "/_stats")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		tb.Fatal(err)
	}
	return st
}

// Reset forgets the child's counts and posts.
func (r *Remote) Reset(tb testing.TB) {
	resp, err := http.Post(r.URL+"/_reset", "text/plain", nil)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
}

// CPU is the child's CPU time so far (user + system, from /proc).
func (r *Remote) CPU(tb testing.TB) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// Args are a Web API call's arguments, as Slack reads them: a form
// (application/x-www-form-urlencoded, and the query string), or a JSON
// body (application/json, "a wide selection of write-based Web API
// methods", chat.postMessage among them:
// https://docs.slack.dev/changelog/2017-10-keeping-up-with-the-jsons),
// whose string fields read as themselves and other values (blocks,
// metadata) as their JSON, as a form carries them. The token is the
// Authorization header's bearer token, else the form's token field, also
// under "token". The body is left for the caller to read again.
func Args(r *http.Request) (url.Values, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	v := r.URL.Query()
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, fmt.Errorf("a JSON body that is not an object: %w", err)
		}
		for k, raw := range fields {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				v.Set(k, s)
			} else {
				v.Set(k, string(raw))
			}
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, vs := range form {
			v[k] = append(v[k], vs...)
		}
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		v.Set("token", tok)
	}
	return v, nil
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/teams/teamstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// teamsEdge is usher serving Teams against the fake Bot Framework.
type teamsEdge struct {
	t    *testing.T
	fake *teamstest.Fake
	base string
	logs *lockedBuffer
	rdb  redis.UniversalClient
	org  string
}

var (
	tAdmin = teamstest.Member{ID: "29:admin", Name: "Ada Admin", AADObjectID: "00000000-0000-0000-0000-0000000000a1", Email: "admin@example.com"}
	tBob   = teamstest.Member{ID: "29:bob", Name: "Bob", AADObjectID: "00000000-0000-0000-0000-0000000000b1", UPN: "Bob@Example.com"}
	tCarol = teamstest.Member{ID: "29:carol", Name: "Carol", AADObjectID: "00000000-0000-0000-0000-0000000000c1", Email: "carol@example.com"}
	tDave  = teamstest.Member{ID: "29:dave", Name: "Dave", AADObjectID: "00000000-0000-0000-0000-0000000000d1", Email: "dave@example.com"}
)

// freshOrgID is prefix plus a random suffix: a fresh organization per run
// (-count=N) on the shared redis-server.
func freshOrgID(prefix string) string {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	return prefix + "-" + hex.EncodeToString(suffix)
}

func newTeamsEdge(t *testing.T, orgID string) *teamsEdge {
	srv := redistest.Shared(t)
	orgID = freshOrgID(orgID)
	f := teamstest.New(t)
	for _, m := range []teamstest.Member{tAdmin, tBob, tCarol, tDave} {
		f.AddMember(m)
	}
	base, logs := serveUsher(t, map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": orgID, "USHER_ADMINS": "admin@example.com",
		"MICROSOFT_APP_ID": f.AppID, "MICROSOFT_APP_PASSWORD": f.Secret, "MICROSOFT_APP_TENANT_ID": f.Tenant,
		"MICROSOFT_OPENID_METADATA_URL": f.MetadataURL(), "MICROSOFT_TOKEN_URL": f.TokenURL(),
		"MICROSOFT_SERVICE_URL_HOSTS": "127.0.0.1",
	})
	return &teamsEdge{t: t, fake: f, base: base, logs: logs, rdb: srv.Client(t), org: orgID}
}

// post sends an activity signed by the fake's key and returns the status and body.
func (e *teamsEdge) post(act map[string]any, auth string) (int, []byte) {
	e.t.Helper()
	body, _ := json.Marshal(act)
	req, _ := http.NewRequest("POST", e.base+"/api/messages", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (e *teamsEdge) signed() string {
	return "Bearer " + e.fake.Sign("k1", e.fake.ValidClaims(e.fake.ServiceURL()))
}

func (e *teamsEdge) say(m teamstest.Member, text string) {
	e.t.Helper()
	if status, body := e.post(e.fake.ActivityFrom(m, chatOf(m), text), e.signed()); status != 200 {
		e.t.Fatalf("%s says %q: status %d %s", m.Name, text, status, body)
	}
}

func chatOf(m teamstest.Member) string { return "a:chat-" + strings.TrimPrefix(m.ID, "29:") }

// waitFor polls a conversation until an activity's JSON contains want.
func (e *teamsEdge) waitFor(conv, want string) teamstest.Activity {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range e.fake.Activities(conv) {
			if b, _ := json.Marshal(a.Body); strings.Contains(string(b), want) {
				return a
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	var all []string
	for _, a := range e.fake.Activities(conv) {
		b, _ := json.Marshal(a.Body)
		all = append(all, string(b))
	}
	e.t.Fatalf("no activity in %s contains %q; got:\n%s\nlogs:\n%s", conv, want, strings.Join(all, "\n"), e.logs)
	return teamstest.Activity{}
}

// card returns the Adaptive Card content of an activity.
func card(a map[string]any) map[string]any {
	atts, _ := a["attachments"].([]any)
	if len(atts) == 0 {
		return nil
	}
	c, _ := atts[0].(map[string]any)["content"].(map[string]any)
	return c
}

// buttonData finds a card button by title and returns its data.
func buttonData(t *testing.T, c map[string]any, title string) map[string]any {
	t.Helper()
	acts, _ := c["actions"].([]any)
	for _, a := range acts {
		m := a.(map[string]any)
		if m["title"] == title {
			return m["data"].(map[string]any)
		}
	}
	t.Fatalf("no %q button in %v", title, c)
	return nil
}

func (e *teamsEdge) user(email string) *org.User {
	e.t.Helper()
	st, err := storage.New(e.rdb, org.ID(e.org))
	if err != nil {
		e.t.Fatal(err)
	}
	snap, err := st.Load(context.Background(), org.Query{Users: []string{email}})
	if err != nil {
		e.t.Fatal(err)
	}
	return snap.Users[email]
}

// TestTeamsInviteAccept drives usher with activities signed by the test key:
// bob installs the app (his conversation reference is stored), the admin
// invites him, the outbox delivers the card to bob's personal chat, bob
// clicks Accept (Action.Submit: a message with value and replyToId), the
// card is updated in place and bob is a member. A second click (now as an
// Action.Execute invoke) changes nothing and is answered synchronously.
func TestTeamsInviteAccept(t *testing.T) {
	e := newTeamsEdge(t, "teamsflow")
	install := e.fake.ActivityFrom(tBob, chatOf(tBob), "")
	install["type"], install["action"] = "installationUpdate", "add"
	if status, body := e.post(install, e.signed()); status != 200 {
		t.Fatalf("installationUpdate: %d %s", status, body)
	}

	e.say(tAdmin, "<at>usher</at> invite bob@example.com --role member")
	e.waitFor(chatOf(tAdmin), "bob@example.com: invited as member")
	delivered := e.waitFor(chatOf(tBob), "You're invited to")
	e.waitFor(chatOf(tAdmin), "got the invitation in a direct message")
	accept := buttonData(t, card(delivered.Body), "Accept")
	if len(accept) != 1 {
		t.Fatalf("button data carries more than the command: %v", accept)
	}

	// Someone else clicking bob's Accept is refused.
	click := e.fake.ActivityFrom(tAdmin, chatOf(tAdmin), "")
	click["value"] = accept
	_, body := e.post(withInvoke(click), e.signed())
	if !strings.Contains(string(body), "only they can accept") {
		t.Fatalf("the admin clicking bob's Accept: %s", body)
	}
	if e.user("bob@example.com") != nil {
		t.Fatal("bob became a member by the admin's click")
	}

	submit := e.fake.ActivityFrom(tBob, chatOf(tBob), "")
	submit["value"], submit["replyToId"] = accept, delivered.ID
	if status, body := e.post(submit, e.signed()); status != 200 {
		t.Fatalf("submit: %d %s", status, body)
	}
	updated := e.fake.Activities(chatOf(tBob))[0]
	if updated.ID != delivered.ID || updated.Updates != 1 {
		t.Fatalf("the invitation card was not updated in place: %+v", updated)
	}
	if _, has := card(updated.Body)["actions"]; has {
		t.Fatalf("the updated card still has buttons: %v", updated.Body)
	}
	u := e.user("bob@example.com")
	if u == nil || u.Role != org.RoleMember || u.Status != org.StatusActive {
		t.Fatalf("bob after accepting: %+v", u)
	}
	e.waitFor(chatOf(tAdmin), "accepted")

	again := e.fake.ActivityFrom(tBob, chatOf(tBob), "")
	again["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "usher", "data": accept}}
	status, body := e.post(withInvoke(again), e.signed())
	var inv struct {
		StatusCode int            `json:"statusCode"`
		Type       string         `json:"type"`
		Value      map[string]any `json:"value"`
	}
	if status != 200 || json.Unmarshal(body, &inv) != nil || inv.Type != "application/vnd.microsoft.card.adaptive" || !strings.Contains(string(body), "already") {
		t.Fatalf("second click: %d %s", status, body)
	}
	if strings.Contains(e.logs.String(), "/invitations/") {
		t.Fatal("a link was logged")
	}

	// Every card of the flow, as Teams received it, against golden files
	// (ids, links and times normalised).
	invID := strings.TrimPrefix(accept["usher"].(string), "accept ")
	first, _ := json.MarshalIndent(delivered.Body, "", "  ")
	cards := []string{"# a:chat-bob, as delivered\n" + string(first)}
	for _, conv := range []string{chatOf(tAdmin), chatOf(tBob)} {
		for _, a := range e.fake.Activities(conv) {
			b, _ := json.MarshalIndent(a.Body, "", "  ")
			cards = append(cards, "# "+conv+"\n"+string(b))
		}
	}
	cards = append(cards, "# invoke response to the second click\n"+string(body))
	golden(t, "teams_invite_accept.golden", normalizeCards(strings.Join(cards, "\n")+"\n", e.base, invID))
}

var (
	linkPattern = regexp.MustCompile(`/invitations/[A-Za-z0-9_.-]+`)
	datePattern = regexp.MustCompile(`(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d{2}:\d{2} UTC`)
	idPattern   = regexp.MustCompile(`"(in|act)-\d+"`)
	shortDate   = regexp.MustCompile(`(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d{2}:\d{2} UTC`)
)

func normalizeCards(s, base, invID string) string {
	s = strings.ReplaceAll(s, base, "https://usher.example.com")
	s = strings.ReplaceAll(s, invID, "INVID")
	s = linkPattern.ReplaceAllString(s, "/invitations/TOKEN")
	s = datePattern.ReplaceAllString(s, "DATE")
	s = idPattern.ReplaceAllString(s, `"$1-N"`)
	return shortDate.ReplaceAllString(s, "DATE")
}

func withInvoke(a map[string]any) map[string]any {
	a["type"], a["name"] = "invoke", "adaptiveCard/action"
	if v, ok := a["value"].(map[string]any); ok {
		if _, shaped := v["action"]; !shaped {
			a["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "usher", "data": v}}
		}
	}
	return a
}

// TestTeamsConfirmStep: a button with a confirmation answers with a
// Confirm / Cancel card first; Cancel changes nothing, Confirm runs it.
func TestTeamsConfirmStep(t *testing.T) {
	e := newTeamsEdge(t, "teamsconfirm")
	e.say(tBob, "help") // bob is known to usher
	e.say(tAdmin, "invite bob@example.com")
	delivered := e.waitFor(chatOf(tBob), "You're invited to")
	decline := buttonData(t, card(delivered.Body), "Decline")
	click := e.fake.ActivityFrom(tBob, chatOf(tBob), "")
	click["value"] = decline
	_, body := e.post(withInvoke(click), e.signed())
	if !strings.Contains(string(body), "Decline the invitation?") || !strings.Contains(string(body), "Go back") {
		t.Fatalf("no confirmation card: %s", body)
	}
	var resp struct {
		Value map[string]any `json:"value"`
	}
	json.Unmarshal(body, &resp)
	cancel := buttonData(t, resp.Value, "Go back")
	click = e.fake.ActivityFrom(tBob, chatOf(tBob), "")
	click["value"] = cancel
	if _, body = e.post(withInvoke(click), e.signed()); !strings.Contains(string(body), "Cancelled") {
		t.Fatalf("cancel: %s", body)
	}
	confirm := buttonData(t, resp.Value, "Decline")
	click = e.fake.ActivityFrom(tBob, chatOf(tBob), "")
	click["value"] = confirm
	if _, body = e.post(withInvoke(click), e.signed()); !strings.Contains(string(body), "declined") {
		t.Fatalf("confirm: %s", body)
	}
}

// TestTeamsUnreachable: an invitee who never talked to usher, one who blocks
// the bot (403 MessageWritesBlocked), and a 429 that is retried.
func TestTeamsUnreachable(t *testing.T) {
	e := newTeamsEdge(t, "teamsunreach")
	e.say(tAdmin, "invite carol@example.com")
	e.waitFor(chatOf(tAdmin), "carol@example.com isn't in chat")

	e.say(tDave, "help")
	e.fake.Fail(chatOf(tDave), teamstest.Fault{Status: 403, Code: "MessageWritesBlocked"})
	e.say(tAdmin, "invite dave@example.com")
	e.waitFor(chatOf(tAdmin), "dave@example.com isn't in chat")
	st, _ := storage.NewTeamsState(e.rdb, org.ID(e.org))
	if blocked, err := st.Unreachable(context.Background(), tDave.AADObjectID); err != nil || !blocked {
		t.Fatalf("dave not marked unreachable (%v)", err)
	}

	e.say(tBob, "help")
	e.fake.Fail(chatOf(tBob), teamstest.Fault{Status: 429, RetryAfter: 1, Times: 1})
	e.say(tAdmin, "invite bob@example.com")
	e.waitFor(chatOf(tBob), "You're invited to")

	// Bob uninstalls usher: a resend goes to the inviter instead.
	remove := e.fake.ActivityFrom(tBob, chatOf(tBob), "")
	remove["type"], remove["action"] = "installationUpdate", "remove"
	if status, body := e.post(remove, e.signed()); status != 200 {
		t.Fatalf("uninstall: %d %s", status, body)
	}
	e.say(tAdmin, "resend bob@example.com")
	e.waitFor(chatOf(tAdmin), "bob@example.com isn't in chat")
}

// TestTeamsRefusesForgedRequests: unsigned and wrongly signed activities get
// 401 with a log line, and nothing is stored for them.
func TestTeamsRefusesForgedRequests(t *testing.T) {
	e := newTeamsEdge(t, "teamsforged")
	act := e.fake.ActivityFrom(tBob, chatOf(tBob), "help")
	for name, auth := range map[string]string{
		"none":        "",
		"wrong aud":   "Bearer " + e.fake.Sign("k1", withClaim(e.fake.ValidClaims(e.fake.ServiceURL()), "aud", "other")),
		"other url":   "Bearer " + e.fake.Sign("k1", e.fake.ValidClaims("https://evil.example.com/")),
		"malformed":   "Bearer x.y.z",
		"wrong issue": "Bearer " + e.fake.Sign("k1", withClaim(e.fake.ValidClaims(e.fake.ServiceURL()), "iss", "https://evil")),
	} {
		if status, _ := e.post(act, auth); status != 401 {
			t.Errorf("%s: status %d, want 401", name, status)
		}
	}
	foreign := e.fake.ActivityFrom(tBob, chatOf(tBob), "help")
	foreign["conversation"].(map[string]any)["tenantId"] = "99999999-9999-9999-9999-999999999999"
	if status, _ := e.post(foreign, e.signed()); status != 403 {
		t.Errorf("foreign tenant: status %d, want 403", status)
	}
	if status, _ := e.post(map[string]any{"type": 5}, e.signed()); status != 400 {
		t.Errorf("malformed activity: status %d, want 400", status)
	}
	if n := len(e.fake.Activities(chatOf(tBob))); n != 0 {
		t.Fatalf("usher answered a forged request (%d activities)", n)
	}
	st, _ := storage.NewTeamsState(e.rdb, org.ID(e.org))
	if ref, _ := st.Reference(context.Background(), tBob.AADObjectID); ref != nil {
		t.Fatal("a conversation reference was stored for a forged request")
	}
	if !strings.Contains(e.logs.String(), "teams: request refused") {
		t.Fatalf("no log line for refused requests:\n%s", e.logs)
	}
	if strings.Contains(e.logs.String(), "eyJ") {
		t.Fatal("a token was logged")
	}
	if e.fake.MetadataHits.Load() != 1 {
		t.Fatalf("metadata fetched %d times", e.fake.MetadataHits.Load())
	}
}

func withClaim(c teamstest.Claims, k string, v any) teamstest.Claims { c[k] = v; return c }

func TestTeamsConfig(t *testing.T) {
	const app, tenant = "11111111-2222-3333-4444-555555555555", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	cases := []struct {
		name   string
		vars   map[string]string
		addr   string
		on     bool
		errHas []string
	}{
		{name: "off", vars: map[string]string{}, addr: ":3000"},
		{name: "single tenant", vars: map[string]string{"MICROSOFT_APP_ID": app, "MICROSOFT_APP_PASSWORD": "p", "MICROSOFT_APP_TENANT_ID": tenant}, addr: ":3000", on: true},
		{name: "every problem at once", vars: map[string]string{"MICROSOFT_APP_ID": "bot", "MICROSOFT_APP_TYPE": "Other", "MICROSOFT_ALLOWED_TENANTS": "x"}, addr: ":3000", on: true,
			errHas: []string{"MICROSOFT_APP_ID \"bot\"", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TYPE", "MICROSOFT_ALLOWED_TENANTS: \"x\""}},
		{name: "single tenant without tenant", vars: map[string]string{"MICROSOFT_APP_ID": app, "MICROSOFT_APP_PASSWORD": "p"}, addr: ":3000", on: true, errHas: []string{"MICROSOFT_APP_TENANT_ID is not set"}},
		{name: "multi tenant needs allow-list", vars: map[string]string{"MICROSOFT_APP_ID": app, "MICROSOFT_APP_PASSWORD": "p", "MICROSOFT_APP_TYPE": "MultiTenant"}, addr: ":3000", on: true, errHas: []string{"MICROSOFT_ALLOWED_TENANTS is not set"}},
		{name: "password without app id", vars: map[string]string{"MICROSOFT_APP_PASSWORD": "p"}, addr: ":3000", on: true, errHas: []string{"MICROSOFT_APP_ID is not"}},
		{name: "unauthenticated on all interfaces", vars: map[string]string{"MICROSOFT_ALLOW_UNAUTHENTICATED": "loopback"}, addr: ":3000", on: true, errHas: []string{"not a loopback address"}},
		{name: "unauthenticated on loopback", vars: map[string]string{"MICROSOFT_ALLOW_UNAUTHENTICATED": "loopback"}, addr: "127.0.0.1:3978", on: true},
		{name: "unauthenticated with app id", vars: map[string]string{"MICROSOFT_APP_ID": app, "MICROSOFT_APP_PASSWORD": "p", "MICROSOFT_APP_TENANT_ID": tenant, "MICROSOFT_ALLOW_UNAUTHENTICATED": "loopback"}, addr: "127.0.0.1:1", on: true, errHas: []string{"unset it"}},
		{name: "plain http token url", vars: map[string]string{"MICROSOFT_APP_ID": app, "MICROSOFT_APP_PASSWORD": "p", "MICROSOFT_APP_TENANT_ID": tenant, "MICROSOFT_TOKEN_URL": "http://login.example.com/t"}, addr: ":1", on: true, errHas: []string{"MICROSOFT_TOKEN_URL"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, on, err := loadTeamsConfig(func(k string) string { return c.vars[k] }, c.addr)
			if on != c.on {
				t.Fatalf("on = %v", on)
			}
			if len(c.errHas) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, w := range c.errHas {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("error %v lacks %q", err, w)
				}
			}
			if c.name == "single tenant" && (cfg.tokenURL != "https://login.microsoftonline.com/"+tenant+"/oauth2/v2.0/token" || fmt.Sprint(cfg.allowedTenants) != "["+tenant+"]") {
				t.Fatalf("defaults: %+v", cfg)
			}
		})
	}
}

// TestTeamsUnauthenticatedLoopback: without an app id and with the opt-in,
// on loopback, usher accepts unsigned activities but says so loudly, and
// talks only to loopback service URLs.
func TestTeamsUnauthenticatedLoopback(t *testing.T) {
	srv := redistest.Shared(t)
	f := teamstest.New(t)
	base, logs := serveUsher(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "teamsinsecure-" + strconv.FormatInt(time.Now().UnixNano()%1e8, 36), "MICROSOFT_ALLOW_UNAUTHENTICATED": "loopback"})
	if !strings.Contains(logs.String(), "TEAMS AUTHENTICATION IS OFF") {
		t.Fatalf("no loud warning:\n%s", logs)
	}
	e := &teamsEdge{t: t, fake: f, base: base, logs: logs}
	act := f.ActivityFrom(tBob, chatOf(tBob), "help")
	act["serviceUrl"] = "https://smba.trafficmanager.net/amer/"
	if status, _ := e.post(act, ""); status != 403 {
		t.Fatalf("a non-loopback serviceUrl without authentication: status %d, want 403", status)
	}
	if f.TokenHits.Load() != 0 {
		t.Fatal("usher asked for a token in unauthenticated mode")
	}
}

// TestTeamsReplayRefused: the same authenticated activity (same id, same
// token) sent twice is refused the second time with 401 and a log line,
// and the command runs once: one answer in the chat, not two.
func TestTeamsReplayRefused(t *testing.T) {
	e := newTeamsEdge(t, "teamsreplay")
	act := e.fake.ActivityFrom(tAdmin, chatOf(tAdmin), "workspaces")
	auth := e.signed()
	if status, body := e.post(act, auth); status != 200 {
		t.Fatalf("first: %d %s", status, body)
	}
	e.waitFor(chatOf(tAdmin), "There are no workspaces yet")
	if status, body := e.post(act, auth); status != http.StatusUnauthorized {
		t.Errorf("replay: %d %s, want 401", status, body)
	}
	// A new activity (another id) from the same person is served.
	e.say(tAdmin, "workspace create eng")
	e.waitFor(chatOf(tAdmin), "Created workspace eng")
	n := 0
	for _, a := range e.fake.Activities(chatOf(tAdmin)) {
		if b, _ := json.Marshal(a.Body); strings.Contains(string(b), "There are no workspaces yet") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d answers to the command, want 1", n)
	}
	if !strings.Contains(e.logs.String(), "activity already received") {
		t.Errorf("no log line for the replay:\n%s", e.logs)
	}
}

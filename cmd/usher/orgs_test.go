package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/slack/slacktest"
	"github.com/usher-chat/usher/bot/teams/teamstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// slackWorkspaces fakes Slack's Web API for an app installed in several
// workspaces: each bot token belongs to one workspace (auth.test names it)
// and sees only that workspace's people (users.info, users.lookupByEmail),
// as Slack's API does; DMs are recorded per workspace.
type slackWorkspaces struct {
	srv *httptest.Server
	mu  sync.Mutex
	// byToken: token -> team id; people: team -> user id -> email.
	byToken map[string]string
	people  map[string]map[string]string
	posts   []workspacePost
	// codes are what oauth.v2.access exchanges (once each) for client
	// (install_test.go); unconfirmed are users whose email Slack has not
	// verified.
	client      [2]string
	codes       map[string]map[string]any
	unconfirmed map[string]bool
	// refreshable: refresh token -> team, each good once; expiresIn is the
	// lifetime granted tokens get (default 12 hours).
	refreshable             map[string]string
	expiresIn               int
	refreshCalls, rotations int
	uses                    map[string]int // Web API calls by token
}

type workspacePost struct{ team, channel, text string }

func newSlackWorkspaces(t *testing.T) *slackWorkspaces {
	s := &slackWorkspaces{byToken: map[string]string{}, people: map[string]map[string]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// add is a workspace with its bot token and people (user id -> email).
func (s *slackWorkspaces) add(team, token string, people map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byToken[token], s.people[team] = team, people
}

func (s *slackWorkspaces) serve(w http.ResponseWriter, r *http.Request) {
	form, _ := slacktest.Args(r)
	w.Header().Set("Content-Type", "application/json")
	token := form.Get("token") // the Authorization header's, else the form's (slacktest.Args)
	if r.URL.Path == "/api/oauth.v2.access" {
		s.exchange(w, r, form)
		return
	}
	s.mu.Lock()
	team, known := s.byToken[token]
	people := s.people[team]
	if known {
		if s.uses == nil {
			s.uses = map[string]int{}
		}
		s.uses[token]++
	}
	s.mu.Unlock()
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		io.WriteString(w, `{"ok":true}`) // response_url posts
		return
	}
	if !known {
		io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	ok := func(v map[string]any) { v["ok"] = true; json.NewEncoder(w).Encode(v) }
	user := func(id, email string) map[string]any {
		s.mu.Lock()
		confirmed := !s.unconfirmed[id]
		s.mu.Unlock()
		return map[string]any{"id": id, "team_id": team, "is_email_confirmed": confirmed, "profile": map[string]any{"email": email, "display_name": id}}
	}
	switch strings.TrimPrefix(r.URL.Path, "/api/") {
	case "auth.test":
		ok(map[string]any{"team_id": team, "team": team, "user_id": "UUSHER", "bot_id": "B" + team})
	case "users.info":
		if email, found := people[form.Get("user")]; found {
			ok(map[string]any{"user": user(form.Get("user"), email)})
			return
		}
		io.WriteString(w, `{"ok":false,"error":"user_not_found"}`)
	case "users.lookupByEmail":
		for id, email := range people {
			if email == form.Get("email") {
				ok(map[string]any{"user": user(id, email)})
				return
			}
		}
		io.WriteString(w, `{"ok":false,"error":"users_not_found"}`)
	case "conversations.open":
		if _, found := people[form.Get("users")]; !found {
			io.WriteString(w, `{"ok":false,"error":"user_not_found"}`)
			return
		}
		ok(map[string]any{"channel": map[string]any{"id": "D" + form.Get("users")}})
	case "chat.postMessage":
		channel := form.Get("channel")
		if _, found := people[channel]; found {
			// A user id: Slack posts in the app's DM with them and answers with its id.
			channel = "D" + channel
		} else if strings.HasPrefix(channel, "U") {
			io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
			return
		}
		s.mu.Lock()
		s.posts = append(s.posts, workspacePost{team: team, channel: channel, text: form.Get("text") + form.Get("blocks")})
		s.mu.Unlock()
		ok(map[string]any{"channel": channel, "ts": strconv.FormatInt(time.Now().UnixNano(), 10)})
	default:
		ok(map[string]any{})
	}
}

// postsTo are the DMs to user in team.
func (s *slackWorkspaces) postsTo(team, user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.posts {
		if p.team == team && p.channel == "D"+user {
			out = append(out, p.text)
		}
	}
	return out
}

func (s *slackWorkspaces) allPosts() []workspacePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.posts)
}

// slackAs runs a slash command as user of team, signed as Slack signs it.
func slackAs(t *testing.T, base, team, user, text string) string {
	t.Helper()
	return slackAsIn(t, base, "", team, user, text)
}

// slackAsIn is slackAs from a workspace of an Enterprise Grid, whose
// requests carry its enterprise_id.
func slackAsIn(t *testing.T, base, enterprise, team, user, text string) string {
	t.Helper()
	form := url.Values{"team_id": {team}, "channel_id": {"C1"}, "user_id": {user}, "command": {"/usher"}, "text": {text},
		"response_url": {base + "/nowhere"}, "trigger_id": {strconv.FormatInt(time.Now().UnixNano(), 36)}}
	if enterprise != "" {
		form.Set("enterprise_id", enterprise)
	}
	body := form.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte("s3cret"))
	io.WriteString(mac, "v0:"+ts+":"+body)
	req, _ := http.NewRequest("POST", base+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("slack %s %s %q: %d %s", team, user, text, resp.StatusCode, out)
	}
	var msg struct{ Text string }
	json.Unmarshal(out, &msg)
	return msg.Text + "\n" + string(out)
}

func freshSlackID(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + strings.ToUpper(hex.EncodeToString(b))
}

func freshGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// orgKeys dumps every key of organization id (its values, not TTLs), to
// show that nothing done for another organization touched it.
func orgKeys(t *testing.T, rdb *redis.Client, id org.ID) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, "usher:{"+string(id)+"}:*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if strings.Contains(k, ":pace:") || strings.Contains(k, ":budget:") {
			continue // pacing slots and rate budgets: when this organization's own messages may go (they expire)
		}
		v, err := rdb.Dump(ctx, k).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// TestThreeOrganizations runs one `usher serve` for three organizations on
// one Redis: alpha (the default, USHER_ORG) in Slack workspace TA, beta in
// Slack workspace TB, gamma in a Teams tenant. Each request is routed by
// the tenant its platform signed; no command run in one organization, naming
// another's people and invitation ids, reads or changes the other; pat is
// an admin in alpha and a viewer in beta; messages reach each person in
// their own organization's workspace.
func TestThreeOrganizations(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	alpha, beta, gamma := org.ID(freshOrgID("alpha")), org.ID(freshOrgID("beta")), org.ID(freshOrgID("gamma"))
	ta, tb := freshSlackID("TA"), freshSlackID("TB")
	slackFake := newSlackWorkspaces(t)
	slackFake.add(ta, "xoxb-alpha", map[string]string{"UBOSS": "boss@alpha.example", "UPAT": "pat@example.com", "UAMY": "amy@alpha.example"})
	slackFake.add(tb, "xoxb-beta", map[string]string{"UBEA": "bea@beta.example", "UPATB": "pat@example.com", "UBEN": "ben@beta.example"})
	teamsFake := teamstest.New(t)
	teamsFake.Tenant = freshGUID()
	gus := teamstest.Member{ID: "29:gus", Name: "Gus", AADObjectID: "00000000-0000-0000-0000-0000000000e1", Email: "gus@gamma.example"}
	gil := teamstest.Member{ID: "29:gil", Name: "Gil", AADObjectID: "00000000-0000-0000-0000-0000000000e2", Email: "gil@gamma.example"}
	teamsFake.AddMember(gus)
	teamsFake.AddMember(gil)

	vars := map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": string(alpha), "USHER_ADMINS": "boss@alpha.example",
		"USHER_SECRET":         strings.Repeat("three-organizations-", 2),
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-alpha,xoxb-beta", "SLACK_API_URL": slackFake.srv.URL + "/api/",
		"MICROSOFT_APP_ID": teamsFake.AppID, "MICROSOFT_APP_PASSWORD": teamsFake.Secret, "MICROSOFT_APP_TYPE": "MultiTenant",
		"MICROSOFT_ALLOWED_TENANTS": "*", "MICROSOFT_OPENID_METADATA_URL": teamsFake.MetadataURL(), "MICROSOFT_TOKEN_URL": teamsFake.TokenURL(),
		"MICROSOFT_SERVICE_URL_HOSTS": "127.0.0.1",
	}
	getenv := func(k string) string { return vars[k] }
	operator := func(args ...string) {
		t.Helper()
		var out strings.Builder
		if err := run(ctx, env{args: args, getenv: getenv, stdout: &out, stderr: &out}); err != nil {
			t.Fatalf("usher %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	operator("org", "create", "Alpha", "--id", string(alpha), "--admin", "boss@alpha.example", "--slack-team", ta)
	operator("org", "create", "Beta", "--id", string(beta), "--admin", "bea@beta.example", "--slack-team", tb)
	operator("org", "create", "Gamma", "--id", string(gamma), "--admin", "gus@gamma.example", "--teams-tenant", teamsFake.Tenant)

	base, logs := serveUsher(t, vars)
	tm := &teamsEdge{t: t, fake: teamsFake, base: base, logs: logs, rdb: rdb, org: string(gamma)}
	// Teams can write only to someone who installed the app.
	install := teamsFake.ActivityFrom(gil, chatOf(gil), "")
	install["type"], install["action"] = "installationUpdate", "add"
	if status, body := tm.post(install, tm.signed()); status != 200 {
		t.Fatalf("gil installs usher: %d %s", status, body)
	}

	// Each admin, in their own workspace, invites people of their own.
	if a := slackAs(t, base, ta, "UBOSS", "invite pat@example.com amy@alpha.example --role admin"); !strings.Contains(a, "invited as admin") {
		t.Fatalf("alpha invite: %s", a)
	}
	if a := slackAs(t, base, tb, "UBEA", "invite pat@example.com ben@beta.example --role viewer"); !strings.Contains(a, "invited as viewer") {
		t.Fatalf("beta invite: %s", a)
	}
	tm.say(gus, "invite gil@gamma.example")
	tm.waitFor(chatOf(gus), "gil@gamma.example: invited as member")

	// The invitations arrive in each organization's own workspace, once.
	waitForSlack(t, logs, "pat's alpha invitation in TA", func() bool { return len(slackFake.postsTo(ta, "UPAT")) == 1 })
	waitForSlack(t, logs, "pat's beta invitation in TB", func() bool { return len(slackFake.postsTo(tb, "UPATB")) == 1 })
	waitForSlack(t, logs, "amy's invitation", func() bool { return len(slackFake.postsTo(ta, "UAMY")) == 1 })
	waitForSlack(t, logs, "ben's invitation", func() bool { return len(slackFake.postsTo(tb, "UBEN")) == 1 })
	tm.waitFor(chatOf(gil), "You're invited to")
	for _, p := range slackFake.allPosts() {
		if p.team == ta && strings.Contains(p.text, "Beta") || p.team == tb && strings.Contains(p.text, "Alpha") {
			t.Errorf("a message of one organization went to the other's workspace: %+v", p)
		}
	}

	// pat accepts both: admin in alpha, viewer in beta.
	invID := func(id org.ID, email string) string { t.Helper(); return pendingID(t, rdb, id, email) }
	patAlpha, patBeta := invID(alpha, "pat@example.com"), invID(beta, "pat@example.com")
	if a := slackAs(t, base, ta, "UPAT", "accept "+patAlpha); !strings.Contains(a, "joined") && !strings.Contains(a, "welcome") && !strings.Contains(a, "Welcome") {
		t.Logf("pat accepts in alpha: %s", a)
	}
	// The bell: in alpha's workspace pat sees beta's invitation too, and
	// accepts it from there with the button's command (it names beta).
	bell := slackAs(t, base, ta, "UPAT", "invitations --mine")
	if !strings.Contains(bell, "join Beta as viewer") || !strings.Contains(bell, "accept "+patBeta+" --org "+string(beta)) {
		t.Fatalf("pat's bell in alpha's workspace lacks beta's invitation: %s", bell)
	}
	slackAs(t, base, ta, "UPAT", "accept "+patBeta+" --org "+string(beta))
	waitForSlack(t, logs, "pat a member of both", func() bool {
		return strings.Contains(slackAs(t, base, ta, "UBOSS", "members"), "pat@example.com") &&
			strings.Contains(slackAs(t, base, tb, "UBEA", "members"), "pat@example.com")
	})
	if a := slackAs(t, base, ta, "UPAT", "settings anyone-can-invite on"); strings.Contains(a, "Only admins") {
		t.Errorf("pat is an admin in alpha, yet: %s", a)
	}
	if a := slackAs(t, base, tb, "UPATB", "settings anyone-can-invite on"); !strings.Contains(a, "Only admins") {
		t.Errorf("pat is a viewer in beta, yet: %s", a)
	}

	// The isolation matrix: every command, run by an admin of one
	// organization, naming the people and invitation ids of another,
	// changes nothing there and shows nothing of it.
	amyAlpha, benBeta, gilGamma := invID(alpha, "amy@alpha.example"), invID(beta, "ben@beta.example"), invID(gamma, "gil@gamma.example")
	places := []isoPlace{
		{alpha, func(text string) string { return slackAs(t, base, ta, "UBOSS", text) }, "boss@alpha.example",
			[]string{"amy@alpha.example", "boss@alpha.example", amyAlpha}, amyAlpha},
		{beta, func(text string) string { return slackAs(t, base, tb, "UBEA", text) }, "bea@beta.example",
			[]string{"ben@beta.example", "bea@beta.example", benBeta}, benBeta},
		{gamma, func(text string) string {
			before := len(teamsFake.Activities(chatOf(gus)))
			tm.say(gus, text)
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if acts := teamsFake.Activities(chatOf(gus)); len(acts) > before {
					b, _ := json.Marshal(acts[len(acts)-1].Body)
					return string(b)
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Fatalf("gus got no answer to %q", text)
			return ""
		}, "gus@gamma.example", []string{"gil@gamma.example", "gus@gamma.example", gilGamma}, gilGamma},
	}
	assertIsolated(t, rdb, places)

	// Inviting another organization's admin is an invitation of one's own
	// organization: it changes nothing of theirs, and their bell shows it,
	// with who sent it, in their own workspace.
	for _, here := range places {
		for _, there := range places {
			if here.id == there.id {
				continue
			}
			before := settledKeys(t, rdb, there.id)
			if a := here.run("invite " + there.admin + " --role viewer"); !strings.Contains(a, "invited as viewer") {
				t.Errorf("%s invites %s: %s", here.id, there.admin, a)
			}
			if after := settledKeys(t, rdb, there.id); !mapsEqual(before, after) {
				t.Errorf("an invitation in %s changed %s's keys: %s", here.id, there.id, keyDiff(before, after))
			}
		}
	}
	if bell := places[1].run("invitations --mine"); !strings.Contains(bell, "boss@alpha.example invited you to join Alpha as viewer") ||
		!strings.Contains(bell, "gus@gamma.example invited you to join Gamma as viewer") {
		t.Errorf("bea's bell in beta's workspace: %s", bell)
	}

	// Web: an invitation link finds its own organization; beta's link with
	// alpha's routing tag in front of its secret is the neutral 404.
	linkOf := func(text string) string {
		i := strings.Index(text, base+"/invitations/")
		if i < 0 {
			t.Fatalf("no invitation link in %q", text)
		}
		rest := text[i:]
		if j := strings.IndexAny(rest, "\\\"|> "); j > 0 {
			rest = rest[:j]
		}
		return rest
	}
	benLink, amyLink := linkOf(slackFake.postsTo(tb, "UBEN")[0]), linkOf(slackFake.postsTo(ta, "UAMY")[0])
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, page := get(benLink); code != 200 || !strings.Contains(page, "Beta") || strings.Contains(page, "Alpha") {
		t.Errorf("ben's link: %d, Beta shown %v", code, strings.Contains(page, "Beta"))
	}
	tagOf := func(link string) (string, string) {
		tok := strings.TrimPrefix(link, base+"/invitations/")
		tag, secret, _ := strings.Cut(tok, ".")
		return tag, secret
	}
	alphaTag, _ := tagOf(amyLink)
	_, benSecret := tagOf(benLink)
	if code, _ := get(base + "/invitations/" + alphaTag + "." + benSecret); code != 404 {
		t.Errorf("beta's secret behind alpha's tag: %d, want the neutral 404", code)
	}

	// A workspace no organization is linked to is told so, and who can fix it.
	slackFake.add("TZZZ", "xoxb-zzz", map[string]string{"UZ": "z@zzz.example"})
	if a := slackAs(t, base, "TZZZ", "UZ", "members"); !strings.Contains(a, "not set up") && !strings.Contains(a, "not serve") {
		t.Errorf("an unknown workspace: %s", a)
	}
	// So is a Teams tenant no organization is linked to.
	stranger := teamstest.Member{ID: "29:sam", Name: "Sam", AADObjectID: "00000000-0000-0000-0000-0000000000f1", Email: "sam@elsewhere.example"}
	teamsFake.AddMember(stranger)
	home := teamsFake.Tenant
	teamsFake.Tenant = freshGUID()
	tm.say(stranger, "members")
	tm.waitFor(chatOf(stranger), "not set up for this Microsoft Teams tenant")
	teamsFake.Tenant = home
	if got := fmt.Sprint(teamsFake.Activities(chatOf(stranger))); strings.Contains(got, "gus@gamma.example") {
		t.Errorf("a stranger's tenant was shown gamma's people: %s", got)
	}
}

// pendingID is the id of email's pending invitation in organization id.
func pendingID(t *testing.T, rdb *redis.Client, id org.ID, email string) string {
	t.Helper()
	st, err := storage.New(rdb, id)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(context.Background(), org.Query{Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range snap.Pending {
		if inv.Email == email {
			return inv.ID
		}
	}
	t.Fatalf("no pending invitation for %s in %s", email, id)
	return ""
}

// isoPlace is one organization in the isolation matrix: how its admin runs
// a command, who they are, and what only it knows.
type isoPlace struct {
	id      org.ID
	run     func(text string) string
	admin   string
	secrets []string // what only this organization knows
	invID   string
}

// assertIsolated is the isolation matrix: every command, run by an admin of
// one organization, naming the people and invitation ids of another,
// changes nothing there and shows nothing of it.
func assertIsolated(t *testing.T, rdb *redis.Client, places []isoPlace) {
	t.Helper()
	commands := func(other isoPlace, email string) []string {
		return []string{
			"invitations", "invitations --all", "members", "members --status deactivated", "requests", "audit", "workspaces", "settings",
			"link " + other.invID, "link " + email, "resend " + other.invID, "resend " + email,
			"revoke " + other.invID + " --confirm", "revoke " + email + " --confirm",
			"role " + other.admin + " viewer --confirm", "deactivate " + other.admin + " --confirm", "activate " + other.admin,
			"reset-password " + other.admin + " --confirm", "approve " + other.invID, "deny " + other.invID,
			"accept " + other.invID, "decline " + other.invID, "audit --user " + other.admin,
			// The bell's buttons name an organization: only the invitee may use them.
			"accept " + other.invID + " --org " + string(other.id), "decline " + other.invID + " --org " + string(other.id) + " --confirm",
		}
	}
	for _, here := range places {
		for _, there := range places {
			if here.id == there.id {
				continue
			}
			before := settledKeys(t, rdb, there.id)
			for _, text := range commands(there, there.secrets[0]) {
				answer := here.run(text)
				for _, secret := range there.secrets {
					if strings.Contains(answer, secret) && !strings.Contains(text, secret) {
						t.Errorf("%s: %q shows %s's %q:\n%s", here.id, text, there.id, secret, answer)
					}
				}
			}
			if after := orgKeys(t, rdb, there.id); !mapsEqual(before, after) {
				t.Errorf("commands run in %s changed %s's keys: %s", here.id, there.id, keyDiff(before, after))
			}
		}
	}
}

// settledKeys is orgKeys once the organization's own messages are all
// sent (its keys stay the same for half a second).
func settledKeys(t *testing.T, rdb *redis.Client, id org.ID) map[string]string {
	t.Helper()
	last := orgKeys(t, rdb, id)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		now := orgKeys(t, rdb, id)
		if mapsEqual(last, now) {
			return now
		}
		last = now
	}
	t.Fatalf("%s's keys never settled", id)
	return nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func keyDiff(before, after map[string]string) string {
	var d []string
	for k, v := range after {
		if bv, ok := before[k]; !ok {
			d = append(d, "+"+k)
		} else if bv != v {
			d = append(d, "~"+k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			d = append(d, "-"+k)
		}
	}
	slices.Sort(d)
	return strings.Join(d, " ")
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/teams/teamstest"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestBothPlatforms runs one `usher serve` with Slack and Teams on at once,
// each faked only at its network edge (the fake Slack Web API, the fake Bot
// Framework), on a real redis-server. The admin is in both; bob and erin only
// in Slack; carol and dave only in Teams (they installed the app).
//
//   - the admin invites carol from Slack: the card reaches carol's Teams
//     chat, and the admin hears where it went in Slack, where they typed;
//   - the admin invites bob from Teams: the DM reaches bob in Slack, and the
//     admin hears it in Teams;
//   - after a restart with the scheduler on, the reminders due for erin and
//     dave reach each on their own platform;
//   - nothing is sent twice, and nothing goes to a platform that does not
//     know the person.
func TestBothPlatforms(t *testing.T) {
	srv := redistest.Shared(t)
	orgID := freshOrgID("both")
	slack := newSlackEdgeWith(t, map[string]string{"UADMIN": "admin@example.com", "UBOB": "bob@example.com", "UERIN": "erin@example.com"})
	fake := teamstest.New(t)
	for _, m := range []teamstest.Member{tAdmin, tCarol, tDave} {
		fake.AddMember(m)
	}
	vars := map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": orgID, "USHER_ADMINS": "admin@example.com",
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": slack.srv.URL + "/api/",
		"MICROSOFT_APP_ID": fake.AppID, "MICROSOFT_APP_PASSWORD": fake.Secret, "MICROSOFT_APP_TENANT_ID": fake.Tenant,
		"MICROSOFT_OPENID_METADATA_URL": fake.MetadataURL(), "MICROSOFT_TOKEN_URL": fake.TokenURL(),
		"MICROSOFT_SERVICE_URL_HOSTS": "127.0.0.1",
		// Both serves run side by side: either worker may send what the other queued.
		"USHER_SECRET": strings.Repeat("both-platforms-secret-", 2),
		// The first serve leaves scheduled work alone; the reminders come with the second.
		"USHER_SCHEDULER": "off",
	}
	base, logs := serveUsher(t, vars)
	e := &teamsEdge{t: t, fake: fake, base: base, logs: logs, rdb: srv.Client(t), org: orgID}
	for _, m := range []teamstest.Member{tCarol, tDave} {
		install := fake.ActivityFrom(m, chatOf(m), "")
		install["type"], install["action"] = "installationUpdate", "add"
		if status, body := e.post(install, e.signed()); status != 200 {
			t.Fatalf("%s installs usher: %d %s", m.Name, status, body)
		}
	}

	// From Slack to a person only in Teams.
	answer := slackCommand(t, base, "UADMIN", "invite carol@example.com", slack.srv.URL+"/respond/carol")
	if !strings.Contains(answer, "carol@example.com: invited as member") {
		t.Fatalf("slack answer: %s", answer)
	}
	e.waitFor(chatOf(tCarol), "You're invited to")
	waitForSlack(t, logs, "the admin told in Slack that carol got it", func() bool {
		rs := slack.responsesTo("carol")
		return len(rs) == 1 && strings.Contains(rs[0], "carol@example.com got the invitation in a direct message")
	})

	// From Teams to a person only in Slack.
	e.say(tAdmin, "invite bob@example.com")
	e.waitFor(chatOf(tAdmin), "bob@example.com: invited as member")
	waitForSlack(t, logs, "bob's invitation DM in Slack", func() bool { return len(slack.postsTo("DUBOB")) == 1 })
	if p := slack.postsTo("DUBOB")[0]; !strings.Contains(p.Get("blocks"), `"accept `) {
		t.Fatalf("bob's DM is not the invitation: %v", p)
	}
	e.waitFor(chatOf(tAdmin), "bob@example.com got the invitation in a direct message")

	// Where each invitation went is recorded once, on the platform that carried it.
	st, err := storage.New(e.rdb, org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	snap, err := st.Load(ctx, org.Query{Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	delivery := map[string]string{}
	for _, inv := range snap.Pending {
		delivery[inv.Email] = inv.Delivery
	}
	for email, want := range map[string]string{"carol@example.com": "teams chat", "bob@example.com": "slack direct message"} {
		if delivery[email] != want {
			t.Errorf("%s's invitation was delivered to %q, want %q", email, delivery[email], want)
		}
	}

	// Reminders: two invitations whose first reminder is due, for erin (only
	// in Slack) and dave (only in Teams); a restarted serve's scheduler sends them.
	now := time.Now().Truncate(time.Millisecond)
	created := now.Add(-49 * time.Hour)
	ch := org.Change{Now: created}
	for _, email := range []string{"erin@example.com", "dave@example.com"} {
		id := "due" + strings.TrimSuffix(email, "@example.com")
		ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: &org.Invitation{
			ID: id, Email: email, Role: org.RoleMember, Inviter: "admin@example.com",
			Created: created, Expires: created.Add(7 * 24 * time.Hour), Status: org.InvitationPending, Updated: created,
			NextRemind: now.Add(-time.Minute), Delivery: "shown to admin@example.com"}})
	}
	if err := st.Commit(ctx, ch); err != nil {
		t.Fatal(err)
	}
	vars["USHER_SCHEDULER"] = "on"
	_, logs2 := serveUsher(t, vars)
	e.logs = logs2
	e.waitFor(chatOf(tDave), "Reminder: you're invited")
	waitForSlack(t, logs2, "erin's reminder DM in Slack", func() bool { return len(slack.postsTo("DUERIN")) == 1 })
	if p := slack.postsTo("DUERIN")[0]; !strings.Contains(p.Get("text")+p.Get("blocks"), "Reminder") {
		t.Fatalf("erin's DM is not a reminder: %v", p)
	}

	// Let anything late arrive, then count: one message per person and
	// purpose, nothing on the platform that does not know them.
	time.Sleep(1500 * time.Millisecond)
	for who, want := range map[string]int{"DUBOB": 1, "DUERIN": 1, "DUADMIN": 0, "DUCAROL": 0, "DUDAVE": 0} {
		if got := len(slack.postsTo(who)); got != want {
			t.Errorf("slack DMs to %s: %d, want %d", who, got, want)
		}
	}
	if got := len(slack.responsesTo("carol")); got != 1 {
		t.Errorf("the admin was told %d times in Slack about carol, want once", got)
	}
	count := func(conv, want string) int {
		n := 0
		for _, a := range fake.Activities(conv) {
			if b, _ := json.Marshal(a.Body); strings.Contains(string(b), want) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		conv, text string
		want       int
	}{
		{chatOf(tCarol), "You're invited to", 1},
		{chatOf(tDave), "Reminder: you're invited", 1},
		{chatOf(tDave), "You're invited to", 0},
		{chatOf(tAdmin), "bob@example.com got the invitation in a direct message", 1},
		{chatOf(tAdmin), "carol@example.com got the invitation", 0}, // told in Slack, where they typed
	} {
		if got := count(c.conv, c.text); got != c.want {
			t.Errorf("%s holds %d activities with %q, want %d", c.conv, got, c.text, c.want)
		}
	}
	if n := len(fake.Activities(chatOf(tDave))); n != 1 {
		t.Errorf("dave's chat holds %d activities, want only the reminder", n)
	}
	if t.Failed() {
		t.Logf("logs of the second serve:\n%s", logs2)
	}
}

// slackCommand sends a signed slash command to a serve and returns its answer.
func slackCommand(t *testing.T, base, user, text, responseURL string) string {
	t.Helper()
	body, h := signedCommand("s3cret", user, text, responseURL)
	req, _ := http.NewRequest("POST", base+"/slack/commands", strings.NewReader(body))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("slash command %q: %d %s", text, resp.StatusCode, out)
	}
	return string(out)
}

// waitForSlack polls cond for up to 15 s.
func waitForSlack(t *testing.T, logs fmt.Stringer, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened; logs:\n%s", what, logs)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestLegacyPayloadsStillSend: jobs queued by the previous version (before
// the delivery router), still in the outbox across a deploy, are sent by the
// new one. The payloads in testdata were encoded by that version's code (its
// Slack "dm" job, its Teams job: a handlers.Delivery with Go's field names),
// with placeholders for the invitation id and the response_url. The Slack
// job reaches bob's Slack DM and its sender is told where they typed; the
// Teams job, now for carol, reaches her Teams chat and the admin is told on
// the preferred platform (Slack).
func TestLegacyPayloadsStillSend(t *testing.T) {
	srv := redistest.Shared(t)
	orgID := freshOrgID("legacy")
	slack := newSlackEdgeWith(t, map[string]string{"UADMIN": "admin@example.com", "UBOB": "bob@example.com"})
	fake := teamstest.New(t)
	for _, m := range []teamstest.Member{tAdmin, tCarol} {
		fake.AddMember(m)
	}
	vars := map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": orgID, "USHER_ADMINS": "admin@example.com", "USHER_SCHEDULER": "off",
		"USHER_SECRET":         strings.Repeat("legacy-payload-secret-", 2),
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": slack.srv.URL + "/api/",
		"MICROSOFT_APP_ID": fake.AppID, "MICROSOFT_APP_PASSWORD": fake.Secret, "MICROSOFT_APP_TENANT_ID": fake.Tenant,
		"MICROSOFT_OPENID_METADATA_URL": fake.MetadataURL(), "MICROSOFT_TOKEN_URL": fake.TokenURL(),
		"MICROSOFT_SERVICE_URL_HOSTS": "127.0.0.1",
	}
	base, logs := serveUsher(t, vars)
	e := &teamsEdge{t: t, fake: fake, base: base, logs: logs, rdb: srv.Client(t), org: orgID}
	install := fake.ActivityFrom(tCarol, chatOf(tCarol), "")
	install["type"], install["action"] = "installationUpdate", "add"
	if status, body := e.post(install, e.signed()); status != 200 {
		t.Fatalf("carol installs usher: %d %s", status, body)
	}

	// Two pending invitations, made by the use cases directly: their
	// messages were queued by the previous version (below), not now.
	ctx := context.Background()
	cfg, err := loadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	st, err := newStore(cfg, e.rdb)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newServiceOn(ctx, env{}, cfg, st, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, who := range []string{"bob@example.com", "carol@example.com"} {
		r := svc.Handle(ctx, handlers.Request{Actor: org.Identity{Platform: "test", Email: "admin@example.com"}, Text: "invite " + who})
		if r.Code != "" || len(r.Deliveries) != 1 {
			t.Fatalf("invite %s: %+v", who, r)
		}
		ids[who] = r.Deliveries[0].InvitationID
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSpace(b)
	}
	slackJob := strings.NewReplacer("INVITATION_ID", ids["bob@example.com"], "RESPONSE_URL", slack.srv.URL+"/respond/legacy").
		Replace(string(read("legacy_slack_dm_job.json")))
	teamsJob := strings.NewReplacer("INVITATION_ID", ids["carol@example.com"], "bob@example.com", "carol@example.com").
		Replace(string(read("legacy_teams_job.json")))
	ob, err := storage.NewOutbox(e.rdb, org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	ob.SealWith(cfg.secret.sealKey())
	for _, j := range []storage.Job{
		{Platform: "slack", Channel: "slack:bob@example.com", Payload: []byte(slackJob)},
		{Platform: "teams", Channel: "teams:carol@example.com", Payload: []byte(teamsJob)},
	} {
		if _, err := ob.AddLegacy(ctx, j); err != nil {
			t.Fatal(err)
		}
	}

	waitForSlack(t, logs, "bob's invitation DM from the legacy Slack job", func() bool { return len(slack.postsTo("DUBOB")) == 1 })
	if p := slack.postsTo("DUBOB")[0]; !strings.Contains(p.Get("blocks"), "accept "+ids["bob@example.com"]) {
		t.Fatalf("bob's DM: %v", p)
	}
	waitForSlack(t, logs, "the admin told where they typed", func() bool {
		rs := slack.responsesTo("legacy")
		return len(rs) == 1 && strings.Contains(rs[0], "bob@example.com got the invitation")
	})
	e.waitFor(chatOf(tCarol), "accept "+ids["carol@example.com"])
	waitForSlack(t, logs, "the admin told about carol in Slack", func() bool {
		ps := slack.postsTo("DUADMIN")
		return len(ps) == 1 && strings.Contains(ps[0].Get("text")+ps[0].Get("blocks"), "carol@example.com got the invitation")
	})
	snap, err := st.Load(ctx, org.Query{Pending: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, inv := range snap.Pending {
		if want := map[string]string{"bob@example.com": "slack direct message", "carol@example.com": "teams chat"}[inv.Email]; inv.Delivery != want {
			t.Errorf("%s's invitation delivered to %q, want %q", inv.Email, inv.Delivery, want)
		}
	}
	if stats, err := ob.Stats(ctx); err != nil || stats.Dead != 0 {
		t.Errorf("dead letters: %+v %v", stats, err)
	}
}

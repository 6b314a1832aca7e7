package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/mail/mailtest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestServeEmail runs `usher serve` with Slack (faked at its Web API) and
// SMTP_URL pointing at a real SMTP server on loopback, on a real
// redis-server. The admin is in Slack; the invitees are not.
//
//   - dana's invitation is emailed: headers, both parts, the link as the
//     call to action; the record says "emailed to …"; the admin is told it
//     was emailed, where they typed; the link opens the web accept page;
//   - erin's mail server answers 451 once: the outbox retries, and exactly
//     one message arrives;
//   - frank's answers 550: the admin gets the link to forward instead;
//   - after a restart with the scheduler on, gina's due reminder is emailed.
func TestServeEmail(t *testing.T) {
	srv := redistest.Shared(t)
	orgID := freshOrgID("email")
	smtp := mailtest.Start(t, mailtest.Options{})
	slack := newSlackEdgeWith(t, map[string]string{"UADMIN": "admin@example.com"})
	vars := map[string]string{
		"REDIS_URL": srv.URL(), "USHER_ORG": orgID, "USHER_ADMINS": "admin@example.com",
		"SLACK_SIGNING_SECRET": "s3cret", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_API_URL": slack.srv.URL + "/api/",
		"SMTP_URL": smtp.URL(), "USHER_MAIL_FROM": "usher@acme.example",
		"USHER_SECRET": strings.Repeat("email-delivery-secret-", 2), "USHER_SCHEDULER": "off",
	}
	base, logs := serveUsher(t, vars)
	if !strings.Contains(logs.String(), `"email delivery on"`) {
		t.Errorf("the start-up log does not say email is on:\n%s", logs)
	}

	answer := slackCommand(t, base, "UADMIN", "invite dana@partner.example --note \"Tom & Jerry's <intro>\"", slack.srv.URL+"/respond/dana")
	if !strings.Contains(answer, "dana@partner.example: invited as member") {
		t.Fatalf("slack answer: %s", answer)
	}
	m := smtp.WaitFor(t, "dana@partner.example")
	h := m.Header
	if from := h.Get("From"); !strings.Contains(from, "usher for ") || !strings.Contains(from, "<usher@acme.example>") {
		t.Errorf("From: %q", from)
	}
	if h.Get("To") != "<dana@partner.example>" || !strings.HasPrefix(m.Subject, "You're invited to ") ||
		!strings.HasSuffix(h.Get("Message-Id"), "@acme.example>") || h.Get("Auto-Submitted") != "auto-generated" ||
		!strings.HasPrefix(h.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("headers: %v, subject %q", h, m.Subject)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	link := regexp.MustCompile(`Accept or decline: (\S+)`).FindStringSubmatch(m.Text)
	if link == nil || !strings.HasPrefix(link[1], base+"/invitations/") {
		t.Fatalf("no link to the accept page in the text part:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+link[1]+`"`) || !strings.Contains(m.HTML, "Tom &amp; Jerry&#39;s") || strings.Contains(m.HTML, "Tom & Jerry") {
		t.Errorf("HTML part (link, escaped note):\n%s", m.HTML)
	}
	if strings.Contains(m.Text+m.HTML, "accept inv") {
		t.Error("a chat button's command is in the email")
	}
	waitForSlack(t, logs, "the admin told dana was emailed", func() bool {
		rs := slack.responsesTo("dana")
		return len(rs) == 1 && strings.Contains(rs[0], "dana@partner.example was emailed the invitation")
	})
	resp, err := http.Get(link[1])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "/accept") {
		t.Errorf("the emailed link: %d\n%s", resp.StatusCode, page)
	}

	// 451 once: retried by the outbox, one message in the end.
	smtp.FailNext(mailtest.Rcpt, 451, 1)
	slackCommand(t, base, "UADMIN", "invite erin@partner.example", slack.srv.URL+"/respond/erin")
	smtp.WaitFor(t, "erin@partner.example")
	// 550: the admin gets the link to forward.
	smtp.FailNext(mailtest.Rcpt, 550, 1)
	slackCommand(t, base, "UADMIN", "invite frank@partner.example", slack.srv.URL+"/respond/frank")
	waitForSlack(t, logs, "the admin told to forward frank's link", func() bool {
		rs := slack.responsesTo("frank")
		return len(rs) == 1 && strings.Contains(rs[0], "couldn't deliver the invitation. Forward them this link") && strings.Contains(rs[0], "/invitations/")
	})
	waitForSlack(t, logs, "the admin told erin was emailed", func() bool { return len(slack.responsesTo("erin")) == 1 })

	st, err := storage.New(srv.Client(t), org.ID(orgID))
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
	for email, want := range map[string]string{"dana@partner.example": "emailed to dana@partner.example",
		"erin@partner.example": "emailed to erin@partner.example", "frank@partner.example": "shown to admin@example.com"} {
		if delivery[email] != want {
			t.Errorf("%s's invitation: delivery %q, want %q", email, delivery[email], want)
		}
	}

	// A due reminder for gina, who is in no chat, sent by a restarted
	// serve's scheduler.
	now := time.Now().Truncate(time.Millisecond)
	created := now.Add(-49 * time.Hour)
	if err := st.Commit(ctx, org.Change{Now: created, Invitations: []org.InvitationWrite{{Invitation: &org.Invitation{
		ID: "duegina", Email: "gina@partner.example", Role: org.RoleMember, Inviter: "admin@example.com",
		Created: created, Expires: created.Add(7 * 24 * time.Hour), Status: org.InvitationPending, Updated: created,
		NextRemind: now.Add(-time.Minute), Delivery: "emailed to gina@partner.example"}}}}); err != nil {
		t.Fatal(err)
	}
	vars["USHER_SCHEDULER"] = "on"
	_, logs2 := serveUsher(t, vars)
	r := smtp.WaitFor(t, "gina@partner.example")
	if !strings.HasPrefix(r.Subject, "Reminder: you're invited to ") || !strings.Contains(r.Text, "Reminder 1 of") {
		t.Errorf("gina's reminder: %q\n%s", r.Subject, r.Text)
	}

	// Let anything late arrive, then count: one message each, none to frank,
	// nothing in Slack DMs.
	time.Sleep(2500 * time.Millisecond)
	count := map[string]int{}
	for _, m := range smtp.Messages() {
		for _, to := range m.To {
			count[to]++
		}
	}
	for who, want := range map[string]int{"dana@partner.example": 1, "erin@partner.example": 1, "frank@partner.example": 0, "gina@partner.example": 1} {
		if count[who] != want {
			t.Errorf("%d messages to %s, want %d", count[who], who, want)
		}
	}
	if n := len(slack.responsesTo("erin")); n != 1 {
		t.Errorf("the admin was told %d times about erin, want once", n)
	}
	if errs := smtp.Errors(); len(errs) > 0 {
		t.Error(errs)
	}
	if t.Failed() {
		t.Logf("logs:\n%s\nsecond serve:\n%s", logs, logs2)
	}
}

// TestServeEmailConfig: a bad SMTP_URL or a missing USHER_MAIL_FROM stops
// serve with a message saying what to fix, without the password.
func TestServeEmailConfig(t *testing.T) {
	for _, tc := range []struct{ url, from, want string }{
		{"smtp://u:hunter22@mail.example.com:25?starttls=off", "usher@acme.example", "not a loopback host"},
		{"smtps://u:hunter22@mail.example.com", "", "USHER_MAIL_FROM is not set"},
		{"imap://u:hunter22@mail.example.com", "usher@acme.example", `SMTP_URL: unknown scheme "imap"`},
	} {
		_, err := loadConfig(func(k string) string {
			return map[string]string{"SMTP_URL": tc.url, "USHER_MAIL_FROM": tc.from}[k]
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter22") {
			t.Errorf("SMTP_URL=%s USHER_MAIL_FROM=%s: %v, want %q without the password", tc.url, tc.from, err, tc.want)
		}
	}
}

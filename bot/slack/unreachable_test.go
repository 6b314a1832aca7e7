package slack_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	slackLink   = regexp.MustCompile(`https://usher\.test/invitations/([A-Za-z0-9_-]{43})`)
	awayAddress = regexp.MustCompile(`away\d+@example\.com`)
)

// finalUpdate waits for the progress message's chat.update that contains
// want, returning it with every call seen meanwhile.
func (e *env) finalUpdate(want string) (apiCall, []apiCall) {
	e.t.Helper()
	var calls []apiCall
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		calls = append(calls, e.slack.Calls()...)
		for _, c := range calls {
			if c.Method == "chat.update" && strings.Contains(c.Form.Get("text"), want) {
				time.Sleep(100 * time.Millisecond) // anything after the final edit would come now
				return c, append(calls, e.slack.Calls()...)
			}
		}
	}
	e.t.Fatalf("no chat.update with %q; calls %v\nlogs:\n%s", want, methods(calls), e.logs)
	return apiCall{}, nil
}

// clickFor clicks, as user, the button labelled label of Block Kit blocks
// (a message at channel, ts) and returns usher's answer to the click.
func (e *env) clickFor(user fakeUser, channel, ts string, blocks []byte, label string) respondPost {
	e.t.Helper()
	v, ok := buttons(e.t, blocks)[label]
	if !ok {
		e.t.Fatalf("no %q button in %s", label, blocks)
	}
	actionID, value, _ := strings.Cut(v, "=")
	if status, body := e.click(user, channel, ts, actionID, value, false); status != 200 {
		e.t.Fatalf("click %s: %d %s", label, status, body)
	}
	var got []apiCall
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		e.drain()
		got = append(got, e.slack.Calls()...)
		for _, c := range got {
			if c.Method == "respond:click-"+user.ID {
				return respondOf(e.t, c)
			}
		}
	}
	e.t.Fatalf("no answer to the click on %s: %v", label, methods(got))
	return respondPost{}
}

// TestBulkUnreachableShowTheirLinks: a bulk of 100, 30 of whom are in no
// Slack (and usher sends no email). The admin gets the progress message
// and nothing else: no notice per person. Its final edit says 30 and
// carries Show their links, which answers 15 a page with fresh links; one
// of them accepts through the web path. A member clicking the same button
// gets no link. Both messages are kept as golden Block Kit.
func TestBulkUnreachableShowTheirLinks(t *testing.T) {
	e := newEnv(t)
	e.join(uBob)
	var list []string
	e.slack.mu.Lock()
	for i := range 70 {
		u := fakeUser{ID: fmt.Sprintf("UL%02d", i), Email: fmt.Sprintf("l%02d@example.com", i), Name: fmt.Sprintf("L%02d", i)}
		e.slack.users[u.ID] = u
		list = append(list, u.Email)
	}
	e.slack.mu.Unlock()
	for i := range 30 {
		list = append(list, fmt.Sprintf("away%02d@example.com", i))
	}
	if status, body := e.command(uAdmin, "invite "+strings.Join(list, "\n")+" --force"); status != 200 || !strings.Contains(string(body), "Invited 100 of 100 addresses") {
		t.Fatalf("answer %d: %s", status, body)
	}
	e.drain()
	final, calls := e.finalUpdate("All 100")
	if want := "Bulk invitation: All 100 invitations delivered or reported: 70 delivered, 30 not in chat: use Show their links."; final.Form.Get("text") != want {
		t.Errorf("final progress %q, want %q", final.Form.Get("text"), want)
	}
	toAdmin := 0
	for _, c := range calls {
		text := c.Form.Get("text")
		if s, ok := c.JSON["text"].(string); ok {
			text = s
		}
		if c.Method == "chat.postMessage" && c.Form.Get("channel") == uAdmin.ID || strings.HasPrefix(c.Method, "respond:") {
			toAdmin++
			if !strings.HasPrefix(text, "Bulk invitation: 0 of 100") {
				t.Errorf("the admin was sent more than the progress message: %s %q", c.Method, text)
			}
		}
	}
	if toAdmin != 1 {
		t.Errorf("%d messages to the admin, want the progress message only", toAdmin)
	}
	blocks := []byte(final.Form.Get("blocks"))
	golden(t, "progress_unreachable_final", mustJSON(t, map[string]any{"text": final.Form.Get("text"), "blocks": json.RawMessage(blocks)}))

	// Show their links, page by page.
	links := map[string]string{} // address -> token
	page := e.clickFor(uAdmin, final.Form.Get("channel"), final.Form.Get("ts"), blocks, "Show their links")
	for n := 1; ; n++ {
		if page.ReplaceOriginal {
			t.Errorf("page %d replaced the progress message", n)
		}
		if !strings.Contains(page.Text, fmt.Sprintf("Page %d of 2 · 30 people of bulk invitation", n)) {
			t.Fatalf("page %d: %q", n, page.Text)
		}
		rows := 0
		for _, m := range slackLink.FindAllStringSubmatchIndex(string(page.Blocks), -1) {
			before := string(page.Blocks)[:m[0]]
			addrs := awayAddress.FindAllString(before, -1)
			links[addrs[len(addrs)-1]] = string(page.Blocks)[m[2]:m[3]]
			rows++
		}
		if rows != 15 {
			t.Errorf("page %d: %d links, want 15", n, rows)
		}
		if n == 1 {
			golden(t, "respond_unreachable_page_1", scrubLinks(mustJSON(t, page)))
		}
		if n == 2 {
			break
		}
		page = e.clickFor(uAdmin, "DUADMIN", "1.0", page.Blocks, "Next")
	}
	if len(links) != 30 {
		t.Fatalf("%d distinct people with links, want 30", len(links))
	}
	if _, err := e.svc.AcceptWithToken(t.Context(), links["away07@example.com"], "Seven", "a long enough password 7"); err != nil {
		t.Fatalf("accept with the link from Show their links: %v", err)
	}

	// A member gets no link from the same button.
	denied := e.clickFor(uBob, final.Form.Get("channel"), final.Form.Get("ts"), blocks, "Show their links")
	if slackLink.MatchString(denied.Text+string(denied.Blocks)) || !strings.Contains(denied.Text, "Only admins") {
		t.Errorf("a member's click: %+v", denied)
	}
}

// join makes u a member of e's organization (invited and accepted).
func (e *env) join(u fakeUser) {
	e.t.Helper()
	if status, body := e.command(uAdmin, "invite "+u.Email); status != 200 {
		e.t.Fatalf("%d %s", status, body)
	}
	e.drain()
	var accept string
	for _, m := range e.slack.Messages("D" + u.ID) {
		if v, ok := buttons(e.t, m.Blocks)["Accept"]; ok {
			accept = v
		}
	}
	if accept == "" {
		e.t.Fatalf("no invitation for %s", u.Email)
	}
	_, value, _ := strings.Cut(accept, "=")
	if status, body := e.command(u, value); status != 200 || !strings.Contains(string(body), "Welcome") {
		e.t.Fatalf("%s accepts: %d %s", u.Email, status, body)
	}
	e.drain()
	e.slack.Calls()
}

// scrubLinks makes a links page comparable across runs: the tokens are
// random and the order people settled in is the workers'.
func scrubLinks(raw []byte) []byte {
	raw = slackLink.ReplaceAll(raw, []byte("https://usher.test/invitations/TOKEN"))
	raw = awayAddress.ReplaceAll(raw, []byte("awayNN@example.com"))
	return regexp.MustCompile(`ID\*\\n[a-z0-9]{8}|ID: [a-z0-9]{8}`).ReplaceAllFunc(raw, func(b []byte) []byte {
		return append(b[:len(b)-8:len(b)-8], "INVITATN"...)
	})
}

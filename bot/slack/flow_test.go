package slack_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

type ephemeral struct {
	ResponseType string          `json:"response_type"`
	Text         string          `json:"text"`
	Blocks       json.RawMessage `json:"blocks"`
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, raw)
	}
	return v
}

// respondPost is a post to a response_url.
type respondPost struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
}

func find(calls []apiCall, method string) []apiCall {
	var out []apiCall
	for _, c := range calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func respondOf(t *testing.T, c apiCall) respondPost {
	t.Helper()
	raw, _ := json.Marshal(c.JSON)
	return decode[respondPost](t, raw)
}

// TestInviteEndToEnd: an admin invites bob with /usher; the answer is an
// ephemeral message in the HTTP response; the outbox worker finds bob by
// email, opens a DM and posts the invitation with Accept/Decline; the admin
// is told where it went; bob clicks Accept (a signed interaction); his
// message is replaced in place and the admin gets a DM.
func TestInviteEndToEnd(t *testing.T) {
	e := newEnv(t)
	status, body := e.command(uAdmin, "invite <mailto:bob@example.com|bob@example.com> --note 'Welcome &amp; &lt;hello&gt;'")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	ans := decode[ephemeral](t, body)
	if ans.ResponseType != "ephemeral" || !strings.Contains(ans.Text, "bob@example.com: invited as member") {
		t.Fatalf("answer: %+v", ans)
	}
	if got := methods(e.slack.Calls()); !slices.Equal(got, []string{"users.info"}) {
		t.Fatalf("before the answer usher may only ask who the admin is; it called %v", got)
	}
	// The queued DM carries the link, whose token Redis may keep only as a
	// hash: the outbox holds it sealed (storage/seal.go).
	queued, err := e.rdb.XRange(context.Background(), "usher:{"+e.org+"}:outbox2", "-", "+").Result()
	if err != nil || len(queued) != 1 {
		t.Fatalf("queued: %v, %v", queued, err)
	}
	if p := queued[0].Values["payload"].(string); strings.Contains(p, "invitations/") || !strings.HasPrefix(p, "sealed1:") {
		t.Fatalf("the queued invitation is stored in the clear: %.200s", p)
	}

	e.drain()
	calls := e.slack.Calls()
	if got := methods(calls); !slices.Equal(got, []string{"users.lookupByEmail", "chat.postMessage", "respond:cmd-UADMIN"}) {
		t.Fatalf("delivery calls: %v", got)
	}
	if c := calls[0]; c.Form.Get("email") != "bob@example.com" {
		t.Fatalf("lookup: %v", c.Form)
	}
	post := calls[1]
	if post.Form.Get("channel") != "UBOB" {
		t.Fatalf("posted to %q, want bob's user id (his DM with the app)", post.Form.Get("channel"))
	}
	if !strings.Contains(post.Form.Get("metadata"), `"usher_message"`) {
		t.Fatalf("message without usher metadata: %s", post.Form.Get("metadata"))
	}
	btn := buttons(t, []byte(post.Form.Get("blocks")))
	accept, decline := btn["Accept"], btn["Decline"]
	if !strings.Contains(accept, "=accept ") || !strings.Contains(decline, "=decline ") {
		t.Fatalf("invitation buttons: %v", btn)
	}
	told := respondOf(t, calls[2])
	if told.ResponseType != "ephemeral" || told.ReplaceOriginal || !strings.Contains(told.Text, "bob@example.com got the invitation in a direct message") {
		t.Fatalf("inviter told: %+v", told)
	}

	// Where it went is recorded on the invitation.
	_, body = e.command(uAdmin, "invitations")
	if !strings.Contains(string(body), "slack direct message") {
		t.Fatalf("delivery not recorded: %s", body)
	}

	// Carol clicks bob's Accept: refused, to her alone, naming no one; the message stays.
	msgTS := e.slack.Messages("DUBOB")[0].TS
	actionID, value, _ := strings.Cut(accept, "=")
	if status, body := e.click(uCarol, "DUBOB", msgTS, actionID, value, false); status != 200 || len(body) != 0 {
		t.Fatalf("click answer: %d %q", status, body)
	}
	e.drain()
	calls = e.slack.Calls()
	if got := methods(calls); !slices.Equal(got, []string{"users.info", "respond:click-UCAROL"}) {
		t.Fatalf("carol's click: %v", got)
	}
	if r := respondOf(t, calls[1]); r.ReplaceOriginal || r.ResponseType != "ephemeral" || !strings.Contains(r.Text, "You have no pending invitation") || strings.Contains(r.Text, "bob@") {
		t.Fatalf("carol's answer: %+v", r)
	}

	// Bob accepts: his message is replaced, the admin gets a DM.
	e.click(uBob, "DUBOB", msgTS, actionID, value, false)
	e.drain()
	calls = e.slack.Calls()
	if got := methods(calls); !slices.Equal(got, []string{"users.info", "respond:click-UBOB", "users.lookupByEmail", "chat.postMessage"}) {
		t.Fatalf("bob's click: %v", got)
	}
	replaced := respondOf(t, calls[1])
	if !replaced.ReplaceOriginal || len(buttons(t, replaced.Blocks)) != 0 {
		t.Fatalf("bob's message must be replaced without buttons: %+v", replaced)
	}
	golden(t, "accepted_replace", calls[1].rawJSON(t))
	if calls[3].Form.Get("channel") != "UADMIN" || !strings.Contains(calls[3].Form.Get("text"), "bob@example.com accepted") {
		t.Fatalf("inviter DM: %v", calls[3].Form)
	}

	// A double click (the same payload again) posts nothing more.
	e.click(uBob, "DUBOB", msgTS, actionID, value, false)
	e.drain()
	if got := methods(e.slack.Calls()); len(got) != 0 {
		t.Fatalf("double click made calls: %v", got)
	}
	if strings.Contains(e.logs.String(), "usher.test/invitations/") {
		t.Fatalf("a link leaked into the logs:\n%s", e.logs.String())
	}
}

func (c apiCall) rawJSON(t *testing.T) []byte {
	raw, err := json.Marshal(c.JSON)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

package slack_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// addUser adds a person to the fake Slack workspace.
func (f *fakeSlack) addUser(u fakeUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.ID] = u
}

// TestInviteModalPermissions: /usher invite with no arguments opens the
// form only for people who may invite, listing only the workspaces they may
// give: every one for an admin, their own for a member when anyone-can-invite
// is on. Everyone else (a member or viewer while it is off, a deactivated
// user, someone with no account, a guest without an email) gets a clear
// refusal, no views.open, and no workspace name.
func TestInviteModalPermissions(t *testing.T) {
	e := newEnv(t)
	uDave := fakeUser{ID: "UDAVE", Email: "dave@example.com", Name: "Dave"}
	uErin := fakeUser{ID: "UERIN", Email: "erin@example.com", Name: "Erin"}
	e.slack.addUser(uDave)
	e.slack.addUser(uErin)
	e.command(uAdmin, "workspace create atlas")
	e.command(uAdmin, "workspace create zephyr")
	join := func(u fakeUser, args string) {
		t.Helper()
		e.command(uAdmin, "invite "+u.Email+" "+args)
		e.drain()
		inv := e.slack.Messages("D" + u.ID)
		_, v, _ := strings.Cut(buttons(t, inv[len(inv)-1].Blocks)["Accept"], "=")
		e.command(u, v)
		e.drain()
	}
	join(uBob, "--role member --workspace zephyr")
	join(uCarol, "--role viewer")
	join(uDave, "--role member --workspace atlas")
	e.command(uAdmin, "deactivate dave@example.com --confirm")
	e.drain()

	n := 0
	open := func(u fakeUser) (calls []apiCall, answer string) {
		t.Helper()
		e.slack.Calls()
		n++
		status, body := e.commandAs(u, "/usher", "invite", "trig-form-"+strings.Repeat("x", n))
		if status != 200 {
			t.Fatalf("%s: status %d", u.Name, status)
		}
		return e.slack.Calls(), string(body)
	}
	cases := []struct {
		name    string
		user    fakeUser
		setting string   // anyone-can-invite, set first
		spaces  []string // nil: refused
		refusal string
	}{
		{"admin", uAdmin, "off", []string{"atlas", "zephyr"}, ""},
		{"member, invite off", uBob, "off", nil, "Only admins can invite people"},
		{"member, invite on", uBob, "on", []string{"zephyr"}, ""},
		{"viewer, invite off", uCarol, "off", nil, "Only admins can invite people"},
		{"viewer, invite on", uCarol, "on", []string{}, ""},
		{"deactivated", uDave, "on", nil, "deactivated"},
		{"no account", uErin, "on", nil, "not a member"},
		{"guest without email", uGuest, "on", nil, "can't tell who you are"},
	}
	for _, c := range cases {
		if _, body := e.command(uAdmin, "settings anyone-can-invite "+c.setting); !strings.Contains(string(body), "anyone-can-invite") {
			t.Fatalf("settings: %s", body)
		}
		calls, answer := open(c.user)
		var views []apiCall
		for _, call := range calls {
			if call.Method == "views.open" {
				views = append(views, call)
			}
		}
		if c.spaces == nil {
			if len(views) != 0 || !strings.Contains(answer, c.refusal) {
				t.Errorf("%s: want the refusal %q and no form; got views.open %d, answer %s", c.name, c.refusal, len(views), answer)
			}
			for _, w := range []string{"atlas", "zephyr"} {
				if strings.Contains(answer, w) {
					t.Errorf("%s: the refusal names workspace %s: %s", c.name, w, answer)
				}
			}
			continue
		}
		if len(views) != 1 || answer != "" {
			t.Errorf("%s: want the form; got views.open %d, answer %q", c.name, len(views), answer)
			continue
		}
		raw := string(mustJSON(t, views[0].JSON["view"]))
		for _, w := range []string{"atlas", "zephyr"} {
			want := false
			for _, s := range c.spaces {
				want = want || s == w
			}
			if got := strings.Contains(raw, `"value":"`+w+`"`); got != want {
				t.Errorf("%s: workspace %s offered %v, want %v", c.name, w, got, want)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

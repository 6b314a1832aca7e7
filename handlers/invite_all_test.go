package handlers_test

import (
	"strings"
	"testing"
)

// `--workspace all` is every workspace the organization has at invite time,
// with the invited role's default or the role given after it (issue 14).
func TestInviteToAllWorkspaces(t *testing.T) {
	e := newEnv(t)
	for _, ws := range []string{"fraud-models", "risk", "billing"} {
		e.ok(boss, "workspace create "+ws)
	}
	id, _ := e.invite(boss, "a@example.com", "--workspace", "all")
	if got := e.invitation(id).Workspaces.Encode(); got != "billing:editor,fraud-models:editor,risk:editor" {
		t.Errorf("--workspace all gave %s", got)
	}
	id, _ = e.invite(boss, "b@example.com", "--workspace", "ALL:reader")
	if got := e.invitation(id).Workspaces.Encode(); got != "billing:reader,fraud-models:reader,risk:reader" {
		t.Errorf("--workspace all:reader gave %s", got)
	}
	id, _ = e.invite(boss, "c@example.com", "--role", "viewer", "--workspace", "all:manager")
	if got := e.invitation(id).Workspaces.Encode(); got != "billing:reader,fraud-models:reader,risk:reader" {
		t.Errorf("a viewer invited to all as manager gave %s, want readers", got)
	}
	for _, tt := range []struct{ cmd, want string }{
		{"invite d@example.com --workspace all --workspace risk", "can't be combined with risk"},
		{"invite d@example.com --workspace all:owner", "owner"},
		{"workspace create all", "`invite --workspace all` means every workspace"},
		{"workspace rename risk All", "`invite --workspace all` means every workspace"},
	} {
		if r := e.run(boss, tt.cmd); r.Code == "" || !strings.Contains(r.Text, tt.want) {
			t.Errorf("%s: %q (code %q), want a refusal saying %q", tt.cmd, r.Text, r.Code, tt.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestShellGoldenOrgs runs a session across two organizations of one
// embedded deployment: `:org acme` creates acme with the current person as
// its admin, and each organization keeps its own people and invitations.
func TestShellGoldenOrgs(t *testing.T) {
	out := runShellScript(t, "testdata/session_orgs.txt", map[string]string{"USHER_ADMINS": "alice@example.com"})
	if !strings.HasPrefix(out, "usher shell: using an embedded in-process Redis (miniredis)") {
		t.Fatalf("the shell does not say it runs on the embedded store:\n%s", out)
	}
	golden(t, "session_orgs.golden", withoutBanner(out))
}

// TestShellOrgRealRedis: against a real Redis the shell switches to the
// organizations the operator created, and refuses an unknown one with the
// command that creates it, creating nothing.
func TestShellOrgRealRedis(t *testing.T) {
	srv := redistest.Shared(t)
	home, other, missing := freshOrgID("shell-home"), freshOrgID("shell-other"), freshOrgID("shell-missing")
	vars := map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": home, "USHER_ADMINS": "alice@example.com"}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), env{
		args:   []string{"org", "create", "Other Co", "--id", other, "--admin", "bob@example.com"},
		getenv: func(k string) string { return vars[k] }, stdout: &out, stderr: &errOut,
	}); err != nil {
		t.Fatalf("org create: %v\n%s", err, errOut.String())
	}
	script := filepath.Join(t.TempDir(), "orgs.txt")
	lines := []string{
		":org " + missing,
		":org \"Other Co\"",
		"/usher members",
		":as bob@example.com",
		"/usher members",
		":org " + home,
		"/usher members",
	}
	if err := os.WriteFile(script, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := runShellScript(t, script, vars)
	for _, want := range []string{
		"  ✗ There is no organization " + missing + " in this deployment. An operator creates it with `usher org create " + missing + " --admin EMAIL`",
		"  You are now in organization " + other + ".\n[" + other + "] alice@example.com> /usher members\n[to alice@example.com] ✗ You are not a member of Other Co yet.",
		"[" + other + "] bob@example.com> /usher members\n[to bob@example.com] Members of Other Co\n  1 member.\n  • bob@example.com — admin",
		// Refused, or (when another organization on the shared Redis invited
		// bob: the bell) refused with that invitation offered.
		"  You are now in organization " + home + " (the default).\nbob@example.com> /usher members\n[to bob@example.com] ",
		"You are not a member of your organization yet",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the session does not show\n%s\n--- session ---\n%s", want, got)
		}
	}
	if strings.Contains(got, "Created organization") {
		t.Errorf("the shell created an organization on a real Redis:\n%s", got)
	}
	if _, found, err := storage.NewDirectory(srv.Client(t)).Get(context.Background(), org.ID(missing)); err != nil || found {
		t.Errorf("directory has %s: %v, %v", missing, found, err)
	}
}

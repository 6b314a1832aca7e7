package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// shellOn runs `usher shell` on a real Redis with script as its input and
// returns what it printed and logged.
func shellOn(t *testing.T, vars map[string]string, script string) (out, logs string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), env{args: []string{"shell"}, getenv: func(k string) string { return vars[k] },
		stdin: strings.NewReader(script), stdout: &stdout, stderr: &stderr})
	if err != nil {
		t.Fatalf("shell: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// TestUSHERAdminsNeverUndoesAChangeMadeInChat: USHER_ADMINS creates the
// admins that are missing, at every start, but someone an admin demoted or
// deactivated in chat stays so after a restart, and the skip is logged with
// a hint. `usher admin add EMAIL` refuses too; with --force it restores them.
func TestUSHERAdminsNeverUndoesAChangeMadeInChat(t *testing.T) {
	srv := redistest.Shared(t)
	vars := map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "envadmins", "USHER_ADMINS": "a@example.com,b@example.com,c@example.com"}
	out, _ := shellOn(t, vars, ":as b@example.com\n/usher role a@example.com member --confirm\n/usher deactivate c@example.com --confirm\n")
	if !strings.Contains(out, "a@example.com is now member") || !strings.Contains(out, "deactivated") {
		t.Fatalf("the demotion in chat did not happen:\n%s", out)
	}

	// Restart, with one more admin in the list.
	vars["USHER_ADMINS"] += ",d@example.com"
	_, logs := shellOn(t, vars, ":as b@example.com\n")
	t.Logf("logged at the restart:\n%s", logs)
	st, err := storage.New(srv.Client(t), "envadmins")
	if err != nil {
		t.Fatal(err)
	}
	emails := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"}
	snap, err := st.Load(t.Context(), org.Query{Users: emails})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a@example.com": "active member", "b@example.com": "active admin", "c@example.com": "deactivated admin", "d@example.com": "active admin"}
	for _, e := range emails {
		u := snap.Users[e]
		if u == nil {
			t.Errorf("%s: missing after the restart, want %s", e, want[e])
			continue
		}
		if got := string(u.Status) + " " + string(u.Role); got != want[e] {
			t.Errorf("%s is %s after the restart, want %s (as left in chat)", e, got, want[e])
		}
	}
	for _, e := range []string{"a@example.com", "c@example.com"} {
		if !strings.Contains(logs, "email="+e) || !strings.Contains(logs, "admin add "+e+" --force") {
			t.Errorf("the skip of %s was not logged with a hint:\n%s", e, logs)
		}
	}

	// The operator's own command refuses as well, unless forced.
	adminVars := map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "envadmins"}
	if out, err := runCmd(t, adminVars, "admin", "add", "a@example.com"); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("admin add of a demoted admin: %v\n%s, want a refusal naming --force", err, out)
	}
	if out, err := runCmd(t, adminVars, "admin", "add", "c@example.com", "--force"); err != nil || !strings.Contains(out, "again") {
		t.Fatalf("admin add --force: %v\n%s", err, out)
	}
	snap, err = st.Load(t.Context(), org.Query{Users: []string{"a@example.com", "c@example.com"}, AuditLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Users["c@example.com"].IsActiveAdmin() || snap.Users["a@example.com"].IsActiveAdmin() {
		t.Fatalf("after --force for c only: a %+v, c %+v", snap.Users["a@example.com"], snap.Users["c@example.com"])
	}
	if e := snap.Audit[0]; e.Actor != "operator" || e.Target != "c@example.com" || !strings.HasPrefix(e.Before, "deactivated") || !strings.Contains(e.Detail, "forced") {
		t.Fatalf("the forced change is not audited as the operator's: %+v", e)
	}
}

package main

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// The directory is deployment-wide: each test here has a redis-server of its
// own, so other tests' organizations do not show in its lists and counts.

// keysOf counts the keys under each organization's hash tag.
func keysOf(t *testing.T, rdb redis.UniversalClient) map[string]int {
	t.Helper()
	keys, err := rdb.Keys(context.Background(), "usher:{*").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, k := range keys {
		tag := k[len("usher:{"):strings.IndexByte(k, '}')]
		n[tag]++
	}
	return n
}

func mustRun(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	out, err := runCmd(t, vars, args...)
	if err != nil {
		t.Fatalf("usher %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestOrgCommands walks every `usher org` subcommand on one deployment:
// the default organization registered on first use, two organizations
// created with tenants (ids acme and acme-2, one a prefix of the other), a
// tenant refused because another has it, show and list, and a delete that
// takes exactly one organization's keys.
func TestOrgCommands(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	vars := map[string]string{"REDIS_URL": srv.URL()} // USHER_ORG unset: "default"

	out := mustRun(t, vars, "org", "list")
	if !regexp.MustCompile(`(?m)^default \(default\)\s+default\s+-\s+-\s+\d{4}-\d\d-\d\d$`).MatchString(out) || !strings.Contains(out, "1 organization(s).") {
		t.Fatalf("list on a deployment from before the directory must show USHER_ORG:\n%s", out)
	}

	out = mustRun(t, vars, "org", "create", "Acme Corp", "--admin", "Ann@Example.com", "--slack-team", "T0ACME", "--teams-tenant", "AAAA-1111")
	if !strings.Contains(out, `Created organization acme-corp ("Acme Corp") with Ann@example.com as its first active admin`) ||
		!strings.Contains(out, "linked slack team T0ACME") || !strings.Contains(out, "linked teams tenant aaaa-1111") {
		t.Fatalf("create:\n%s", out)
	}
	st, _ := storage.New(rdb, "acme-corp")
	snap, err := st.Load(ctx, org.Query{Users: []string{"ann@example.com"}, AuditLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Settings.Name != "Acme Corp" || !snap.Users["ann@example.com"].IsActiveAdmin() || snap.Users["ann@example.com"].Spelling != "Ann@example.com" ||
		len(snap.Audit) != 2 || snap.Audit[0].Actor != "operator" {
		t.Fatalf("acme-corp after create: name %q, ann %+v, audit %+v", snap.Settings.Name, snap.Users["ann@example.com"], snap.Audit)
	}

	// Refusals name what is wrong and change nothing.
	if _, err := runCmd(t, vars, "org", "create", "ACME corp!", "--admin", "b@example.com"); org.ErrorCode(err) != org.CodeConflict || !strings.Contains(err.Error(), "acme-corp already exists") {
		t.Fatalf("create the same id again: %v", err)
	}
	_, err = runCmd(t, vars, "org", "create", "Acme", "--id", "acme", "--admin", "a@example.com", "--slack-team", "T0NEW,T0ACME")
	if org.ErrorCode(err) != org.CodeConflict || !strings.Contains(err.Error(), "slack team T0ACME is already linked to organization acme-corp") {
		t.Fatalf("create with a taken tenant: %v", err)
	}
	if n := keysOf(t, rdb)["acme"]; n != 0 {
		t.Fatalf("a refused create wrote %d keys", n)
	}
	if _, found, _ := storage.NewDirectory(rdb).Resolve(ctx, org.SlackTenant("", "T0NEW")); found {
		t.Fatal("a refused create linked part of its tenants")
	}

	mustRun(t, vars, "org", "create", "Acme", "--id", "acme", "--admin", "a@example.com")
	mustRun(t, vars, "org", "create", "Acme Two", "--id", "acme-2", "--admin", "b@example.com", "--slack-team", "T0TWO")
	if _, err := runCmd(t, vars, "org", "link", "acme", "--slack-team", "T0TWO"); org.ErrorCode(err) != org.CodeConflict || !strings.Contains(err.Error(), "linked to organization acme-2") {
		t.Fatalf("link a taken team: %v", err)
	}
	out = mustRun(t, vars, "org", "link", "acme", "--slack-enterprise", "E0GRID", "--teams-tenant", "bbbb-2222")
	if !strings.Contains(out, "Linked slack enterprise E0GRID (every workspace) to organization acme.") || !strings.Contains(out, "Linked teams tenant bbbb-2222 to organization acme.") {
		t.Fatalf("link:\n%s", out)
	}
	mustRun(t, vars, "org", "link", "acme", "--teams-tenant", "BBBB-2222") // again: a no-op
	if _, err := runCmd(t, vars, "org", "link", "nobody", "--slack-team", "T0X"); org.ErrorCode(err) != org.CodeNotFound {
		t.Fatalf("link to a missing org: %v", err)
	}
	// Routing will resolve tenants this way (issue 13, item 3).
	for tn, want := range map[org.Tenant]org.ID{org.SlackTenant("E0GRID", "T0ANY"): "acme", org.SlackTenant("E0GRID", "T0TWO"): "acme-2", org.TeamsTenant("aaaa-1111"): "acme-corp"} {
		if id, _, _ := storage.NewDirectory(rdb).Resolve(ctx, tn); id != want {
			t.Errorf("%s resolves to %q, want %q", tn, id, want)
		}
	}

	out = mustRun(t, vars, "org", "show", "acme")
	for _, want := range []string{"id:        acme\n", "name:      Acme\n", "platforms: slack, teams\n", "people:    1\n", "  slack enterprise E0GRID (every workspace)\n", "  teams tenant bbbb-2222\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("show acme lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun(t, vars, "org", "show", "default"); !strings.Contains(out, "(the default organization, USHER_ORG)") || !strings.Contains(out, "  (none)") {
		t.Errorf("show default:\n%s", out)
	}
	if _, err := runCmd(t, vars, "org", "show", "nobody"); org.ErrorCode(err) != org.CodeNotFound {
		t.Fatalf("show a missing org: %v", err)
	}
	out = mustRun(t, vars, "org", "list")
	var ids []string
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && !strings.HasSuffix(line, "organization(s).") {
			ids = append(ids, f[0])
		}
	}
	if strings.Join(ids, " ") != "acme acme-2 acme-corp default" || !strings.Contains(out, "4 organization(s).") {
		t.Fatalf("list: %v\n%s", ids, out)
	}

	// Delete: refused while it has people; then exactly acme's keys go.
	if _, err := runCmd(t, vars, "org", "delete", "acme"); org.ErrorCode(err) != org.CodeConflict || !strings.Contains(err.Error(), "has 1 people; nothing was deleted") {
		t.Fatalf("delete without --confirm: %v", err)
	}
	if _, err := runCmd(t, vars, "org", "delete", "default", "--confirm"); org.ErrorCode(err) != org.CodeForbidden {
		t.Fatalf("delete USHER_ORG: %v", err)
	}
	before := keysOf(t, rdb)
	out = mustRun(t, vars, "org", "delete", "acme", "--confirm")
	if !strings.Contains(out, "Deleted organization acme: 1 people,") {
		t.Fatalf("delete:\n%s", out)
	}
	after := keysOf(t, rdb)
	if after["acme"] != 0 || after["acme-2"] != before["acme-2"] || after["acme-corp"] != before["acme-corp"] || after["default"] != before["default"] {
		t.Fatalf("keys before %v, after deleting acme %v", before, after)
	}
	if _, found, _ := storage.NewDirectory(rdb).Resolve(ctx, org.TeamsTenant("bbbb-2222")); found {
		t.Fatal("acme's tenant still resolves")
	}
	if id, _, _ := storage.NewDirectory(rdb).Resolve(ctx, org.SlackTenant("", "T0TWO")); id != "acme-2" {
		t.Fatalf("acme-2's tenant resolves to %q", id)
	}
	if _, err := runCmd(t, vars, "org", "delete", "acme", "--confirm"); org.ErrorCode(err) != org.CodeNotFound {
		t.Fatalf("delete again: %v", err)
	}
	// Its id and tenants are free again.
	mustRun(t, vars, "org", "create", "Acme Again", "--id", "acme", "--admin", "a@example.com", "--teams-tenant", "bbbb-2222")
}

// TestOrgArguments: every wrong line is a usage error with the
// subcommand's usage; wrong values are CodeInvalid naming the value; help
// prints usage. None of it needs Redis.
func TestOrgArguments(t *testing.T) {
	for _, args := range [][]string{
		{"org"}, {"org", "bogus"}, {"org", "list", "extra"}, {"org", "show"}, {"org", "show", "a", "b"},
		{"org", "create", "--admin", "a@example.com"}, {"org", "create", "Acme"}, {"org", "create", "Acme", "Corp", "--admin", "a@example.com"},
		{"org", "create", "Acme", "--admin"}, {"org", "create", "Acme", "--admin", "a@example.com", "--bogus"},
		{"org", "link", "acme"}, {"org", "link", "--slack-team", "T1"}, {"org", "delete"}, {"org", "delete", "acme", "--force"},
		{"org", "list", "--confirm"},
	} {
		_, err := runCmd(t, nil, args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), "usage:") || !strings.Contains(err.Error(), "usher org") {
			t.Errorf("%q: %v, want a usage error with the usage", args, err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"org", "show", "Acme_Corp"}, `"Acme_Corp" is not an organization id`},
		{[]string{"org", "delete", "acme*", "--confirm"}, `"acme*" is not an organization id`},
		{[]string{"org", "create", "日本", "--admin", "a@example.com"}, "Give one with --id"},
		{[]string{"org", "create", "Acme", "--id", "-acme", "--admin", "a@example.com"}, `"-acme" is not an organization id`},
		{[]string{"org", "create", "Acme", "--admin", "not-an-email"}, "not-an-email"},
		{[]string{"org", "create", "   ", "--admin", "a@example.com"}, "name must be 1-80 characters"},
		{[]string{"org", "link", "acme", "--slack-team", "t0lower"}, `"t0lower" is not a Slack team or enterprise id`},
		{[]string{"org", "link", "acme", "--teams-tenant", "a|b"}, `"a|b" is not a Teams tenant id`},
	} {
		_, err := runCmd(t, nil, c.args...)
		if org.ErrorCode(err) != org.CodeInvalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want CodeInvalid with %q", c.args, err, c.want)
		}
	}
	for _, args := range [][]string{{"org", "help"}, {"org", "--help"}} {
		if out, err := runCmd(t, nil, args...); err != nil || !strings.Contains(out, "usher org create NAME --admin EMAIL") {
			t.Errorf("%q: %v\n%s", args, err, out)
		}
	}
	if out, err := runCmd(t, nil, "help"); err != nil || !strings.Contains(out, "usher org create|list|show|link|delete") {
		t.Errorf("usher help: %v\n%s", err, out)
	}
	for _, sub := range []string{"create", "list", "show", "link", "delete"} {
		if out, err := runCmd(t, nil, "org", sub, "--help"); err != nil || !strings.HasPrefix(out, "usage: usher org "+sub) {
			t.Errorf("org %s --help: %v\n%s", sub, err, out)
		}
	}
	if _, err := runCmd(t, map[string]string{}, "org", "list"); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("org list without Redis: %v", err)
	}
	if _, err := runCmd(t, map[string]string{"USHER_ORG": "Not Valid", "REDIS_URL": "nope://"}, "org", "list"); err == nil ||
		!strings.Contains(err.Error(), "USHER_ORG") || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("a bad USHER_ORG is reported with every other problem: %v", err)
	}
}

// TestDefaultOrgRegisteredAtStart: a deployment from before the directory
// keeps its environment: the first start registers USHER_ORG (with the name
// set in chat), later starts leave the entry alone.
func TestDefaultOrgRegisteredAtStart(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	st, _ := storage.New(rdb, "legacy")
	if err := st.Commit(ctx, org.Change{Settings: map[string]string{"name": "Legacy Inc"}}); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "legacy"}
	mustRun(t, vars, "admin", "add", "root@example.com")
	d := storage.NewDirectory(rdb)
	first, found, err := d.Get(ctx, "legacy")
	if err != nil || !found || first.Name != "Legacy Inc" {
		t.Fatalf("after the first start: %+v, %v, %v", first, found, err)
	}
	mustRun(t, vars, "admin", "add", "root@example.com")
	mustRun(t, vars, "org", "list")
	again, _, _ := d.Get(ctx, "legacy")
	if !again.Created.Equal(first.Created) || again.Name != first.Name {
		t.Fatalf("a second start changed the entry: %+v -> %+v", first, again)
	}
	if dep, err := d.Deployment(ctx, "legacy"); err != nil || dep.Orgs != 1 || !dep.HasDefault {
		t.Fatalf("Deployment = %+v, %v", dep, err)
	}
	if id, ok := org.Route("", false, must(d.Deployment(ctx, "legacy"))); !ok || id != "legacy" {
		t.Fatalf("an unmapped tenant in a one-organization deployment routes to %q, %v", id, ok)
	}
	// A second organization: unmapped tenants reach nobody.
	mustRun(t, vars, "org", "create", "Other", "--admin", "o@example.com")
	if _, ok := org.Route("", false, must(d.Deployment(ctx, "legacy"))); ok {
		t.Fatal("with two organizations an unmapped tenant must not reach the default")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestOrgCommandProcess runs the real binary: a usage mistake exits 2, a
// refusal 1, each with its message on stderr, and a create exits 0.
func TestOrgCommandProcess(t *testing.T) {
	bin := prodBinary(t)
	srv := redistest.Start(t)
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"REDIS_URL=" + srv.URL(), "USHER_ORG=proc"}
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}
	if _, stderr, code := run("org", "create", "Acme"); code != 2 || !strings.Contains(stderr, "usher: usher org create: --admin EMAIL is required") {
		t.Fatalf("usage mistake: exit %d\n%s", code, stderr)
	}
	if stdout, stderr, code := run("org", "create", "Acme", "--admin", "a@example.com"); code != 0 || !strings.Contains(stdout, "Created organization acme") {
		t.Fatalf("create: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := run("org", "delete", "acme"); code != 1 || !strings.Contains(stderr, "usher: Organization acme has 1 people; nothing was deleted.") {
		t.Fatalf("refusal: exit %d\n%s", code, stderr)
	}
}

// FuzzOrgArgs: whatever follows `usher org`, parsing never panics, and a
// line it accepts has the subcommand's arguments and only valid tenants or
// a CodeInvalid naming the bad one.
func FuzzOrgArgs(f *testing.F) {
	for _, s := range []string{"create|Acme Corp|--admin|a@example.com|--slack-team|T1,T2", "link|acme|--teams-tenant|X", "delete|acme|--confirm", "list", "show", "create|--id=|x", "link|a|--slack-team="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		a, err := parseOrgArgs(strings.Split(line, "|"))
		var u usageError
		if err != nil {
			if !errors.As(err, &u) {
				t.Fatalf("%q: %v is not a usage error", line, err)
			}
			return
		}
		if a.help {
			return
		}
		if want := map[string]int{"create": 1, "list": 0, "show": 1, "link": 1, "delete": 1}[a.sub]; len(a.positional) != want {
			t.Fatalf("%q: accepted with %d arguments", line, len(a.positional))
		}
		if _, err := a.tenants(); err != nil && org.ErrorCode(err) != org.CodeInvalid {
			t.Fatalf("%q: tenants: %v", line, err)
		}
	})
}

package main

import (
	"bytes"
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

var update = flag.Bool("update", false, "rewrite golden files")

// runShellScript runs `usher shell` in-process on a script with a pinned
// clock and randomness, so that ids, links and passwords repeat.
func runShellScript(t *testing.T, script string, vars map[string]string) string {
	t.Helper()
	in, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return vars[k] }
	err = run(context.Background(), env{
		args: []string{"shell"}, getenv: getenv,
		stdin: bytes.NewReader(in), stdout: &out, stderr: &errOut,
		now:  func() time.Time { return time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) },
		rand: rand.NewChaCha8([32]byte{'u', 's', 'h', 'e', 'r'}),
	})
	if err != nil {
		t.Fatalf("shell: %v\n%s", err, errOut.String())
	}
	if errOut.Len() > 0 {
		t.Errorf("shell wrote to stderr:\n%s", errOut.String())
	}
	return out.String()
}

// withoutBanner drops the first line, which names the store.
func withoutBanner(s string) string {
	_, rest, _ := strings.Cut(s, "\n")
	return rest
}

// linkTag is an invitation link's organization tag, which depends on the
// organization's id (each run on a real Redis has its own).
var linkTag = regexp.MustCompile(`/invitations/[A-Za-z0-9_-]{12}\.`)

func golden(t *testing.T, name, got string) {
	t.Helper()
	got = linkTag.ReplaceAllString(got, "/invitations/TAG.")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/usher -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file; diff it with:\n  go test ./cmd/usher -run %s -update && git diff %s\n--- got ---\n%s", name, t.Name(), path, got)
	}
}

// TestShellGoldenEmbedded runs the golden session on the embedded store
// (miniredis), exactly as `go run ./cmd/usher shell` does for a newcomer.
func TestShellGoldenEmbedded(t *testing.T) {
	out := runShellScript(t, "testdata/session.txt", map[string]string{"USHER_ADMINS": "alice@example.com"})
	if !strings.HasPrefix(out, "usher shell: using an embedded in-process Redis (miniredis)") {
		t.Fatalf("the shell does not say it runs on the embedded store:\n%s", out)
	}
	golden(t, "session.golden", withoutBanner(out))
}

// TestShellGoldenRealRedis runs the same session against a real redis-server:
// the same storage code and Lua scripts must give the same transcript.
func TestShellGoldenRealRedis(t *testing.T) {
	srv := redistest.Shared(t)
	out := runShellScript(t, "testdata/session.txt", map[string]string{
		"USHER_ADMINS": "alice@example.com", "REDIS_URL": srv.URL(), "USHER_ORG": "golden-real",
	})
	if !strings.HasPrefix(out, "usher shell: using Redis at "+srv.URL()) {
		t.Fatalf("the shell does not say which Redis it uses:\n%s", out)
	}
	if *update {
		return // the embedded test writes the golden file
	}
	golden(t, "session.golden", withoutBanner(out))
}

// TestShellGoldenSpelling: the transcript shows every address as it was
// typed (USHER_ADMINS' and the inviter's), while any spelling finds the
// same person.
func TestShellGoldenSpelling(t *testing.T) {
	srv := redistest.Shared(t)
	out := runShellScript(t, "testdata/spelling.txt", map[string]string{
		"USHER_ADMINS": "Alice.Admin@Example.com", "REDIS_URL": srv.URL(), "USHER_ORG": "golden-spelling",
	})
	golden(t, "spelling.golden", withoutBanner(out))
}

// TestShellGoldenBulk: a bulk invitation read from a file (invite --file),
// answered with counts, then its progress message updated in place to the
// final count, on the embedded store and on a real redis-server alike.
func TestShellGoldenBulk(t *testing.T) {
	out := runShellScript(t, "testdata/bulk.txt", map[string]string{"USHER_ADMINS": "alice@example.com"})
	golden(t, "bulk.golden", withoutBanner(out))
	if *update {
		return
	}
	srv := redistest.Shared(t)
	out = runShellScript(t, "testdata/bulk.txt", map[string]string{"USHER_ADMINS": "alice@example.com", "REDIS_URL": srv.URL(), "USHER_ORG": "golden-bulk"})
	golden(t, "bulk.golden", withoutBanner(out))
}

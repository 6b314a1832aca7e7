package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func runCmd(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), env{args: args, getenv: func(k string) string { return vars[k] }, stdin: strings.NewReader(""), stdout: &out, stderr: &errOut})
	return out.String() + errOut.String(), err
}

func TestAdminAdd(t *testing.T) {
	srv := redistest.Shared(t)
	vars := map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "adminadd"}
	out, err := runCmd(t, vars, "admin", "add", "Root@Example.COM")
	// The operator's spelling (domain lower-cased) is kept for display.
	if err != nil || !strings.Contains(out, "Created Root@example.com as an active admin") {
		t.Fatalf("admin add: %v\n%s", err, out)
	}
	// Another spelling is the same person, who keeps the first spelling.
	out, err = runCmd(t, vars, "admin", "add", "ROOT@example.com")
	if err != nil || !strings.Contains(out, "Root@example.com is an active admin") {
		t.Fatalf("admin add again: %v\n%s", err, out)
	}
	st, _ := storage.New(srv.Client(t), "adminadd")
	snap, err := st.Load(context.Background(), org.Query{Admins: true, AuditLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Admins) != 1 || snap.Admins[0] != "root@example.com" || len(snap.Audit) != 1 || snap.Audit[0].Actor != "operator" {
		t.Fatalf("after admin add: admins %v, audit %+v", snap.Admins, snap.Audit)
	}
	if _, err := runCmd(t, vars, "admin", "add", "not-an-email"); org.ErrorCode(err) != org.CodeInvalid {
		t.Fatalf("bad email: %v", err)
	}
	if _, err := runCmd(t, map[string]string{}, "admin", "add", "a@example.com"); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("admin add without REDIS_URL: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"bogus"}, {"admin"}, {"admin", "remove", "x@example.com"}, {"shell", "--bogus"}} {
		_, err := runCmd(t, nil, args...)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	out, err := runCmd(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "usher ") {
		t.Fatalf("version: %v %q", err, out)
	}
	if _, err := runCmd(t, map[string]string{"USHER_PUBLIC_URL": "ftp://x", "REDIS_URL": "nope://"}, "serve"); err == nil ||
		!strings.Contains(err.Error(), "USHER_PUBLIC_URL") || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("bad config must report every problem at once: %v", err)
	}
}

func TestServeHealthz(t *testing.T) {
	srv := redistest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env{args: []string{"serve"}, getenv: func(k string) string {
			return map[string]string{"REDIS_URL": srv.URL(), "USHER_ADDR": "127.0.0.1:0", "USHER_METRICS_ADDR": "127.0.0.1:0", "USHER_ORG": "serve", "USHER_ADMINS": "a@example.com"}[k]
		}, stdout: io.Discard, stderr: io.Discard, ready: ready})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve did not shut down cleanly: %v", err)
	}
}

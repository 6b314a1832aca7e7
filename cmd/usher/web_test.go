package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/storage/redistest"
)

func TestWebConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	c, err := loadWebConfig(env())
	if err != nil || c.sessionTTL != 0 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = loadWebConfig(env("USHER_WEB_CLIENT_IP_HEADER", "X-Forwarded-For", "USHER_WEB_SESSION_TTL", "8h"))
	if err != nil || c.clientIPHeader != "X-Forwarded-For" || c.sessionTTL != 8*time.Hour {
		t.Fatalf("set: %+v %v", c, err)
	}
	if c, err = loadWebConfig(env("USHER_PASSWORD_HASHES", "3")); err != nil || c.passwordHashes != 3 {
		t.Fatalf("USHER_PASSWORD_HASHES: %+v %v", c, err)
	}
	_, err = loadWebConfig(env("USHER_WEB_CLIENT_IP_HEADER", "X-Forwarded-For: 1", "USHER_WEB_SESSION_TTL", "1m", "USHER_PASSWORD_HASHES", "0"))
	for _, want := range []string{"USHER_WEB_CLIENT_IP_HEADER", "USHER_WEB_SESSION_TTL", "USHER_PASSWORD_HASHES"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a bad %s is not reported (all problems at once): %v", want, err)
		}
	}
}

// serveUsher runs `usher serve` in-process on a free loopback port whose
// address is also the public URL, so invitation links work as they are.
func serveUsher(t *testing.T, vars map[string]string) (base string, logs *lockedBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base = "http://127.0.0.1:" + strconv.Itoa(port)
	all := map[string]string{"USHER_ADDR": "127.0.0.1:" + strconv.Itoa(port), "USHER_PUBLIC_URL": base, "USHER_METRICS_ADDR": "127.0.0.1:0"}
	for k, v := range vars {
		all[k] = v
	}
	logs = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env{args: []string{"serve"}, getenv: func(k string) string { return all[k] }, stdout: io.Discard, stderr: logs, ready: ready})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve stopped: %v\n%s", err, logs)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve did not shut down cleanly: %v", err)
		}
	})
	return base, logs
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestServeMountsTheWebPages: `usher serve` always serves the pages an
// invitation link opens, and refuses a bad web configuration at start.
func TestServeMountsTheWebPages(t *testing.T) {
	srv := redistest.Shared(t)
	base, logs := serveUsher(t, map[string]string{"REDIS_URL": srv.URL(), "USHER_ORG": "webmount", "USHER_ADMINS": "a@example.com"})
	for path, want := range map[string]int{"/login": 200, "/invitations/not-a-token": 404, "/account": 303} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d (csp %q), want %d", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"), want)
		}
	}
	if !strings.Contains(logs.String(), "USHER_SECRET is not set") {
		t.Error("serve does not warn about a generated deployment secret")
	}

	err := run(context.Background(), env{args: []string{"serve"}, getenv: func(k string) string {
		return map[string]string{"REDIS_URL": srv.URL(), "USHER_ADDR": "127.0.0.1:0", "USHER_WEB_SECRET": "too short"}[k]
	}, stdout: io.Discard, stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "USHER_WEB_SECRET") {
		t.Fatalf("a short USHER_WEB_SECRET: %v", err)
	}
}

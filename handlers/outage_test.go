package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// TestRedisDownGetsATryAgainAnswer: with Redis gone, every command still gets
// a reply saying nothing changed and to try again; when Redis is back the
// same service works without a restart.
func TestRedisDownGetsATryAgainAnswer(t *testing.T) {
	srv := redistest.Start(t)
	opt := &redis.Options{Addr: srv.Addr()}
	storage.ChatTimeouts(opt)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	e := newEnvOn(t, rdb)
	id, _ := e.invite(boss, "bob@example.com")

	srv.Stop()
	for _, cmd := range []string{"invite carol@example.com", "members", "accept " + id, "role bob@example.com viewer --confirm", "settings"} {
		start := time.Now()
		r := e.run(boss, cmd)
		// Slack's deadline for any answer, not a speed target.
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s with Redis down answered after %v, past Slack's 3 s", cmd, took)
		}
		if r.Code != org.CodeUnavailable || !strings.Contains(r.Text, "try again") || !strings.Contains(r.Text, "nothing was changed") {
			t.Errorf("%s with Redis down: %s: %s", cmd, r.Code, r.Text)
		}
	}
	if r := e.run(boss, "help"); r.Code != "" {
		t.Errorf("help needs no Redis, got %s: %s", r.Code, r.Text)
	}

	srv.Restart(t) // empty again: persistence is off
	if _, err := e.svc.BootstrapAdmin(t.Context(), boss); err != nil {
		t.Fatal(err)
	}
	e.ok(boss, "invite carol@example.com")
}

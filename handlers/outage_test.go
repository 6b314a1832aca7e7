package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
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

// faultyEnv is an organization on its own redis-server whose client, with
// chat timeouts, carries a fault the test arms just before a commit.
func faultyEnv(t *testing.T) (*env, *redistest.Server, *redistest.Fault) {
	t.Helper()
	srv, rdb, fault := redistest.FaultyClient(t, storage.ChatTimeouts)
	return newEnvOn(t, rdb), srv, fault
}

// openInvitation reads, on a connection of its own, whether email has an
// open invitation.
func openInvitation(t *testing.T, srv *redistest.Server, orgID, email string) bool {
	t.Helper()
	st, err := storage.New(srv.Client(t), org.ID(orgID))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := st.Load(t.Context(), org.Query{OpenFor: []string{email}})
	if err != nil {
		t.Fatal(err)
	}
	return snap.Open[email] != nil
}

// TestStalledCommitNeverSaysNothingChanged: Redis stops (SIGSTOP) with an
// invitation's commit in its input buffer, past the chat timeout, and
// resumes after the answer. The commit then runs: the answer must not have
// said "nothing was changed", and must still come within Slack's 3 s.
func TestStalledCommitNeverSaysNothingChanged(t *testing.T) {
	e, srv, fault := faultyEnv(t)
	fault.Arm(redistest.FreezeServer)
	start := time.Now()
	r := e.run(boss, "invite carol@example.com")
	took := time.Since(start)
	srv.Thaw()
	t.Logf("answered after %v: %s: %q", took.Round(time.Millisecond), r.Code, r.Text)
	if fault.Caught() == nil {
		t.Fatal("the commit was never sent")
	}
	if took > 3*time.Second {
		t.Errorf("answered after %v, past Slack's 3 s", took)
	}
	exists := openInvitation(t, srv, e.org, "carol@example.com")
	t.Logf("after the thaw the invitation exists: %v", exists)
	switch {
	case exists && strings.Contains(r.Text, "nothing was changed"):
		t.Errorf("said nothing was changed, but the invitation exists: %s: %s", r.Code, r.Text)
	case !exists && r.Code == "":
		t.Errorf("said done, but there is no invitation: %s", r.Text)
	case r.Code == org.CodeUnavailable && !strings.Contains(r.Text, "invitations"):
		t.Errorf("an uncertain answer must say where to check: %s", r.Text)
	}
}

// TestCommitWhoseReplyIsLostAnswersDone: the commit ran but its reply never
// came back; usher finds its commit id in Redis and answers as if the reply
// had come, invitation message included.
func TestCommitWhoseReplyIsLostAnswersDone(t *testing.T) {
	e, _, fault := faultyEnv(t)
	fault.Arm(redistest.LoseReply)
	r := e.run(boss, "invite carol@example.com")
	if fault.Caught() == nil {
		t.Fatal("the commit was never sent")
	}
	if r.Code != "" {
		t.Fatalf("the invitation was created, but the answer is %s: %s", r.Code, r.Text)
	}
	if len(r.Deliveries) == 0 || r.Deliveries[0].Kind != handlers.DeliverInvitation {
		t.Fatalf("no invitation delivered: %+v", r.Deliveries)
	}
}

// TestCommitNeverSentAnswersNothingChanged: the commit was lost on the way
// (or is still on it); usher claims its commit id so it can no longer apply
// and says, truthfully, that nothing was changed. When the lost command
// arrives after all, it changes nothing.
func TestCommitNeverSentAnswersNothingChanged(t *testing.T) {
	e, srv, fault := faultyEnv(t)
	fault.Arm(redistest.DropCommand)
	r := e.run(boss, "invite carol@example.com")
	late := fault.Caught()
	if late == nil {
		t.Fatal("the commit was never caught")
	}
	if r.Code != org.CodeUnavailable || !strings.Contains(r.Text, "nothing was changed") {
		t.Fatalf("answer %s: %q, want unavailable, nothing was changed", r.Code, r.Text)
	}
	// The lost command arrives now, on a connection of its own.
	if err := srv.Client(t).Do(t.Context(), late...).Err(); err != nil {
		t.Fatalf("late commit: %v", err)
	}
	if openInvitation(t, srv, e.org, "carol@example.com") {
		t.Fatal("told nothing was changed, but the late commit created the invitation")
	}
	e.ok(boss, "invite carol@example.com")
}

// TestStalledWebAcceptNeverSaysNothingChanged: the web's Accept (holding
// the link) shares the commit path: a stalled commit that applies later must
// not be reported as "nothing was changed" either.
func TestStalledWebAcceptNeverSaysNothingChanged(t *testing.T) {
	e, srv, fault := faultyEnv(t)
	_, token := e.invite(boss, "bob@example.com")
	fault.Arm(redistest.FreezeServer)
	_, err := e.svc.AcceptWithToken(t.Context(), token, "Bob", "")
	srv.Thaw()
	t.Logf("answered: %v", err)
	if fault.Caught() == nil {
		t.Fatal("the commit was never sent")
	}
	if openInvitation(t, srv, e.org, "bob@example.com") {
		return // the fence landed first: nothing was changed, whatever was said
	}
	if err != nil && strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("said nothing was changed, but bob accepted: %v", err)
	}
}

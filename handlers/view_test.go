package handlers_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// An inviter's next invitation is decided on a remembered view of the actor
// and the settings (view.go). These tests change what the view holds behind
// its back, through a second Service on the same Redis (another replica), and
// check that the answer is the one a fresh read gives.

func runOn(svc *handlers.Service, email, text string) handlers.Reply {
	return svc.Handle(context.Background(), handlers.Request{
		Actor: org.Identity{Platform: "test", UserID: "U-" + email, Email: email}, Text: text})
}

func TestRememberedViewFollowsChangesElsewhere(t *testing.T) {
	for _, tc := range []struct {
		name      string
		change    func(e *env, other *handlers.Service)
		invite    string
		wantCode  org.Code
		wantInMsg string
	}{
		{
			name: "allowed domains changed",
			change: func(e *env, other *handlers.Service) {
				if r := runOn(other, boss, "settings allowed-domains example.org"); r.Code != "" {
					t.Fatalf("settings: %s", r.Text)
				}
			},
			invite: "invite carol@example.com", wantCode: org.CodeConflict, wantInMsg: "not an allowed domain",
		},
		{
			name: "workspace the view knows nothing of",
			change: func(e *env, other *handlers.Service) {
				if r := runOn(other, boss, "workspace create ml"); r.Code != "" {
					t.Fatalf("workspace: %s", r.Text)
				}
			},
			invite: "invite carol@example.com --workspace ml", wantInMsg: "invited as member",
		},
		{
			name: "inviter demoted",
			change: func(e *env, other *handlers.Service) {
				e.join("second@example.com", org.RoleAdmin)
				if r := runOn(other, "second@example.com", "role "+boss+" viewer --confirm"); r.Code != "" {
					t.Fatalf("demote: %s", r.Text)
				}
			},
			invite: "invite carol@example.com", wantCode: org.CodeForbidden,
		},
		{
			name: "invitee joined meanwhile",
			change: func(e *env, other *handlers.Service) {
				id, _ := e.invite(boss, "carol@example.com")
				if r := runOn(other, "carol@example.com", "accept "+id); r.Code != "" {
					t.Fatalf("accept: %s", r.Text)
				}
			},
			invite: "invite carol@example.com", wantCode: org.CodeConflict, wantInMsg: "already a member",
		},
		{
			name:   "invitee already invited",
			change: func(e *env, other *handlers.Service) { e.invite(boss, "carol@example.com") },
			invite: "invite carol@example.com", wantCode: org.CodeConflict, wantInMsg: "already has a pending invitation",
		},
		{
			name: "daily limit reached",
			change: func(e *env, other *handlers.Service) {
				if r := runOn(other, boss, "settings invites-per-day 2"); r.Code != "" {
					t.Fatalf("settings: %s", r.Text)
				}
				e.ok(boss, "invite dave@example.com") // the view, refreshed, now says 2 a day
			},
			invite: "invite carol@example.com", wantCode: org.CodeLimit, wantInMsg: "That would be 3 invitations today; the limit is 2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.ok(boss, "invite first@example.com") // remembers boss's view
			tc.change(e, e.service(e.store, nil))  // another replica
			r := e.run(boss, tc.invite)
			if r.Code != tc.wantCode || !strings.Contains(r.Text, tc.wantInMsg) {
				t.Fatalf("%q after the change: code %q, %q; want code %q and %q", tc.invite, r.Code, r.Text, tc.wantCode, tc.wantInMsg)
			}
		})
	}
}

// TestRememberedViewSavesTheRead: the first invitation reads and commits (two
// round trips); the next one from the same person only commits.
func TestRememberedViewSavesTheRead(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	rt := &storage.RoundTrips{}
	rdb.AddHook(rt)
	e := newEnvOn(t, rdb)
	for i, want := range []int64{2, 1, 1} {
		rt.Reset()
		e.ok(boss, "invite p"+string(rune('a'+i))+"@example.com")
		if got := rt.Count(); got != want {
			t.Fatalf("invitation %d took %d round trips, want %d", i+1, got, want)
		}
	}
}

// chatLinkWrites counts the commits (apply.lua calls) that write a chat
// identity's link, i.e. that name the chat key among their KEYS.
type chatLinkWrites struct {
	key string
	n   atomic.Int64
}

func (c *chatLinkWrites) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *chatLinkWrites) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "evalsha" || cmd.Name() == "eval" {
			if slices.Contains(cmd.Args(), any(c.key)) && slices.Contains(cmd.Args(), any("invitation.create")) {
				c.n.Add(1)
			}
		}
		return next(ctx, cmd)
	}
}
func (c *chatLinkWrites) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestRememberedViewLinksTheIdentityOnce: the first commit links the actor's
// chat identity; the view learns it, so the next ones do not write it again.
func TestRememberedViewLinksTheIdentityOnce(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	e := newEnvOn(t, rdb)
	hook := &chatLinkWrites{key: "usher:{" + e.org + "}:chat"}
	rdb.AddHook(hook)
	for i := range 4 {
		e.ok(boss, "invite q"+string(rune('a'+i))+"@example.com")
	}
	if got := hook.n.Load(); got != 1 {
		t.Fatalf("%d of 4 invitations wrote the chat link, want the first only", got)
	}
}

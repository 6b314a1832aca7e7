package handlers_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// An invitation past its expiry is expired in every decision at once, before
// the scheduled sweep gets to it (issue 12, 7d).
func TestPastExpiryInvitationIsExpiredAtOnce(t *testing.T) {
	const x = "x@example.com"
	e := newEnv(t)
	old, oldToken := e.invite(boss, x)
	e.clock.Advance(8 * 24 * time.Hour) // past invite-expiry 7d; no sweep ran

	if r := e.ok(boss, "invitations"); strings.Contains(r.Text, "1 pending invitation") {
		t.Errorf("invitations counts the expired one as pending: %s", r.Text)
	} else if len(r.Items) != 1 || !strings.Contains(r.Items[0].Text, "expired") {
		t.Errorf("invitations: %q %+v; want it listed as expired", r.Text, r.Items)
	} else {
		for _, b := range r.Items[0].Buttons {
			if b.Label == "Resend" || b.Label == "Revoke" || b.Label == "Show link" {
				t.Errorf("an expired invitation offers %s", b.Label)
			}
		}
	}
	for _, cmd := range []string{"resend " + x, "revoke " + x, "revoke " + old + " --confirm", "link " + x} {
		if r := e.run(boss, cmd); r.Code != org.CodeConflict || !strings.Contains(r.Text, "expired") {
			t.Errorf("%s: code %q: %s", cmd, r.Code, r.Text)
		}
	}

	r := e.run(boss, "invite "+x)
	if r.Code != "" || len(r.Deliveries) == 0 {
		t.Fatalf("invite over the expired invitation: code %q: %s", r.Code, r.Text)
	}
	fresh := r.Deliveries[0].InvitationID
	if got := e.invitation(old).Status; got != org.InvitationExpired {
		t.Errorf("the old invitation is %s, want expired", got)
	}
	if got := e.invitation(fresh).Status; got != org.InvitationPending {
		t.Errorf("the new invitation is %s, want pending", got)
	}
	if r := e.ok(boss, "invitations"); !strings.Contains(r.Text, "1 pending invitation") || !strings.Contains(r.Items[0].Text, x) {
		t.Errorf("invitations after inviting again: %s %+v", r.Text, r.Items)
	}
	if r := e.run(x, "accept "+old); r.Code != org.CodeConflict {
		t.Errorf("accept the old one: code %q: %s", r.Code, r.Text)
	}
	if _, _, err := e.svc.InvitationByToken(context.Background(), oldToken); err == nil {
		t.Errorf("the old link still opens")
	}
	if r := e.ok(boss, "audit"); !strings.Contains(r.Items[1].Text, "invitation.expire "+x) {
		t.Errorf("audit: the expiry is not recorded before the new invitation: %+v", r.Items[:2])
	}
	e.ok(x, "accept "+fresh)
}

// The replacement is one atomic step even when the invitation is decided on
// the remembered view (which reads no invitations), and under concurrent
// clicks exactly one new invitation replaces the expired one.
func TestPastExpiryReplacedOnceUnderConcurrentInvites(t *testing.T) {
	const x = "x@example.com"
	e := newEnv(t)
	e.join("second@example.com", org.RoleAdmin)
	old, _ := e.invite("second@example.com", x)
	e.clock.Advance(7*24*time.Hour + time.Second)
	e.invite(boss, "warm@example.com") // boss's view is fresh: the next invite rides on it

	var wg sync.WaitGroup
	codes := make([]org.Code, 10)
	sent := make([]int, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.run(boss, "invite "+x)
			codes[i] = r.Code
			for _, d := range r.Deliveries {
				if d.To == x {
					sent[i]++
				}
			}
		}()
	}
	wg.Wait()
	total := 0
	for i := range codes {
		total += sent[i]
		if codes[i] != "" && codes[i] != org.CodeConflict {
			t.Errorf("invite %d: code %q", i, codes[i])
		}
	}
	if total != 1 {
		t.Fatalf("%d invitations sent over one expired invitation, want 1 (codes %v)", total, codes)
	}
	if got := e.invitation(old).Status; got != org.InvitationExpired {
		t.Fatalf("old invitation: %s", got)
	}
}

// The old inviter hears that their invitation expired, once, when somebody
// else's invitation replaces it (the sweep that would have told them finds
// nothing left to do).
func TestPastExpiryReplacedTellsTheOldInviter(t *testing.T) {
	const x = "x@example.com"
	e := newEnv(t)
	e.join("second@example.com", org.RoleAdmin)
	e.invite("second@example.com", x)
	e.clock.Advance(8 * 24 * time.Hour)
	r := e.ok(boss, "invite "+x)
	told := 0
	for _, d := range r.Deliveries {
		if d.To == "second@example.com" && strings.Contains(d.Message.Text, "expired") {
			told++
		}
	}
	if told != 1 {
		t.Fatalf("old inviter told %d times: %+v", told, r.Deliveries)
	}
}

package org_test

import (
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

var allStatuses = []org.InvitationStatus{
	org.InvitationRequested, org.InvitationPending, org.InvitationAccepted, org.InvitationDeclined,
	org.InvitationRevoked, org.InvitationExpired, org.InvitationDenied,
}

// TestInvitationStateMachine checks CanBecome over every (from, to) pair,
// including an unknown status on either side. Exactly these are allowed:
//
//	requested -> pending | denied | expired | revoked (withdrawn)
//	pending   -> accepted | declined | revoked | expired
func TestInvitationStateMachine(t *testing.T) {
	allowed := map[[2]org.InvitationStatus]bool{
		{org.InvitationRequested, org.InvitationPending}: true,
		{org.InvitationRequested, org.InvitationDenied}:  true,
		{org.InvitationRequested, org.InvitationExpired}: true,
		{org.InvitationRequested, org.InvitationRevoked}: true,
		{org.InvitationPending, org.InvitationAccepted}:  true,
		{org.InvitationPending, org.InvitationDeclined}:  true,
		{org.InvitationPending, org.InvitationRevoked}:   true,
		{org.InvitationPending, org.InvitationExpired}:   true,
	}
	states := append(append([]org.InvitationStatus{}, allStatuses...), "", "bogus")
	n := 0
	for _, from := range states {
		for _, to := range states {
			want := allowed[[2]org.InvitationStatus{from, to}]
			if want {
				n++
			}
			if got := from.CanBecome(to); got != want {
				t.Errorf("%q.CanBecome(%q) = %v, want %v", from, to, got, want)
			}
		}
	}
	if n != len(allowed) {
		t.Fatalf("only %d of the %d allowed transitions were checked", n, len(allowed))
	}
}

func TestInvitationStatusOpen(t *testing.T) {
	for _, s := range allStatuses {
		want := s == org.InvitationPending || s == org.InvitationRequested
		if got := s.Open(); got != want {
			t.Errorf("%s.Open() = %v, want %v", s, got, want)
		}
	}
}

func TestInvitationExpiredAt(t *testing.T) {
	exp := time.Date(2026, 1, 9, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		status org.InvitationStatus
		now    time.Time
		want   bool
	}{
		{org.InvitationPending, exp.Add(-time.Nanosecond), false},
		{org.InvitationPending, exp, true},
		{org.InvitationPending, exp.Add(time.Hour), true},
		{org.InvitationRequested, exp.Add(-time.Nanosecond), false},
		{org.InvitationRequested, exp.Add(time.Hour), true}, // requests expire too (issue 14)
		{org.InvitationAccepted, exp.Add(time.Hour), false},
		{org.InvitationExpired, exp.Add(time.Hour), false},
	}
	for _, tt := range tests {
		inv := &org.Invitation{Status: tt.status, Expires: exp}
		if got := inv.ExpiredAt(tt.now); got != tt.want {
			t.Errorf("%s invitation ExpiredAt(expiry%+v) = %v, want %v", tt.status, tt.now.Sub(exp), got, tt.want)
		}
	}
}

func TestInvitationStatusError(t *testing.T) {
	for _, s := range allStatuses {
		inv := &org.Invitation{Status: s, Inviter: "alice@example.com"}
		err := inv.StatusError()
		if s == org.InvitationPending {
			if err != nil {
				t.Errorf("pending: StatusError() = %v, want nil", err)
			}
			continue
		}
		if err == nil || err.Code != org.CodeConflict {
			t.Errorf("%s: StatusError() = %#v, want a conflict", s, err)
			continue
		}
		if (s == org.InvitationRevoked || s == org.InvitationExpired) && !strings.Contains(err.Hint, "alice@example.com") {
			t.Errorf("%s: hint %q should name the inviter to ask", s, err.Hint)
		}
	}
}

func TestInvitationClone(t *testing.T) {
	inv := &org.Invitation{ID: "abc", Workspaces: org.Grants{g("ml", org.WorkspaceEditor)}}
	c := inv.Clone()
	c.Workspaces[0].Role = org.WorkspaceReader
	c.ID = "xyz"
	if inv.Workspaces[0].Role != org.WorkspaceEditor || inv.ID != "abc" {
		t.Errorf("changing the clone changed the original: %+v", inv)
	}
}

func TestLooksLikeInvitationID(t *testing.T) {
	for s, want := range map[string]bool{"k3m9x2ab": true, "bob@example.com": false, "": false, "bob@": false} {
		if got := org.LooksLikeInvitationID(s); got != want {
			t.Errorf("LooksLikeInvitationID(%q) = %v, want %v", s, got, want)
		}
	}
}

package storage

import (
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// guardOps are the ops apply.lua checks before any write (its first loop).
var guardOps = map[string]bool{"hfeq": true, "absent": true, "hfabsent": true, "hptr": true, "lastadmin": true, "quota": true}

// TestEveryGuardOpHasItsRefusal compiles changes that use every entity and
// checks, without Redis, that each guard op was added with its refusal
// (ops.guard, not ops.add): a guard without one would fail as "no guard of
// this call" instead of with its error. It also checks that each change's
// commit id is recorded, first, for settle.
func TestEveryGuardOpHasItsRefusal(t *testing.T) {
	s, err := New(nil, "build")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	u := &org.User{Email: "a@example.com", Role: org.RoleMember, Status: org.StatusActive, Created: now, Updated: now}
	old := &org.Invitation{ID: "old00001", Email: "b@example.com", Role: org.RoleMember, Inviter: "a@example.com",
		Created: now, Expires: now, Status: org.InvitationExpired, Updated: now}
	inv := &org.Invitation{ID: "new00001", Email: "b@example.com", Role: org.RoleMember, Inviter: "a@example.com",
		Created: now, Expires: now.Add(time.Hour), Status: org.InvitationPending, Updated: now}
	changes := []org.Change{{
		Now: now, Actor: "a@example.com", ActorVersion: 2, PinRevision: true, Revision: 4,
		NoUsers: []string{"b@example.com"},
		Users:   []org.UserWrite{{User: u, Version: 2}, {User: &org.User{Email: "c@example.com", Role: org.RoleViewer, Status: org.StatusActive}}},
		Invitations: []org.InvitationWrite{{Invitation: old, Expect: org.InvitationPending, Version: 1},
			{Invitation: inv, NewTokenHash: "hash"}},
		Workspace: &org.Workspace{Name: "ml", Creator: "a@example.com", Created: now},
		Settings:  map[string]string{"name": "Acme"},
		Digest:    &org.DigestWrite{ExpectNext: now, Next: now.Add(time.Hour)},
		Quota:     &org.QuotaUse{Email: "a@example.com", Day: "20260105", N: 1, Limit: 5},
		Links:     []org.IdentityLink{{Identity: "slack:T1:U1", Email: "a@example.com"}},
		Audit:     []org.AuditEntry{{At: now, Action: "test"}},
		Messages:  []org.QueuedMessage{{Platform: "slack", Payload: []byte("{}")}},
	}, {
		Now: now, Users: []org.UserWrite{{User: u, Version: 3}},
	}}
	var o ops
	for i, ch := range changes {
		if i > 0 {
			o.sep()
		}
		if !s.build(&o, ch) {
			t.Fatalf("change %d compiled to nothing", i)
		}
	}
	seen := map[string]int{}
	var onces []string
	for i, op := 0, 1; i < len(o.args); op++ {
		name := o.args[i].(string)
		key := o.args[i+1].(int)
		n := o.args[i+2].(int)
		if guardOps[name] {
			seen[name]++
			if g := o.guardAt(op); g == nil || g.refuse == nil {
				t.Errorf("op %d (%s %s) is a guard without a refusal", op, name, o.keys[key-1])
			}
		} else if o.guardAt(op) != nil {
			t.Errorf("op %d (%s) is no guard but has a refusal", op, name)
		}
		if name == "once" {
			onces = append(onces, o.keys[key-1])
		}
		i += 3 + n
	}
	for name := range guardOps {
		if seen[name] == 0 {
			t.Errorf("no %s guard compiled: the test no longer covers it", name)
		}
	}
	if len(o.ids) != 2 || strings.Join(o.ids, " ") != strings.Join(onces, " ") {
		t.Errorf("commit ids %q, want the once ops' keys %q", o.ids, onces)
	}
}

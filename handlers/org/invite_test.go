package org_test

import (
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// TestDecideInvite decides every case of the invite command on a snapshot
// made by hand: no Redis, no chat. handlers' tests run the same cases end to
// end (with the answers' wording) on real Redis.
func TestDecideInvite(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	admin := &org.User{Email: "ann@example.com", Role: org.RoleAdmin, Status: org.StatusActive}
	member := &org.User{Email: "mo@example.com", Role: org.RoleMember, Status: org.StatusActive,
		Workspaces: org.Grants{{Workspace: "ml", Role: org.WorkspaceEditor}}}
	pending := func(id, email, inviter string, role org.Role) *org.Invitation {
		return &org.Invitation{ID: id, Email: email, Role: role, Inviter: inviter, Status: org.InvitationPending,
			Created: now.Add(-time.Hour), Expires: now.Add(time.Hour), Version: 3}
	}
	expired := pending("old00001", "ex@example.com", "someone@example.com", org.RoleMember)
	expired.Expires = now.Add(-time.Minute)
	requested := pending("req00001", "rq@example.com", "someone@example.com", org.RoleMember)
	requested.Status = org.InvitationRequested
	open := map[string]*org.Invitation{
		"own@example.com":    pending("own00001", "own@example.com", "mo@example.com", org.RoleMember),
		"theirs@example.com": pending("thr00001", "theirs@example.com", "someone@example.com", org.RoleViewer),
		"ex@example.com":     expired,
		"rq@example.com":     requested,
	}
	users := map[string]*org.User{
		"in@example.com":   {Email: "in@example.com", Role: org.RoleViewer, Status: org.StatusActive},
		"gone@example.com": {Email: "gone@example.com", Role: org.RoleMember, Status: org.StatusDeactivated},
	}
	snapshot := func(actor *org.User, edit func(*org.Settings)) *org.Snapshot {
		set := org.DefaultSettings()
		if edit != nil {
			edit(&set)
		}
		return &org.Snapshot{Actor: actor, Settings: set, Users: users, Open: open,
			Workspaces: []org.Workspace{{Name: "ml"}}, Quota: 48}
	}
	spec := func(role org.Role, emails ...string) org.InviteSpec {
		sp := map[string]string{}
		for _, e := range emails {
			sp[e] = "Typed:" + e
		}
		return org.InviteSpec{Emails: emails, Spellings: sp, Role: role}
	}
	anyone := func(s *org.Settings) { s.AnyoneCanInvite = org.InviteAnyone }

	type want struct {
		outcome   org.InviteOutcome
		open      string // the id of InviteFor.Open, "" for none
		replaces  string
		sameGrant bool
	}
	for _, tc := range []struct {
		name     string
		actor    *org.User
		settings func(*org.Settings)
		spec     org.InviteSpec
		edit     func(*org.InviteSpec)
		// the whole command refused with code, or each email's decision
		code     org.Code
		decision org.InviteDecision
		want     []want
		limit    int
		overCode org.Code
	}{
		{name: "new", actor: admin, spec: spec(org.RoleMember, "new@example.com"),
			want: []want{{outcome: org.InviteNew}}, limit: 50},
		{name: "already a member", actor: admin, spec: spec(org.RoleMember, "in@example.com"),
			want: []want{{outcome: org.InviteMember}}},
		{name: "deactivated", actor: admin, spec: spec(org.RoleMember, "gone@example.com"),
			want: []want{{outcome: org.InviteDeactivated}}},
		{name: "own pending, same grant", actor: member, settings: anyone, spec: spec(org.RoleMember, "own@example.com"),
			want: []want{{outcome: org.InvitePending, open: "own00001", sameGrant: true}}},
		{name: "own pending, another role, no --update", actor: member, settings: anyone, spec: spec(org.RoleViewer, "own@example.com"),
			want: []want{{outcome: org.InvitePending, open: "own00001"}}},
		{name: "own pending, --update", actor: member, settings: anyone, spec: spec(org.RoleViewer, "own@example.com"),
			edit: func(s *org.InviteSpec) { s.Update, s.Note = true, "welcome" },
			want: []want{{outcome: org.InviteUpdated, open: "own00001"}}},
		{name: "--update with the same grant changes nothing", actor: member, settings: anyone, spec: spec(org.RoleMember, "own@example.com"),
			edit: func(s *org.InviteSpec) { s.Update = true },
			want: []want{{outcome: org.InvitePending, open: "own00001", sameGrant: true}}},
		{name: "someone else's pending, to a member: nothing of it", actor: member, settings: anyone, spec: spec(org.RoleViewer, "theirs@example.com"),
			edit: func(s *org.InviteSpec) { s.Update = true },
			want: []want{{outcome: org.InviteOpenElsewhere}}},
		{name: "someone else's pending, to an admin", actor: admin, spec: spec(org.RoleViewer, "theirs@example.com"),
			want: []want{{outcome: org.InvitePending, open: "thr00001", sameGrant: true}}},
		{name: "someone else's request, to a member", actor: member, settings: anyone, spec: spec(org.RoleMember, "rq@example.com"),
			want: []want{{outcome: org.InviteOpenElsewhere}}},
		{name: "a request waiting, to an admin", actor: admin, spec: spec(org.RoleMember, "rq@example.com"),
			want: []want{{outcome: org.InviteRequested, open: "req00001"}}}, // for its Approve / Deny
		{name: "past expiry: replaced, whoever sent it", actor: member, settings: anyone, spec: spec(org.RoleMember, "ex@example.com"),
			want: []want{{outcome: org.InviteNew, replaces: "old00001"}}, limit: 50},
		{name: "domain not allowed", actor: admin, settings: func(s *org.Settings) { s.AllowedDomains = []string{"corp.example"} },
			spec: spec(org.RoleMember, "new@example.com"),
			want: []want{{outcome: org.InviteDomainNotAllowed}}},
		{name: "role above own", actor: member, settings: anyone, spec: spec(org.RoleAdmin, "new@example.com"),
			code: org.CodeForbidden},
		{name: "non-admin when only admins invite", actor: member, spec: spec(org.RoleMember, "new@example.com"),
			code: org.CodeForbidden},
		{name: "workspace missing", actor: admin, spec: spec(org.RoleMember, "new@example.com"),
			edit: func(s *org.InviteSpec) { s.Grants = org.Grants{{Workspace: "nope", Role: org.WorkspaceReader}} },
			code: org.CodeNotFound},
		{name: "--force by a non-admin", actor: member, settings: anyone, spec: spec(org.RoleMember, "new@example.com"),
			edit: func(s *org.InviteSpec) { s.Force = true },
			code: org.CodeForbidden},
		{name: "quota: only new invitations count", actor: admin,
			spec: spec(org.RoleMember, "a@example.com", "in@example.com", "b@example.com", "theirs@example.com"),
			want: []want{{outcome: org.InviteNew}, {outcome: org.InviteMember}, {outcome: org.InviteNew},
				{outcome: org.InvitePending, open: "thr00001"}}, limit: 50},
		{name: "quota exceeded", actor: admin, spec: spec(org.RoleMember, "a@example.com", "b@example.com", "c@example.com"),
			want:  []want{{outcome: org.InviteNew}, {outcome: org.InviteNew}, {outcome: org.InviteNew}},
			limit: 50, overCode: org.CodeLimit},
		{name: "--force: no limit", actor: admin, spec: spec(org.RoleMember, "a@example.com", "b@example.com", "c@example.com"),
			edit: func(s *org.InviteSpec) { s.Force = true },
			want: []want{{outcome: org.InviteNew}, {outcome: org.InviteNew}, {outcome: org.InviteNew}}, limit: 0},
		{name: "approval: a request for an admin", actor: member, settings: func(s *org.Settings) { s.AnyoneCanInvite = org.InviteApproval },
			spec: spec(org.RoleMember, "new@example.com"), decision: org.InviteRequest,
			want: []want{{outcome: org.InviteNew}}, limit: 50},
		{name: "approval does not apply to admins", actor: admin, settings: func(s *org.Settings) { s.AnyoneCanInvite = org.InviteApproval },
			spec: spec(org.RoleMember, "new@example.com"), decision: org.InviteSend,
			want: []want{{outcome: org.InviteNew}}, limit: 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.spec
			if tc.edit != nil {
				tc.edit(&s)
			}
			snap := snapshot(tc.actor, tc.settings)
			plan, err := org.DecideInvite(s, snap, now)
			if tc.code != "" {
				if org.ErrorCode(err) != tc.code || plan != nil {
					t.Fatalf("got %+v, %v; want the command refused with %s", plan, err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Decision != tc.decision {
				t.Errorf("decision %v, want %v", plan.Decision, tc.decision)
			}
			if plan.Limit != tc.limit || org.ErrorCode(plan.OverLimit) != tc.overCode {
				t.Errorf("limit %d, over it %v; want %d, %q", plan.Limit, plan.OverLimit, tc.limit, tc.overCode)
			}
			if len(plan.For) != len(tc.want) {
				t.Fatalf("%d decisions for %d emails: %+v", len(plan.For), len(tc.want), plan.For)
			}
			for i, f := range plan.For {
				w := tc.want[i]
				if f.Email != s.Emails[i] || f.Spelling != "Typed:"+s.Emails[i] {
					t.Errorf("decision %d is for %s (%s), want %s as typed", i, f.Email, f.Spelling, s.Emails[i])
				}
				if f.Outcome != w.outcome || id(f.Open) != w.open || id(f.Replaces) != w.replaces || f.SameGrant != w.sameGrant {
					t.Errorf("%s: outcome %v open %q replaces %q same %v; want %+v", f.Email, f.Outcome, id(f.Open), id(f.Replaces), f.SameGrant, w)
				}
				switch f.Outcome {
				case org.InviteOpenElsewhere:
					// What a non-admin may not learn is not even in the decision.
					if f.Open != nil || f.Replaces != nil || f.Next != nil || f.User != nil {
						t.Errorf("%s: someone else's invitation leaks into the decision: %+v", f.Email, f)
					}
				case org.InviteMember, org.InviteDeactivated:
					if f.User != users[f.Email] {
						t.Errorf("%s: user %+v", f.Email, f.User)
					}
				case org.InviteUpdated:
					if f.Next == nil || f.Next.Role != s.Role || f.Next.Note != s.Note || !f.Next.Updated.Equal(now) ||
						f.Next.ID != f.Open.ID || f.Next.Version != f.Open.Version {
						t.Errorf("%s: next %+v", f.Email, f.Next)
					}
					if f.Open.Role == s.Role || f.Open.Note == s.Note {
						t.Errorf("%s: deciding changed the invitation read: %+v", f.Email, f.Open)
					}
				}
			}
		})
	}
}

func id(inv *org.Invitation) string {
	if inv == nil {
		return ""
	}
	return inv.ID
}

package scim_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/usher-chat/usher/handlers/org"
)

// A provisioning run as a provider makes one: 100 users and 5 groups,
// renames, moves between groups, 10 deactivated, 2 of them reactivated, 1
// deleted. At the end usher's members list, the SCIM view and the audit log
// all agree with what the provider believes.
func TestEndToEndProvisioning(t *testing.T) {
	// With the workspace members index complete, and without (the users
	// scanned, as for data from older versions until `usher org reindex`).
	for _, indexed := range []bool{false, true} {
		t.Run(fmt.Sprintf("indexed=%v", indexed), func(t *testing.T) { endToEnd(t, indexed) })
	}
}

func endToEnd(t *testing.T, indexed bool) {
	e := newEnv(t)
	if indexed {
		if _, err := e.org.Store.ReindexWorkspaces(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	type person struct {
		id     string
		active bool
	}
	people := map[string]*person{}         // the provider's view: email -> user
	groups := map[string]map[string]bool{} // group id -> member emails
	names := map[string]string{}           // group id -> workspace name
	emails := func(i int) string { return fmt.Sprintf("p%03d@example.com", i) }
	for i := 0; i < 100; i++ {
		b := oktaUser(emails(i), "P", fmt.Sprint(i), fmt.Sprintf("00u%03d", i))
		if i%2 == 1 {
			b = entraUser(emails(i), fmt.Sprintf("aad-%03d", i))
		}
		people[emails(i)] = &person{id: e.do("POST", "/scim/v2/Users", b).want(t, 201).str("id"), active: true}
	}
	var gids []string
	for g := 0; g < 5; g++ {
		var ids []string
		ms := map[string]bool{}
		for i := g; i < 100; i += 5 {
			ids = append(ids, people[emails(i)].id)
			ms[emails(i)] = true
		}
		r := e.do("POST", "/scim/v2/Groups", oktaGroup(fmt.Sprintf("Team %d", g), ids...)).want(t, 201)
		gids = append(gids, r.str("id"))
		groups[r.str("id")], names[r.str("id")] = ms, r.str("displayName")
	}
	// Renames: Okta's and Entra's forms.
	names[gids[0]] = e.patchGroup(t, gids[0], oktaRename(gids[0], "Platform")).str("displayName")
	names[gids[3]] = e.patchGroup(t, gids[3], entraRename("data-science")).str("displayName")
	// Move 10 people from team 1 to team 2.
	for i := 1; i < 51; i += 5 {
		m := emails(i)
		if i%2 == 0 {
			e.patchGroup(t, gids[1], oktaRemoveMember(people[m].id))
		} else {
			e.patchGroup(t, gids[1], entraMembers("Remove", people[m].id))
		}
		e.patchGroup(t, gids[2], oktaAddMember(people[m].id))
		delete(groups[gids[1]], m)
		groups[gids[2]][m] = true
	}
	// Deactivate 10, reactivate 2, delete 1.
	for i := 50; i < 60; i++ {
		body := oktaActive(false)
		if i%2 == 1 {
			body = entraActive("False")
		}
		e.do("PATCH", "/scim/v2/Users/"+people[emails(i)].id, body).want(t, 200)
		people[emails(i)].active = false
	}
	for _, i := range []int{50, 51} {
		e.do("PATCH", "/scim/v2/Users/"+people[emails(i)].id, oktaActive(true)).want(t, 200)
		people[emails(i)].active = true
	}
	e.do("DELETE", "/scim/v2/Users/"+people[emails(99)].id, nil).want(t, 204)
	people[emails(99)].active = false

	// usher's own records.
	for m, p := range people {
		u := e.user(m)
		if u == nil || u.Active() != p.active {
			t.Fatalf("%s: usher has %+v, the provider says active=%v", m, u, p.active)
		}
		var want []string
		for gid, ms := range groups {
			if ms[m] {
				want = append(want, names[gid])
			}
		}
		slices.Sort(want)
		var got []string
		for _, g := range u.Workspaces {
			got = append(got, g.Workspace)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: workspaces %v, the provider says %v", m, got, want)
		}
	}
	// The members list in chat.
	if r := e.chat(admin, "members --status deactivated"); !strings.Contains(r.Message.Text, "9 members match") {
		t.Fatalf("members --status deactivated: %q", r.Message.Text)
	}
	for gid, ms := range groups {
		r := e.chat(admin, "members --workspace "+names[gid])
		if want := fmt.Sprintf("%d members match", len(ms)); !strings.Contains(r.Message.Text, want) {
			t.Fatalf("members --workspace %s: %q, want %s", names[gid], r.Message.Text, want)
		}
	}
	// The SCIM view.
	seen := 0
	for start := 1; ; start += 100 {
		r := e.do("GET", fmt.Sprintf("/scim/v2/Users?startIndex=%d&count=100", start), nil).want(t, 200)
		if len(r.resources()) == 0 {
			break
		}
		for _, x := range r.resources() {
			p := people[strings.ToLower(x["userName"].(string))]
			if p == nil {
				continue // the admin
			}
			seen++
			if x["active"] != p.active || x["id"] != p.id {
				t.Fatalf("listed %v, the provider has %+v", x, p)
			}
		}
	}
	if seen != 100 {
		t.Fatalf("%d listed", seen)
	}
	for gid, ms := range groups {
		g := e.do("GET", "/scim/v2/Groups/"+gid, nil).want(t, 200)
		var want []string
		for m := range maps.Keys(ms) {
			want = append(want, people[m].id)
		}
		got := members(g.body)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || g.str("displayName") != names[gid] {
			t.Fatalf("group %s: %s %v, want %s %v", gid, g.str("displayName"), got, names[gid], want)
		}
	}
	// The audit log: every change the provider's, and each person's status
	// what their last status entry says.
	count := map[string]int{}
	last := map[string]string{}
	for _, a := range e.audit(100000) {
		if a.Actor != "scim:okta" {
			continue
		}
		count[a.Action]++
		if a.Action == "user.status" {
			if _, ok := last[a.Target]; !ok {
				last[a.Target] = a.After
			}
		}
	}
	want := map[string]int{"user.provision": 100, "workspace.create": 5, "workspace.rename": 2, "user.status": 13, "user.access": 100 + 20}
	for k, n := range want {
		if count[k] != n {
			t.Fatalf("audit %s: %d entries, want %d (all: %v)", k, count[k], n, count)
		}
	}
	for m, p := range people {
		st, ok := last[m]
		if !ok {
			if !p.active {
				t.Fatalf("%s deactivated without an audit entry", m)
			}
			continue
		}
		if (st == string(org.StatusActive)) != p.active {
			t.Fatalf("%s: last audit status %s, the provider says active=%v", m, st, p.active)
		}
	}
}

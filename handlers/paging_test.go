package handlers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// walk follows a list's Next button from its first page to its last, as a
// person clicking would, and returns every page.
func walk(t *testing.T, e *env, who, first string) []handlers.Reply {
	t.Helper()
	var pages []handlers.Reply
	cmd := first
	for range 50 {
		r := e.ok(who, cmd)
		pages = append(pages, r)
		next := ""
		for _, b := range r.Buttons {
			if b.Label == "Next" {
				next = b.Command
			}
		}
		if next == "" {
			return pages
		}
		cmd = next
	}
	t.Fatalf("%s: more than 50 pages", first)
	return nil
}

func fieldOf(it handlers.Item, label string) string {
	for _, f := range it.Fields {
		if f.Label == label {
			return f.Value
		}
	}
	return ""
}

func buttons(r handlers.Reply) map[string]string {
	m := map[string]string{}
	for _, b := range r.Buttons {
		m[b.Label] = b.Command
	}
	return m
}

func TestPagedInvitations(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "settings invites-per-day 1000")
	e.ok(boss, "workspace create acme")
	var sent []string // oldest first
	for i := range 60 {
		email := fmt.Sprintf("inv%02d@example.com", i)
		flags := []string{}
		if i%4 == 0 {
			flags = append(flags, "--workspace", "acme")
		}
		id, _ := e.invite(boss, email, flags...)
		sent = append(sent, id)
		e.clock.Advance(time.Minute)
	}
	pages := walk(t, e, boss, "invitations")
	if len(pages) != 4 {
		t.Fatalf("%d pages, want 4 (60 at %d a page)", len(pages), handlers.InvitationsPerPage)
	}
	var ids []string
	for i, p := range pages {
		want := fmt.Sprintf("Page %d of 4 · 60 pending invitations in ", i+1)
		if !strings.HasPrefix(p.Text, want) {
			t.Errorf("page %d text %q, want prefix %q", i+1, p.Text, want)
		}
		if len(p.Items) != 15 {
			t.Errorf("page %d has %d items", i+1, len(p.Items))
		}
		for _, it := range p.Items {
			ids = append(ids, fieldOf(it, "ID"))
		}
	}
	newestFirst := slices.Clone(sent)
	slices.Reverse(newestFirst)
	if !slices.Equal(ids, newestFirst) {
		t.Fatalf("pages are not every invitation once, newest first:\n got %v\nwant %v", ids, newestFirst)
	}
	if b := buttons(pages[1]); b["Previous"] != "invitations --page 1" || b["Next"] != "invitations --page 3" {
		t.Errorf("page 2 buttons %v", b)
	}
	// The same page again is the same rows (a stable order).
	again := e.ok(boss, "invitations --page 2")
	if fieldOf(again.Items[0], "ID") != ids[15] || fieldOf(again.Items[14], "ID") != ids[29] {
		t.Errorf("page 2 changed between reads")
	}

	// Search: the invitations granting acme (15 of them), case-insensitive.
	s := walk(t, e, boss, "invitations --search ACME")
	if len(s) != 1 || len(s[0].Items) != 15 || !strings.Contains(s[0].Text, `15 pending invitations in `) || !strings.Contains(s[0].Text, `matching "ACME"`) {
		t.Fatalf("search: %d pages, %q, %d items", len(s), s[0].Text, len(s[0].Items))
	}
	s = walk(t, e, boss, "invitations --search inv1")
	if len(s[0].Items) != 10 {
		t.Errorf("search inv1: %d items, want 10", len(s[0].Items))
	}
	s2 := e.ok(boss, "invitations --search inv --page 2")
	if b := buttons(s2); b["Next"] != "invitations --page 3 --search inv" || b["Previous"] != "invitations --page 1 --search inv" {
		t.Errorf("search buttons %v", b)
	}
	mine := e.ok(boss, "invitations --mine --page 2")
	if b := buttons(mine); b["Next"] != "invitations --mine --page 3" {
		t.Errorf("--mine buttons %v", b)
	}

	// Past the end: said so, with the last page offered.
	past := e.run(boss, "invitations --page 9")
	if past.Code != org.CodeNotFound || !strings.Contains(past.Text, "There is no page 9: 60 invitations make 4 pages.") || buttons(past)["Last page"] != "invitations --page 4" {
		t.Errorf("past the end: %s %q %v", past.Code, past.Text, past.Buttons)
	}
	none := e.run(boss, "invitations --search zzz --page 2")
	if none.Code != org.CodeNotFound || buttons(none)["First page"] != "invitations --page 1 --search zzz" {
		t.Errorf("past the end of nothing: %q %v", none.Text, none.Buttons)
	}
	for _, bad := range []string{"invitations --page 0", "invitations --page x", "invitations --page -1", "invitations --search ''"} {
		r := e.run(boss, bad)
		if r.Code != org.CodeInvalid || !strings.Contains(r.Text, "--") || !strings.Contains(r.Footer, "Usage: invitations") {
			t.Errorf("%s: %s %q %q", bad, r.Code, r.Text, r.Footer)
		}
	}
}

func TestPagedMembers(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "settings invites-per-day 1000")
	e.ok(boss, "workspace create acme")
	want := []string{boss}
	for i := range 59 {
		email := fmt.Sprintf("m%02d@example.com", 58-i) // joined in reverse email order
		flags := []string{}
		if i%3 == 0 {
			flags = []string{"--workspace", "acme"}
		}
		e.join(email, org.RoleMember, flags...)
		want = append(want, email)
	}
	slices.Sort(want)
	pages := walk(t, e, "m07@example.com", "members")
	if len(pages) != 3 {
		t.Fatalf("%d pages, want 3 (60 at %d a page)", len(pages), handlers.MembersPerPage)
	}
	var got []string
	for i, p := range pages {
		if !strings.HasPrefix(p.Text, fmt.Sprintf("Page %d of 3 · 60 members.", i+1)) {
			t.Errorf("page %d: %q", i+1, p.Text)
		}
		for _, it := range p.Items {
			got = append(got, strings.Fields(it.Text)[0])
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("members not each once by email:\n got %v\nwant %v", got, want)
	}
	s := e.ok(boss, "members --search Acme") // boss manages acme, as its creator
	if len(s.Items) != 20 || s.Text != `Page 1 of 2 · 21 members match "Acme".` || buttons(s)["Next"] != "members --page 2 --search Acme" {
		t.Errorf("search: %q, %d items, %v", s.Text, len(s.Items), s.Buttons)
	}
	f := e.ok(boss, "members --role member --page 2")
	if b := buttons(f); b["Next"] != "members --role member --page 3" || b["Previous"] != "members --role member --page 1" {
		t.Errorf("filtered buttons %v", b)
	}
	if r := e.run(boss, "members --page 4"); r.Code != org.CodeNotFound || buttons(r)["Last page"] != "members --page 3" {
		t.Errorf("past the end: %q %v", r.Text, r.Buttons)
	}
}

func TestPagedRequestsAndAudit(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "settings invites-per-day 1000")
	e.ok(boss, "settings anyone-can-invite approval")
	const asker = "asker@example.com"
	e.join(asker, org.RoleMember)
	for i := range 30 {
		e.ok(asker, fmt.Sprintf("invite req%02d@example.com --role viewer", i))
		e.clock.Advance(time.Minute)
	}
	pages := walk(t, e, boss, "requests")
	if len(pages) != 2 {
		t.Fatalf("%d pages of requests", len(pages))
	}
	var got []string
	for _, p := range pages {
		for _, it := range p.Items {
			got = append(got, strings.Fields(it.Text)[4])
		}
	}
	for i, g := range got {
		if g != fmt.Sprintf("req%02d@example.com", i) {
			t.Fatalf("requests not oldest first, each once: %v", got)
		}
	}
	if !strings.HasPrefix(pages[1].Text, "Page 2 of 2 · 30 requests wait for approval:") || buttons(pages[1])["Previous"] != "requests --page 1" {
		t.Errorf("page 2: %q %v", pages[1].Text, pages[1].Buttons)
	}
	if s := e.ok(boss, "requests --search REQ2"); len(s.Items) != 10 {
		t.Errorf("search: %d", len(s.Items))
	}

	// The audit log: every entry once, newest first, 25 a page.
	for i := range 100 {
		e.ok(boss, fmt.Sprintf("settings invite-expiry %dd", i%20+1))
	}
	all := walk(t, e, boss, "audit")
	var lines []string
	for _, p := range all {
		for _, it := range p.Items {
			lines = append(lines, it.Text)
		}
	}
	n := len(lines)
	if n < 120 || len(all) != (n+24)/25 {
		t.Fatalf("%d entries on %d pages", n, len(all))
	}
	if !strings.HasPrefix(all[0].Text, fmt.Sprintf("Page 1 of %d · %d entries, newest first:", len(all), n)) {
		t.Errorf("audit head %q", all[0].Text)
	}
	sorted := slices.Clone(lines)
	slices.SortStableFunc(sorted, func(a, b string) int { return strings.Compare(b[:16], a[:16]) })
	if !slices.Equal(lines, sorted) {
		t.Errorf("audit not newest first")
	}
	s := walk(t, e, boss, "audit --search INVITATION.REQUEST")
	var hits int
	for _, p := range s {
		for _, it := range p.Items {
			if !strings.Contains(it.Text, "invitation.request") {
				t.Errorf("search hit %q", it.Text)
			}
			hits++
		}
	}
	if hits != 30 {
		t.Errorf("%d invitation.request entries, want 30", hits)
	}
	if b := buttons(s[0]); b["Next"] != "audit --page 2 --search INVITATION.REQUEST" {
		t.Errorf("audit buttons %v", b)
	}
	if b := buttons(e.ok(boss, "audit --user asker@example.com --page 1")); b["Next"] != "audit --user asker@example.com --page 2" {
		t.Errorf("audit --user buttons %v", b)
	}
}

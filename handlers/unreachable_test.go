package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// settleBulk records the invitations of bulk reply r as the delivery router
// does: the first delivered ones in chat, the rest on no platform (no
// "where": nobody was shown a link). It returns the unreachable ones'
// deliveries, in the order they settled.
func (e *env) settleBulk(r handlers.Reply, delivered int) (id string, away []handlers.Delivery) {
	e.t.Helper()
	ctx := context.Background()
	id = r.Deliveries[0].Progress
	for i, d := range r.Deliveries[1:] {
		outcome, where := org.ProgressDelivered, "test direct message"
		if i >= delivered {
			outcome, where = org.ProgressUnreachable, ""
			away = append(away, d)
		}
		if err := e.svc.RecordProgress(ctx, id, d.InvitationID, where, outcome); err != nil {
			e.t.Fatal(err)
		}
	}
	return id, away
}

// TestBulkUnreachableLinks: a bulk of 40 of whom 30 are on no platform.
// They are counted and listed together (a job recorded twice is in both
// once); Show their links lists them 15 a page, each pending one with a
// fresh link (the old one dies, audited as the link command audits it),
// the accepted and revoked ones as such; a fresh link accepts through the
// ordinary web path.
func TestBulkUnreachableLinks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.ok(boss, "invite "+strings.Join(addresses("u", 40), " "))
	id, away := e.settleBulk(r, 10)
	if err := e.svc.RecordProgress(ctx, id, away[3].InvitationID, "", org.ProgressUnreachable); err != nil { // a retried job
		t.Fatal(err)
	}
	if p := e.progress(id); p.Unreachable != 30 || p.Delivered != 10 {
		t.Fatalf("counts %+v", p)
	}
	if pg, ok, err := e.store.ProgressUnreachable(ctx, id, 0, 100); err != nil || !ok || pg.Listed != 30 || len(pg.Invitations) != 30 || pg.Invitations[0] != away[0].InvitationID {
		t.Fatalf("list: %v %v %d %v", ok, err, pg.Listed, pg.Invitations)
	}
	if inv := e.invitation(away[5].InvitationID); !strings.Contains(inv.Delivery, "Show their links") {
		t.Errorf("delivery record of one not in chat: %q", inv.Delivery)
	}
	// One accepted with the link the outbox carried, one revoked.
	oldLink := func(d handlers.Delivery) string {
		m := linkPattern.FindStringSubmatch(d.Message.Footer)
		if m == nil {
			t.Fatalf("no link in %q", d.Message.Footer)
		}
		return m[1]
	}
	if _, err := e.svc.AcceptWithToken(ctx, oldLink(away[0]), "Uno", "a long enough password 1"); err != nil {
		t.Fatal(err)
	}
	e.ok(boss, "revoke "+away[1].InvitationID+" --confirm")
	auditBefore := e.links()

	page := e.ok(boss, handlers.UnreachableCommand(id))
	if !strings.HasPrefix(page.Text, "Page 1 of 2 · 30 people of bulk invitation "+id+" not in chat") || len(page.Items) != 15 {
		t.Fatalf("page 1: %q, %d rows", page.Text, len(page.Items))
	}
	if !strings.Contains(page.Items[0].Text, "accepted") || linkPattern.MatchString(page.Items[0].Text) {
		t.Errorf("accepted row: %q", page.Items[0].Text)
	}
	if !strings.Contains(page.Items[1].Text, "revoked") || linkPattern.MatchString(page.Items[1].Text) {
		t.Errorf("revoked row: %q", page.Items[1].Text)
	}
	fresh := map[string]string{} // invitation id -> new token
	for _, it := range page.Items[2:] {
		m := linkPattern.FindStringSubmatch(it.Text)
		if m == nil {
			t.Fatalf("no link in %q", it.Text)
		}
		fresh[it.Fields[0].Value] = m[1]
	}
	if len(page.Buttons) != 1 || page.Buttons[0].Label != "Next" || page.Buttons[0].Command != handlers.UnreachableCommand(id)+" --page 2" {
		t.Errorf("page 1 buttons %+v", page.Buttons)
	}
	if got := e.links() - auditBefore; got != 13 {
		t.Errorf("%d invitation.link audit entries for page 1, want 13", got)
	}
	// The old link died with the rotation; the new one accepts.
	two := away[2]
	if _, err := e.svc.AcceptWithToken(ctx, oldLink(two), "Dos", "a long enough password 2"); err == nil {
		t.Error("the link from before Show their links still accepts")
	}
	if _, err := e.svc.AcceptWithToken(ctx, fresh[two.InvitationID], "Dos", "a long enough password 2"); err != nil {
		t.Fatalf("the fresh link: %v", err)
	}
	if u := e.user(two.To); u == nil || u.Status != org.StatusActive {
		t.Errorf("%s after accepting with the fresh link: %+v", two.To, u)
	}

	page2 := e.ok(boss, page.Buttons[0].Command)
	if !strings.HasPrefix(page2.Text, "Page 2 of 2 · ") || len(page2.Items) != 15 || page2.Items[0].Fields[0].Value != away[15].InvitationID {
		t.Fatalf("page 2: %q, %d rows", page2.Text, len(page2.Items))
	}
	for _, it := range page2.Items {
		if !linkPattern.MatchString(it.Text) {
			t.Errorf("page 2 row without a link: %q", it.Text)
		}
	}
	if len(page2.Buttons) != 1 || page2.Buttons[0].Label != "Previous" {
		t.Errorf("page 2 buttons %+v", page2.Buttons)
	}
	// Showing page 1 again: the one accepted meanwhile is shown as such.
	again := e.ok(boss, handlers.UnreachableCommand(id))
	if !strings.Contains(again.Items[2].Text, "accepted") || linkPattern.MatchString(again.Items[2].Text) {
		t.Errorf("accepted since: %q", again.Items[2].Text)
	}
	if r := e.run(boss, handlers.UnreachableCommand(id)+" --page 3"); r.Code != org.CodeNotFound {
		t.Errorf("page 3: %s %q", r.Code, r.Text)
	}
}

func (e *env) links() int {
	e.t.Helper()
	snap, err := e.store.Load(context.Background(), org.Query{AuditLimit: 5000})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, a := range snap.Audit {
		if a.Action == "invitation.link" {
			n++
		}
	}
	return n
}

// TestBulkUnreachableRefusals: bad ids and flags are answered; a member
// gets no links of an admin's bulk (nor learns whether it exists); a
// member's own bulk lists its people without links, as its progress
// message says.
func TestBulkUnreachableRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const mem = "mem@example.com"
	e.ok(boss, "settings anyone-can-invite on")
	e.join(mem, org.RoleMember)
	id, _ := e.settleBulk(e.ok(boss, "invite "+strings.Join(addresses("b", 25), " ")), 20)

	for _, c := range []struct {
		who, cmd string
		code     org.Code
	}{
		{boss, "invitations --unreachable", org.CodeInvalid}, // the flag needs its value
		{boss, "invitations --unreachable 'a b'", org.CodeInvalid},
		{boss, "invitations --unreachable " + id + " --all", org.CodeInvalid},
		{boss, "invitations --unreachable " + id + " --page 0", org.CodeInvalid},
		{boss, "invitations --unreachable zzzzzzzz", org.CodeNotFound},
		{mem, handlers.UnreachableCommand(id), org.CodeForbidden},
		{mem, "invitations --unreachable zzzzzzzz", org.CodeForbidden},
	} {
		r := e.run(c.who, c.cmd)
		if r.Code != c.code || linkPattern.MatchString(r.Text) {
			t.Errorf("%s: %s: %s %q, want %s", c.who, c.cmd, r.Code, r.Text, c.code)
		}
	}

	own := e.ok(mem, "invite "+strings.Join(addresses("m", 22), " ")+" --role viewer")
	mid, _ := e.settleBulk(own, 19)
	if err := e.svc.AnchorProgress(ctx, mid, org.ProgressAnchor{Platform: "test", Channel: "D1", Message: "1.0"}); err != nil {
		t.Fatal(err)
	}
	up, _, err := e.svc.ClaimProgress(ctx, mid, time.Hour)
	if err != nil || up == nil {
		t.Fatalf("final update: %+v %v", up, err)
	}
	if want := "All 22 invitations delivered or reported: 19 delivered, 3 not in chat: use Show who they are."; up.Message.Text != want || len(up.Message.Buttons) != 1 {
		t.Errorf("a member's progress: %q %+v", up.Message.Text, up.Message.Buttons)
	}
	list := e.ok(mem, up.Message.Buttons[0].Command)
	if len(list.Items) != 3 {
		t.Fatalf("%d rows: %+v", len(list.Items), list)
	}
	for _, it := range list.Items {
		if linkPattern.MatchString(it.Text) || !strings.Contains(it.Text, "An admin can show the link") {
			t.Errorf("a member's row: %q", it.Text)
		}
	}
	// The admin may show them.
	if r := e.ok(boss, handlers.UnreachableCommand(mid)); len(r.Items) != 3 || !linkPattern.MatchString(r.Items[0].Text) {
		t.Errorf("the admin on a member's bulk: %+v", r.Items)
	}
}

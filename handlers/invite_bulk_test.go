package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// addresses are n fresh addresses: who0@example.com, ...
func addresses(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d@example.com", prefix, i)
	}
	return out
}

// state is what Redis holds for a bulk invitation's people, read on the side.
type bulkState struct {
	open    map[string]*org.Invitation
	users   map[string]*org.User
	creates int // invitation.create audit entries
	quota   int
}

func (e *env) bulkState(emails []string) bulkState {
	e.t.Helper()
	snap, err := e.store.Load(context.Background(), org.Query{Users: emails, OpenFor: emails, AuditLimit: 5000,
		QuotaOf: boss, QuotaDay: e.clock.Now().UTC().Format("20060102")})
	if err != nil {
		e.t.Fatal(err)
	}
	st := bulkState{open: snap.Open, users: snap.Users, quota: snap.Quota}
	for _, a := range snap.Audit {
		if a.Action == "invitation.create" {
			st.creates++
		}
	}
	return st
}

func (e *env) progress(id string) org.ProgressState {
	e.t.Helper()
	st, ok, err := e.store.Progress(context.Background(), id)
	if err != nil || !ok {
		e.t.Fatalf("progress %s: found %v, %v", id, ok, err)
	}
	return st
}

// progressOf is the progress record a bulk reply's invitations count into,
// checking that the progress message comes first.
func progressOf(t *testing.T, r handlers.Reply) string {
	t.Helper()
	if len(r.Deliveries) == 0 || !r.Deliveries[0].ProgressAnchor || r.Deliveries[0].To != boss {
		t.Fatalf("a bulk reply's first delivery is not the progress message to its sender: %+v", r.Deliveries[:min(1, len(r.Deliveries))])
	}
	return r.Deliveries[0].Progress
}

func itemWith(t *testing.T, r handlers.Reply, text string) string {
	t.Helper()
	for _, it := range r.Items {
		if strings.Contains(it.Text, text) {
			return it.Text
		}
	}
	t.Errorf("no row %q in the answer; rows: %+v", text, r.Items)
	return ""
}

// TestBulkInviteMixedInput: a pasted list with invalid addresses, repeats,
// members, a deactivated user, pending invitations and addresses in another
// domain is answered once, with each kind counted and named, and only the
// fresh addresses are invited: nothing is written for the others.
func TestBulkInviteMixedInput(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "settings allowed-domains example.com")
	e.join("member1@example.com", org.RoleMember)
	e.join("member2@example.com", org.RoleViewer)
	e.join("gone@example.com", org.RoleMember)
	e.ok(boss, "deactivate gone@example.com --confirm")
	pend1, _ := e.invite(boss, "pending1@example.com")
	pend2, _ := e.invite(boss, "pending2@example.com")
	before := e.bulkState([]string{boss})

	fresh := addresses("new", 30)
	list := []string{strings.Join(fresh[:10], ", "), strings.Join(fresh[10:20], "\n"), strings.Join(fresh[20:], " ; "),
		"New3@Example.com", "new7@example.com", // repeats, in other capitals too
		"not-an-address", "bob@", "@example.com", // not addresses
		"member1@example.com", "Member2@example.com", "gone@example.com", "pending1@example.com", "pending2@example.com",
		"dana@partner.example", "eve@other.example", // other domains
		"Carol Jones <carol@example.com>", // from a mail client
	}
	r := e.run(boss, "invite "+strings.Join(list, "\n"))
	if r.Code != "" || r.Tone != handlers.ToneWarning {
		t.Fatalf("mixed bulk: %s %s: %s", r.Code, r.Tone, r.Text)
	}
	// 31 invited (30 fresh and carol), 6 skipped (2 repeats, 2 members, 2 pending), 6 refused (3 invalid, 2 domains, 1 deactivated).
	if want := "Invited 31 of 43 addresses; 6 skipped, 6 refused."; r.Text != want {
		t.Errorf("answer %q, want %q", r.Text, want)
	}
	itemWith(t, r, "2 named more than once")
	itemWith(t, r, "2 already members: member1@example.com, Member2@example.com")
	itemWith(t, r, "2 already have a pending invitation")
	itemWith(t, r, "3 not email addresses: not-an-address, bob@, @example.com")
	itemWith(t, r, "2 in a domain that is not allowed")
	itemWith(t, r, "1 has a deactivated account")
	if len(r.Items) != 7 {
		t.Errorf("%d rows, want one per kind (6) and how to resend: %+v", len(r.Items), r.Items)
	}

	emails := append(append([]string{"carol@example.com", "member1@example.com", "member2@example.com", "gone@example.com", "pending1@example.com", "pending2@example.com",
		"dana@partner.example", "eve@other.example"}, fresh...), boss)
	st := e.bulkState(emails)
	for _, f := range append(fresh, "carol@example.com") {
		if inv := st.open[f]; inv == nil || inv.Status != org.InvitationPending || inv.Inviter != boss {
			t.Errorf("%s: open invitation %+v, want a pending one from %s", f, inv, boss)
		}
	}
	for _, f := range []string{"member1@example.com", "member2@example.com", "gone@example.com", "dana@partner.example", "eve@other.example"} {
		if st.open[f] != nil {
			t.Errorf("%s was given an invitation: %+v", f, st.open[f])
		}
	}
	if st.open["pending1@example.com"].ID != pend1 || st.open["pending2@example.com"].ID != pend2 {
		t.Errorf("pending invitations replaced: %s %s", st.open["pending1@example.com"].ID, st.open["pending2@example.com"].ID)
	}
	if u := st.users["gone@example.com"]; u == nil || u.Active() {
		t.Errorf("the deactivated user changed: %+v", u)
	}
	if got := st.creates - before.creates; got != 31 {
		t.Errorf("%d invitation.create audit entries, want 31", got)
	}
	if got := st.quota - before.quota; got != 31 {
		t.Errorf("quota moved by %d, want 31", got)
	}
	id := progressOf(t, r)
	if p := e.progress(id); p.Total != 31 || !p.Sealed || p.Sender != boss || p.Settled() != 0 {
		t.Errorf("progress record %+v, want 31 to deliver, sealed, for %s", p, boss)
	}
	n := 0
	for _, d := range r.Deliveries[1:] {
		if d.Kind == handlers.DeliverInvitation {
			n++
			if d.Progress != id || d.OnDelivered != nil || d.OnUnreachable == nil {
				t.Errorf("invitation to %s: progress %q, on delivered %v, on unreachable %v", d.To, d.Progress, d.OnDelivered, d.OnUnreachable)
			}
		}
	}
	if n != 31 {
		t.Errorf("%d invitations delivered, want 31", n)
	}
}

// TestBulkInviteOverTheLimit: the daily quota is checked for the list as a
// whole before anything is written, as for a short list.
func TestBulkInviteOverTheLimit(t *testing.T) {
	e := newEnv(t)
	list := addresses("q", 60)
	r := e.run(boss, "invite "+strings.Join(list, " "))
	if r.Code != org.CodeLimit || !strings.Contains(r.Text, "--force") {
		t.Fatalf("60 invitations past the default limit of 50: %s: %s", r.Code, r.Text)
	}
	if st := e.bulkState(list); len(st.open) != 0 || st.quota != 0 {
		t.Errorf("refused, yet %d invitations and a quota of %d", len(st.open), st.quota)
	}
	if r := e.run(boss, "invite "+strings.Join(addresses("r", 1001), " ")+" --force"); r.Code != org.CodeInvalid || !strings.Contains(r.Text, "at most 1,000") {
		t.Errorf("1,001 addresses: %s: %s", r.Code, r.Text)
	}
}

// scriptCalls counts apply.lua's calls (commits) through a client.
type scriptCalls struct {
	mu sync.Mutex
	n  int
}

func (s *scriptCalls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (s *scriptCalls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	commit := redistest.ScriptCallStartingWith("once")
	return func(ctx context.Context, cmd redis.Cmder) error {
		if commit(cmd.Args()) {
			s.mu.Lock()
			s.n++
			s.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}
func (s *scriptCalls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestBulkInviteThousand: 1,000 addresses are committed in ten batches of
// 100 (and the progress message's own step), and answered in three lines.
func TestBulkInviteThousand(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	calls := &scriptCalls{}
	rdb.AddHook(calls)
	e := newEnvOn(t, rdb)
	list := addresses("k", 1000)
	calls.n = 0
	r := e.run(boss, "invite "+strings.Join(list, "\n")+" --force")
	if r.Code != "" || r.Text != "Invited 1,000 of 1,000 addresses; 0 skipped, 0 refused." || len(r.Items) != 0 {
		t.Fatalf("1,000: %s: %s %+v", r.Code, r.Text, r.Items)
	}
	if calls.n != 11 {
		t.Errorf("%d commits, want 10 batches and the progress message's", calls.n)
	}
	st := e.bulkState(list)
	if len(st.open) != 1000 || st.creates != 1000 || st.quota != 1000 {
		t.Errorf("%d open invitations, %d audit entries, quota %d; want 1,000 each", len(st.open), st.creates, st.quota)
	}
	if p := e.progress(progressOf(t, r)); p.Total != 1000 || !p.Sealed {
		t.Errorf("progress %+v", p)
	}
	if got := len(r.Deliveries); got != 1001 {
		t.Errorf("%d deliveries, want 1,000 invitations and the progress message", got)
	}
}

// TestBulkInviteRedisFaultMidway: the third batch's commit is lost on its
// way to Redis. The first two batches stay whole, the third and the rest
// are not written at all, and the answer says so and what to do; the same
// command again invites the rest and skips those already invited.
func TestBulkInviteRedisFaultMidway(t *testing.T) {
	srv, rdb, fault := redistest.FaultyClient(t, storage.ChatTimeouts)
	e := newEnvOn(t, rdb)
	list := addresses("f", 350)
	calls := 0
	commit := redistest.ScriptCallStartingWith("once")
	fault.Match = func(args []any) bool {
		if !commit(args) {
			return false
		}
		calls++
		return calls == 3
	}
	fault.Arm(redistest.DropCommand)
	r := e.run(boss, "invite "+strings.Join(list, " ")+" --force")
	if r.Code != "" || r.Tone != handlers.ToneWarning || !strings.HasPrefix(r.Text, "Invited 200 of 350 addresses; 0 skipped, 150 refused.") {
		t.Fatalf("fault at the third batch: %s %s: %s", r.Code, r.Tone, r.Text)
	}
	row := itemWith(t, r, "150 not invited: usher can't reach its database right now: f200@example.com")
	if !strings.Contains(r.Footer, "nothing half-written") || !strings.Contains(r.Footer, "Run the same command again") {
		t.Errorf("footer %q; row %q", r.Footer, row)
	}
	_ = srv
	st := e.bulkState(list)
	for i, f := range list {
		if (st.open[f] != nil) != (i < 200) {
			t.Errorf("%s (#%d): open invitation %v; want one for the first two batches only", f, i, st.open[f] != nil)
		}
	}
	if st.creates != 200 || st.quota != 200 {
		t.Errorf("%d audit entries, quota %d; want 200 each", st.creates, st.quota)
	}
	// Redis was unreachable a moment ago: no progress message is started
	// (another step would wait out the same outage), the invitations saved
	// still count into their record.
	if len(r.Deliveries) != 200 || r.Deliveries[0].ProgressAnchor || !strings.Contains(r.Footer, "No progress message follows") {
		t.Errorf("%d deliveries, the first a progress message: %v; footer %q", len(r.Deliveries), len(r.Deliveries) > 0 && r.Deliveries[0].ProgressAnchor, r.Footer)
	}
	if p := e.progress(r.Deliveries[0].Progress); p.Total != 200 || p.Sealed {
		t.Errorf("progress %+v, want the 200 committed, unsealed", p)
	}

	r = e.run(boss, "invite "+strings.Join(list, " ")+" --force")
	if r.Code != "" || r.Text != "Invited 150 of 350 addresses; 200 skipped, 0 refused." {
		t.Fatalf("again: %s: %s", r.Code, r.Text)
	}
	if st := e.bulkState(list); len(st.open) != 350 || st.creates != 350 {
		t.Errorf("after the second run: %d open, %d audit entries", len(st.open), st.creates)
	}
}

// TestBulkInviteDecidesMovedBatchAgain: another admin invites one of the
// list's people between the bulk's read and its commit. The batch holding
// them is decided again on a fresh read: that person is reported as having
// a pending invitation, everyone else is invited.
func TestBulkInviteDecidesMovedBatchAgain(t *testing.T) {
	srv, rdb, fault := redistest.FaultyClient(t, storage.ChatTimeouts)
	_ = srv
	e := newEnvOn(t, rdb)
	e.join("other@example.com", org.RoleAdmin)
	list := addresses("m", 40)
	// The first commit after arming is the bulk's: before it runs, the
	// other admin's invitation lands (on a connection of its own).
	side := handlersOn(t, srv, e)
	var once sync.Once
	fault.Match = func(args []any) bool {
		if redistest.ScriptCallStartingWith("once")(args) {
			once.Do(func() { side.ok("other@example.com", "invite m5@example.com") })
		}
		return false
	}
	fault.Arm(redistest.DropCommand)
	r := e.run(boss, "invite "+strings.Join(list, " "))
	if r.Code != "" || r.Text != "Invited 39 of 40 addresses; 1 skipped, 0 refused." {
		t.Fatalf("%s: %s %+v", r.Code, r.Text, r.Items)
	}
	itemWith(t, r, "1 already has a pending invitation, left as it is: m5@example.com")
}

// handlersOn is a second service on the same organization, on a client of
// its own (another replica).
func handlersOn(t *testing.T, srv *redistest.Server, e *env) *env {
	t.Helper()
	st, err := storage.New(srv.Client(t), org.ID(e.org))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := handlers.New(handlers.Config{Store: st, PublicURL: "https://usher.test", Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, rdb: e.rdb, org: e.org, store: st, svc: svc, clock: e.clock}
}

// TestBulkProgressReachesFinalCount: the invitations of a bulk settle (in
// chat, by email, on no platform; one recorded twice); the progress message
// is due at most every interval and at once for the final count, which is
// the truth, and is shown once.
func TestBulkProgressReachesFinalCount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	list := addresses("p", 25)
	r := e.ok(boss, "invite "+strings.Join(list, " "))
	id := progressOf(t, r)
	if err := e.svc.AnchorProgress(ctx, id, org.ProgressAnchor{Platform: "test", Channel: "D1", Message: "1.0"}); err != nil {
		t.Fatal(err)
	}
	every := time.Hour // only the final count is due in this test's time
	for i, d := range r.Deliveries[1:] {
		outcome, where := org.ProgressDelivered, "test direct message"
		switch {
		case i >= 23:
			outcome, where = org.ProgressUnreachable, "shown to "+boss
		case i >= 20:
			outcome, where = org.ProgressEmailed, "emailed to "+d.To
		}
		if err := e.svc.RecordProgress(ctx, id, d.InvitationID, where, outcome); err != nil {
			t.Fatal(err)
		}
		if i == 3 { // a retried job records its delivery again: counted once
			if err := e.svc.RecordProgress(ctx, id, d.InvitationID, where, outcome); err != nil {
				t.Fatal(err)
			}
		}
		up, wait, err := e.svc.ClaimProgress(ctx, id, every)
		if err != nil {
			t.Fatal(err)
		}
		if i < 24 {
			if up != nil || wait <= 0 {
				t.Fatalf("after %d settled: update %+v, retry in %v; want none yet, a retry later", i+1, up, wait)
			}
			continue
		}
		if up == nil || !up.Final || up.Anchor.Message != "1.0" {
			t.Fatalf("the last one settled: update %+v", up)
		}
		want := "All 25 invitations delivered or reported: 23 delivered (3 by email), 2 not in chat: use Show their links."
		if up.Message.Text != want {
			t.Errorf("final progress %q, want %q", up.Message.Text, want)
		}
		if b := up.Message.Buttons; len(b) != 1 || b[0].Label != "Show their links" || b[0].Command != "invitations --unreachable "+id {
			t.Errorf("final progress buttons %+v", b)
		}
		if again, err := e.svc.ProgressShown(ctx, up, every); err != nil || again != 0 {
			t.Errorf("shown: again in %v, %v", again, err)
		}
	}
	if up, _, _ := e.svc.ClaimProgress(ctx, id, 0); up != nil {
		t.Errorf("the final count was shown, yet another update is due: %+v", up)
	}
	if inv := e.invitation(r.Deliveries[1].InvitationID); inv.Delivery != "test direct message" {
		t.Errorf("delivery record %q", inv.Delivery)
	}
	if p := e.progress(id); p.Delivered != 20 || p.Emailed != 3 || p.Unreachable != 2 {
		t.Errorf("counts %+v", p)
	}
}

// TestProgressMessage: what the message says on the way and at the end.
func TestProgressMessage(t *testing.T) {
	for _, c := range []struct {
		st   org.ProgressState
		want string
	}{
		{org.ProgressState{Total: 1000}, "0 of 1,000 delivered."},
		{org.ProgressState{Total: 1000, Sealed: true, Delivered: 310, Emailed: 2, Unreachable: 2}, "312 of 1,000 delivered (2 by email), 2 not in chat: use Show their links."},
		{org.ProgressState{Total: 30, Sealed: true, Delivered: 20, Unreachable: 10}, "All 30 invitations delivered or reported: 20 delivered, 10 not in chat: use Show their links."},
		{org.ProgressState{Total: 30, Sealed: true, Delivered: 20, Unreachable: 10, NoLinks: true}, "All 30 invitations delivered or reported: 20 delivered, 10 not in chat: use Show who they are."},
		{org.ProgressState{Total: 1000, Sealed: true, Delivered: 1000}, "All 1,000 invitations delivered or reported: 1,000 delivered."},
	} {
		if got := handlers.ProgressMessage(c.st).Text; got != c.want {
			t.Errorf("%+v: %q, want %q", c.st, got, c.want)
		}
	}
}

// TestBulkInviteUnderApproval: a member's bulk list under anyone-can-invite
// approval becomes requests, each for the admins to approve as today; no
// progress message is started, as nothing is delivered to the invitees yet.
func TestBulkInviteUnderApproval(t *testing.T) {
	e := newEnv(t)
	e.ok(boss, "settings anyone-can-invite approval")
	e.join("mem@example.com", org.RoleMember)
	list := addresses("a", 22)
	r := e.run("mem@example.com", "invite "+strings.Join(list, ",")+", boss@example.com")
	if r.Code != "" || r.Text != "Sent for approval 22 of 23 addresses; 1 skipped, 0 refused." {
		t.Fatalf("%s: %s", r.Code, r.Text)
	}
	requests := 0
	for _, d := range r.Deliveries {
		if d.ProgressAnchor || d.Progress != "" {
			t.Errorf("a request counts into a progress message: %+v", d)
		}
		if d.Kind == handlers.DeliverRequest && d.To == boss {
			requests++
		}
	}
	if requests != 22 {
		t.Errorf("%d requests to the admin, want 22", requests)
	}
	if st := e.bulkState(list); len(st.open) != 22 || st.open[list[0]].Status != org.InvitationRequested {
		t.Errorf("%d open, first %+v", len(st.open), st.open[list[0]])
	}
}

// TestBulkInviteUpdate: --update over a list gives the pending invitations
// among it the new terms and invites the others, counted apart.
func TestBulkInviteUpdate(t *testing.T) {
	e := newEnv(t)
	list := addresses("u", 25)
	e.ok(boss, "invite "+strings.Join(list[:21], " "))
	r := e.ok(boss, "invite "+strings.Join(list, " ")+" --role viewer --update")
	if r.Text != "Invited 4 and updated 21 of 25 addresses; 0 skipped, 0 refused." {
		t.Errorf("answer %q", r.Text)
	}
	st := e.bulkState(list)
	for _, f := range list {
		if inv := st.open[f]; inv == nil || inv.Role != org.RoleViewer {
			t.Errorf("%s: %+v, want a pending invitation as viewer", f, inv)
		}
	}
	if p := e.progress(progressOf(t, r)); p.Total != 25 {
		t.Errorf("progress %+v: the updated invitations are delivered too", p)
	}
}

package handlers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

const day = 24 * time.Hour

// newSchedEnv is newEnv with the scheduler's cron reader wired in, as
// cmd/usher does; tune adjusts the config (e.g. the sweep's lease).
func newSchedEnv(t testing.TB, rdb *redis.Client, tune func(*handlers.Config)) *env {
	t.Helper()
	o := handlerstest.NewOrg(t, rdb, "r", boss, schedConfig(tune))
	return &env{t: t, rdb: rdb, org: o.ID, store: o.Store, svc: o.Service, clock: o.Clock}
}

// schedConfig is a Service's configuration with the scheduler wired in,
// adjusted by tune (when set).
func schedConfig(tune func(*handlers.Config)) handlers.Config {
	cfg := handlers.Config{PublicURL: "https://usher.test", NextTime: scheduler.Next}
	if tune != nil {
		tune(&cfg)
	}
	return cfg
}

// service is another Service (another replica) on the env's organization.
func (e *env) service(st *storage.Store, tune func(*handlers.Config)) *handlers.Service {
	e.t.Helper()
	cfg := schedConfig(tune)
	cfg.Store, cfg.Clock = st, e.clock.Now
	svc, err := handlers.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

func (e *env) sweep() []handlers.Delivery {
	e.t.Helper()
	ds, err := e.svc.Sweep(context.Background())
	if err != nil {
		e.t.Fatalf("sweep at %v: %v", e.clock.Now(), err)
	}
	return ds
}

// at moves the clock to start+d.
func (e *env) at(d time.Duration) {
	e.clock.Set(handlerstest.Start.Add(d))
}

func reminders(ds []handlers.Delivery) []handlers.Delivery {
	var out []handlers.Delivery
	for _, d := range ds {
		if d.Kind == handlers.DeliverInvitation && strings.HasPrefix(d.Message.Title, "Reminder") {
			out = append(out, d)
		}
	}
	return out
}

func buttonLabels(m handlers.Message) []string {
	var out []string
	for _, b := range m.Buttons {
		out = append(out, b.Label+"="+b.Command)
	}
	return out
}

func (e *env) auditActions() []string {
	e.t.Helper()
	snap, err := e.store.Load(context.Background(), org.Query{AuditLimit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, a := range snap.Audit {
		out = append(out, a.Action)
	}
	slices.Reverse(out)
	return out
}

// TestReminderLifecycle: against real Redis with a fake clock, an invitation
// is reminded at +48h, +96h and +144h, expires at +7d with its inviter told,
// and is never reminded twice for a slot nor after it expired.
func TestReminderLifecycle(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	e.ok(boss, `settings reminder-schedule "0 9 * * *"`) // daily, so no reminder slides to a Monday
	id, _ := e.invite(boss, "bob@example.com")
	if err := e.svc.RecordDelivery(context.Background(), id, "slack:dm"); err != nil {
		t.Fatal(err)
	}
	if inv := e.invitation(id); !inv.NextRemind.Equal(e.clock.Now().Add(2 * day)) {
		t.Fatalf("first reminder planned for %v, want +48h", inv.NextRemind)
	}

	e.at(2*day - time.Minute)
	if ds := e.sweep(); len(ds) != 0 {
		t.Fatalf("a minute early: %+v", ds)
	}
	for n, slot := range []time.Duration{2 * day, 4 * day, 6 * day} {
		e.at(slot)
		ds := e.sweep()
		rs := reminders(ds)
		if len(ds) != 1 || len(rs) != 1 {
			t.Fatalf("at +%v: %d messages, %d reminders; want one reminder: %+v", slot, len(ds), len(rs), ds)
		}
		r := rs[0]
		if r.To != "bob@example.com" || r.InvitationID != id || r.Sender != boss || r.OnUnreachable == nil {
			t.Errorf("reminder %d: %+v", n+1, r)
		}
		if want := []string{"Accept=accept " + id, "Decline=decline " + id}; !slices.Equal(buttonLabels(r.Message), want) {
			t.Errorf("reminder %d buttons %v, want %v", n+1, buttonLabels(r.Message), want)
		}
		if strings.Contains(r.Message.Footer, "/invitations/") {
			t.Errorf("a reminder of a delivered invitation carries a link: %q", r.Message.Footer)
		}
		if want := fmt.Sprintf("Reminder %d of 3.", n+1); !strings.HasPrefix(r.Message.Footer, want) {
			t.Errorf("footer %q, want it to start %q", r.Message.Footer, want)
		}
		inv := e.invitation(id)
		if inv.Reminders != n+1 {
			t.Errorf("after reminder %d the count is %d", n+1, inv.Reminders)
		}
		// The same slot again (another run at the same instant, a retry): nothing.
		if ds := e.sweep(); len(ds) != 0 {
			t.Fatalf("second run at +%v sent %+v", slot, ds)
		}
		e.at(slot + 12*time.Hour)
		if ds := e.sweep(); len(ds) != 0 {
			t.Fatalf("at +%v sent %+v", slot+12*time.Hour, ds)
		}
	}
	if inv := e.invitation(id); !inv.NextRemind.IsZero() {
		t.Fatalf("after three reminders the next is planned for %v", inv.NextRemind)
	}

	e.at(7 * day)
	ds := e.sweep()
	if len(ds) != 1 || ds[0].To != boss || ds[0].Kind != handlers.DeliverNotice || !strings.Contains(ds[0].Message.Text, "bob@example.com expired") {
		t.Fatalf("at +7d: %+v, want the inviter told of the expiry", ds)
	}
	if inv := e.invitation(id); inv.Status != org.InvitationExpired {
		t.Fatalf("at +7d the invitation is %s", inv.Status)
	}
	e.at(9 * day)
	if ds := e.sweep(); len(ds) != 0 {
		t.Fatalf("after the expiry: %+v", ds)
	}
	want := []string{"user.bootstrap_admin", "settings.change", "invitation.create", "invitation.remind", "invitation.remind", "invitation.remind", "invitation.expire"}
	if got := e.auditActions(); !slices.Equal(got, want) {
		t.Errorf("audit %v, want %v", got, want)
	}
}

// TestNoReminderOnceSettled: an accepted, declined or revoked invitation is
// never reminded, and leaves nothing in the due queue.
func TestNoReminderOnceSettled(t *testing.T) {
	for _, how := range []string{"accept", "decline", "revoke"} {
		t.Run(how, func(t *testing.T) {
			e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
			id, _ := e.invite(boss, "bob@example.com")
			e.at(day)
			switch how {
			case "accept", "decline":
				e.ok("bob@example.com", how+" "+id)
			case "revoke":
				e.ok(boss, "revoke "+id+" --confirm")
			}
			for _, at := range []time.Duration{2 * day, 4 * day, 6 * day, 7 * day, 8 * day} {
				e.at(at)
				if ds := e.sweep(); len(reminders(ds)) != 0 || len(ds) != 0 {
					t.Fatalf("at +%v after %s: %+v", at, how, ds)
				}
			}
			due, err := e.rdb.ZRange(context.Background(), "usher:{"+e.org+"}:due", 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(due, "inv:"+id) {
				t.Errorf("the settled invitation is still in the due queue: %v", due)
			}
		})
	}
}

// TestReminderRenewsAnUndeliveredLink: when the first message never went out
// (no delivery recorded), the reminder carries a new link and the old one dies.
func TestReminderRenewsAnUndeliveredLink(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	id, oldToken := e.invite(boss, "bob@example.com")
	e.at(2 * day)
	rs := reminders(e.sweep())
	if len(rs) != 1 {
		t.Fatalf("%d reminders", len(rs))
	}
	m := linkPattern.FindStringSubmatch(rs[0].Message.Footer)
	if m == nil {
		t.Fatalf("no new link in %q", rs[0].Message.Footer)
	}
	if m[1] == oldToken {
		t.Fatal("the reminder re-sent the old link, which usher must not know")
	}
	if _, _, err := e.svc.InvitationByToken(context.Background(), oldToken); err == nil {
		t.Error("the undelivered old link still works")
	}
	if inv, _, err := e.svc.InvitationByToken(context.Background(), m[1]); err != nil || inv.ID != id {
		t.Errorf("the new link: %v, %v", inv, err)
	}
	// The admin inviter gets it to forward if bob is not in chat.
	if u := rs[0].OnUnreachable; u == nil || !strings.Contains(u.Text, m[1]) {
		t.Errorf("OnUnreachable = %+v, want the new link for the admin inviter", u)
	}
}

// TestReminderForUnreachableInvitee: the inviter of someone not in chat gets
// the nudge, with Resend and Revoke.
func TestReminderForUnreachableInvitee(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	id, _ := e.invite(boss, "bob@example.com")
	if err := e.svc.RecordDelivery(context.Background(), id, "shown to "+boss); err != nil {
		t.Fatal(err)
	}
	e.at(2 * day)
	rs := reminders(e.sweep())
	if len(rs) != 1 || rs[0].OnUnreachable == nil {
		t.Fatalf("%+v", rs)
	}
	u := rs[0].OnUnreachable
	if !strings.Contains(u.Text, "couldn't remind them") || len(u.Buttons) != 2 || u.Buttons[0].Label != "Resend" || u.Buttons[1].Label != "Revoke" {
		t.Errorf("OnUnreachable = %+v", u)
	}
}

// TestReminderForBulkUnreachableTellsNobody: an invitee of a bulk that no
// platform reached is on its progress message's list (Show their links);
// their reminder, if it still finds nobody, sends the inviter nothing.
func TestReminderForBulkUnreachableTellsNobody(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	id, _ := e.invite(boss, "bob@example.com")
	if err := e.svc.RecordProgress(context.Background(), "bulk1", id, "", org.ProgressUnreachable); err != nil {
		t.Fatal(err)
	}
	e.at(2 * day)
	rs := reminders(e.sweep())
	if len(rs) != 1 || rs[0].OnUnreachable != nil {
		t.Fatalf("reminders %+v, want one with no notice for the inviter", rs)
	}
}

// TestMaxRemindersLowered: a reminder planned under max-reminders 3 is not
// sent once the admins lower it, and none is planned after.
func TestMaxRemindersLowered(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	id, _ := e.invite(boss, "bob@example.com")
	e.at(2 * day)
	if n := len(reminders(e.sweep())); n != 1 {
		t.Fatalf("%d reminders", n)
	}
	e.ok(boss, "settings max-reminders 1")
	e.at(4 * day)
	if ds := e.sweep(); len(ds) != 0 {
		t.Fatalf("sent %+v", ds)
	}
	inv := e.invitation(id)
	if inv.Reminders != 1 || !inv.NextRemind.IsZero() {
		t.Fatalf("reminders %d, next %v", inv.Reminders, inv.NextRemind)
	}
	if got := e.auditActions(); got[len(got)-1] != "invitation.reminders_stop" {
		t.Errorf("audit ends %v", got)
	}
	e.ok(boss, "settings max-reminders 0")
	id2, _ := e.invite(boss, "carol@example.com")
	if inv := e.invitation(id2); !inv.NextRemind.IsZero() {
		t.Errorf("with reminders off a reminder is planned for %v", inv.NextRemind)
	}
}

// TestRemindersFollowTheSchedule: a reminder due on a Saturday goes out at
// Monday's 09:00 run of the default weekday schedule, and the pending list
// says so.
func TestRemindersFollowTheSchedule(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	e.at(3*day + 10*time.Hour) // Thursday 19:00
	id, _ := e.invite(boss, "bob@example.com")
	monday := time.Date(2026, 1, 12, 9, 0, 0, 0, time.UTC)
	if inv := e.invitation(id); !inv.NextRemind.Equal(monday) {
		t.Fatalf("planned for %v, want %v", inv.NextRemind, monday)
	}
	r := e.ok(boss, "invitations")
	var fields []string
	for _, f := range r.Items[0].Fields {
		fields = append(fields, f.Label+": "+f.Value)
	}
	if !slices.Contains(fields, "Next reminder: in 4d (Mon Jan 12 09:00 UTC)") {
		t.Errorf("pending list fields %v", fields)
	}
	e.at(5*day + 10*time.Hour) // Saturday 19:00: +48h, but no run
	if ds := e.sweep(); len(ds) != 0 {
		t.Fatalf("Saturday: %+v", ds)
	}
	e.at(7 * day)
	if n := len(reminders(e.sweep())); n != 1 {
		t.Fatalf("Monday 09:00: %d reminders", n)
	}
}

// TestDigest: admins get one digest per slot of digest-schedule, however
// often the sweep runs, with the count, the oldest, who sent them and
// buttons; none when nothing is pending, none when off.
func TestDigest(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	e.ok(boss, "settings max-reminders 0")
	e.join("ann@example.com", org.RoleAdmin)
	e.join("mia@example.com", org.RoleMember)
	e.ok(boss, "settings anyone-can-invite on")
	e.at(time.Hour)
	e.invite(boss, "bob@example.com")
	e.at(2 * time.Hour)
	e.invite("mia@example.com", "carol@example.com")
	e.invite(boss, "dan@example.com")
	e.sweep() // plans the digest: next Monday 09:00

	e.at(7*day - time.Second)
	if ds := e.sweep(); len(ds) != 0 {
		t.Fatalf("before the slot: %+v", ds)
	}
	e.at(7 * day)
	ds := e.sweep()
	if len(ds) != 2 || ds[0].To != "ann@example.com" || ds[1].To != boss {
		t.Fatalf("digest went to %+v, want both admins", ds)
	}
	m := ds[0].Message
	if !strings.HasPrefix(m.Text, "3 invitations are waiting for an answer. The oldest: bob@example.com, sent by boss@example.com 6d ago.") {
		t.Errorf("digest text %q", m.Text)
	}
	if len(m.Fields) != 1 || m.Fields[0].Value != "boss@example.com (2), mia@example.com (1)" {
		t.Errorf("digest fields %+v", m.Fields)
	}
	if len(m.Items) != 3 || m.Items[0].Buttons[1].Label != "Resend" || m.Items[0].Buttons[2].Label != "Revoke" {
		t.Errorf("digest items %+v", m.Items)
	}
	if ds := e.sweep(); len(ds) != 0 {
		t.Fatalf("a second run in the same slot sent %+v", ds)
	}
	// Another replica in the same slot: nothing either.
	other := e.service(e.store, nil)
	if ds, err := other.Sweep(context.Background()); err != nil || len(ds) != 0 {
		t.Fatalf("another replica: %+v, %v", ds, err)
	}
	// Expiry comes first, so the next Monday's digest counts what is left.
	e.at(14 * day)
	ds = e.sweep()
	if len(ds) != 3 {
		t.Fatalf("second Monday: %+v (want 3 expiry notices, no digest)", ds)
	}
	e.ok(boss, "settings digest-schedule off")
	e.invite(boss, "eve@example.com")
	e.at(20 * day)
	if ds := e.sweep(); len(ds) != 0 {
		t.Fatalf("digest off: %+v", ds)
	}
	if got := e.auditActions(); !slices.Contains(got, "digest.send") {
		t.Errorf("no digest.send in the audit log: %v", got)
	}
}

// TestScheduleSettings: schedules are checked with cron; a refused value
// names the accepted forms and leaves the old one; a good one says when it
// next runs, in its zone.
func TestScheduleSettings(t *testing.T) {
	e := newSchedEnv(t, redistest.Shared(t).Client(t), nil)
	for _, bad := range []string{`"0 25 * * *"`, `"0 9 * * FUNDAY"`, `"0 9 31 2 *"`, `"@every 1h"`, `"CRON_TZ=Mars/Base 0 9 * * *"`, `"0 9 * *"`} {
		r := e.run(boss, "settings reminder-schedule "+bad)
		if r.Code != org.CodeInvalid || !strings.Contains(r.Text, "reminder-schedule: ") || !strings.Contains(r.Text, "Accepted: a cron spec of 5 fields") {
			t.Errorf("%s: %s %q", bad, r.Code, r.Text)
		}
	}
	if r := e.ok(boss, "settings reminder-schedule"); r.Fields[0].Value != org.DefaultReminderSchedule {
		t.Errorf("after refusals the schedule is %q", r.Fields[0].Value)
	}
	r := e.ok(boss, `settings reminder-schedule "CRON_TZ=Europe/Paris 0 9 * * MON-FRI"`)
	if want := "reminder-schedule is now CRON_TZ=Europe/Paris 0 9 * * MON-FRI (was 0 9 * * MON-FRI). Next run: Tue Jan 6 09:00 CET."; r.Text != want {
		t.Errorf("got %q\nwant %q", r.Text, want)
	}
	r = e.ok(boss, "settings timezone america/new_york")
	if want := "timezone is now America/New_York (was UTC). Next reminder run: Tue Jan 6 09:00 CET."; r.Text != want {
		t.Errorf("got %q\nwant %q", r.Text, want) // the schedule names its own zone
	}
	r = e.ok(boss, `settings digest-schedule "0 17 * * FRI"`)
	if want := "digest-schedule is now 0 17 * * FRI (was 0 9 * * MON). Next run: Fri Jan 9 17:00 EST."; r.Text != want {
		t.Errorf("got %q\nwant %q", r.Text, want)
	}
	next, err := e.svc.NextTick(context.Background(), e.clock.Now())
	if err != nil || !next.Equal(time.Date(2026, 1, 6, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("NextTick = %v, %v; want Tue 08:00 UTC (09:00 Paris)", next, err)
	}
	if r := e.run("nobody@example.com", "settings reminder-schedule @daily"); r.Code == "" {
		t.Errorf("a stranger changed the schedule: %q", r.Text)
	}
}

// TestSweepCostsWhatIsDue: a sweep with nothing due makes the same round trips
// with 20 pending invitations as with 2,000.
func TestSweepCostsWhatIsDue(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	rt := &storage.RoundTrips{}
	rdb.AddHook(rt)
	e := newSchedEnv(t, rdb, nil)
	e.sweep()
	cost := func() int64 {
		rt.Reset()
		e.sweep()
		return rt.Count()
	}
	seedPending(t, e, 20, e.clock.Now().Add(time.Hour))
	small := cost()
	seedPending(t, e, 1980, e.clock.Now().Add(time.Hour))
	if big := cost(); big != small || small > 3 {
		t.Errorf("a sweep with nothing due: %d round trips over 20 invitations, %d over 2,000 (want the same, at most 3)", small, big)
	}
}

var seeded atomic.Int64

// seedPending writes n pending invitations straight through the store, in
// batches of 500 per commit, each due at due (a reminder planned then).
func seedPending(t testing.TB, e *env, n int, due time.Time) []string {
	t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	var ids []string
	for start := 0; start < n; start += 500 {
		var ch org.Change
		for i := start; i < min(n, start+500); i++ {
			id := fmt.Sprintf("s%07d", seeded.Add(1))
			ids = append(ids, id)
			inv := &org.Invitation{ID: id, Email: id + "@example.com", Role: org.RoleMember,
				Inviter: boss, Created: now, Expires: now.Add(7 * day), Status: org.InvitationPending, Updated: now,
				NextRemind: due, Delivery: "slack:dm"}
			ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: inv})
		}
		ch.Now = now
		if err := e.store.Commit(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

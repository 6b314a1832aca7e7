package org_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

func init() {
	// The reminder settings join the table every setting must have cases in.
	settingCases = append(settingCases, reminderSettingCases...)
}

var reminderSettingCases = []struct {
	key, in, want string
	bad           bool
}{
	{key: "timezone", in: "UTC", want: "UTC"},
	{key: "timezone", in: "Europe/Paris", want: "Europe/Paris"},
	{key: "timezone", in: " america/new_york ", want: "America/New_York"},
	{key: "timezone", in: "utc", want: "UTC"},
	{key: "timezone", in: "America/Argentina/Buenos_Aires", want: "America/Argentina/Buenos_Aires"},
	{key: "timezone", in: "Etc/GMT+1", want: "Etc/GMT+1"},
	{key: "timezone", in: "", bad: true},
	{key: "timezone", in: "Local", bad: true},
	{key: "timezone", in: "Mars/Olympus_Mons", bad: true},
	{key: "timezone", in: "../../etc/passwd", bad: true},
	{key: "timezone", in: "+02:00", bad: true},

	{key: "reminder-schedule", in: "0 9 * * MON-FRI", want: "0 9 * * MON-FRI"},
	{key: "reminder-schedule", in: "  0  9 * *   1-5 ", want: "0 9 * * 1-5"},
	{key: "reminder-schedule", in: "CRON_TZ=Europe/Paris 0 9 * * MON-FRI", want: "CRON_TZ=Europe/Paris 0 9 * * MON-FRI"},
	{key: "reminder-schedule", in: "TZ=europe/paris 0 9 * * *", want: "CRON_TZ=Europe/Paris 0 9 * * *"},
	{key: "reminder-schedule", in: "@Daily", want: "@daily"},
	{key: "reminder-schedule", in: "*/30 8-18 * * 1,3,5", want: "*/30 8-18 * * 1,3,5"},
	{key: "reminder-schedule", in: "", bad: true},
	{key: "reminder-schedule", in: "off", bad: true},
	{key: "reminder-schedule", in: "0 9 * *", bad: true},
	{key: "reminder-schedule", in: "0 0 9 * * MON", bad: true},
	{key: "reminder-schedule", in: "@every 1h", bad: true},
	{key: "reminder-schedule", in: "@sometimes", bad: true},
	{key: "reminder-schedule", in: "CRON_TZ=Nowhere/Land 0 9 * * *", bad: true},
	{key: "reminder-schedule", in: "CRON_TZ=Europe/Paris", bad: true},
	{key: "reminder-schedule", in: "0 9 * * MON;rm", bad: true},
	{key: "reminder-schedule", in: strings.Repeat("1,", 61) + "1 * * * *", bad: true},

	{key: "remind-after", in: "48h", want: "2d"},
	{key: "remind-after", in: "1h", want: "1h"},
	{key: "remind-after", in: "1d12h", want: "36h"},
	{key: "remind-after", in: "30d", want: "30d"},
	{key: "remind-after", in: "59m", bad: true},
	{key: "remind-after", in: "31d", bad: true},
	{key: "remind-after", in: "0", bad: true},
	{key: "remind-after", in: "soon", bad: true},

	{key: "max-reminders", in: "3", want: "3"},
	{key: "max-reminders", in: " 0 ", want: "0"},
	{key: "max-reminders", in: "10", want: "10"},
	{key: "max-reminders", in: "11", bad: true},
	{key: "max-reminders", in: "-1", bad: true},
	{key: "max-reminders", in: "three", bad: true},

	{key: "digest-schedule", in: "0 9 * * MON", want: "0 9 * * MON"},
	{key: "digest-schedule", in: "OFF", want: "off"},
	{key: "digest-schedule", in: "CRON_TZ=Asia/Tokyo 0 17 * * FRI", want: "CRON_TZ=Asia/Tokyo 0 17 * * FRI"},
	{key: "digest-schedule", in: "@weekly", want: "@weekly"},
	{key: "digest-schedule", in: "weekly", bad: true},
	{key: "digest-schedule", in: "", bad: true},
}

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC) // a Monday

func pending(reminders int, next time.Time) *org.Invitation {
	return &org.Invitation{ID: "inv1", Email: "bob@example.com", Status: org.InvitationPending,
		Created: t0, Expires: t0.Add(7 * day), Reminders: reminders, NextRemind: next}
}

func TestDueAction(t *testing.T) {
	set := org.DefaultSettings()
	tests := []struct {
		name string
		inv  *org.Invitation
		set  func(*org.Settings)
		now  time.Time
		want org.DueAction
	}{
		{"not yet", pending(0, t0.Add(2*day)), nil, t0.Add(2*day - time.Second), org.DueNothing},
		{"at the slot", pending(0, t0.Add(2*day)), nil, t0.Add(2 * day), org.DueRemind},
		{"late", pending(1, t0.Add(4*day)), nil, t0.Add(5 * day), org.DueRemind},
		{"no reminder planned", pending(3, time.Time{}), nil, t0.Add(6 * day), org.DueNothing},
		{"expired beats a due reminder", pending(2, t0.Add(6*day)), nil, t0.Add(7 * day), org.DueExpire},
		{"max lowered since planned", pending(1, t0.Add(4*day)), func(s *org.Settings) { s.MaxReminders = 1 }, t0.Add(4 * day), org.DueStop},
		{"reminders turned off", pending(0, t0.Add(2*day)), func(s *org.Settings) { s.MaxReminders = 0 }, t0.Add(2 * day), org.DueStop},
	}
	for _, st := range []org.InvitationStatus{org.InvitationAccepted, org.InvitationDeclined, org.InvitationRevoked, org.InvitationExpired, org.InvitationDenied} {
		inv := pending(0, t0.Add(2*day))
		inv.Status = st
		tests = append(tests, struct {
			name string
			inv  *org.Invitation
			set  func(*org.Settings)
			now  time.Time
			want org.DueAction
		}{"never when " + string(st), inv, nil, t0.Add(8 * day), org.DueNothing})
	}
	// A request is never reminded about, and expires at its expiry (issue 14).
	req := pending(0, t0.Add(2*day))
	req.Status = org.InvitationRequested
	tests = append(tests, struct {
		name string
		inv  *org.Invitation
		set  func(*org.Settings)
		now  time.Time
		want org.DueAction
	}{"a request past its expiry", req, nil, t0.Add(8 * day), org.DueExpire}, struct {
		name string
		inv  *org.Invitation
		set  func(*org.Settings)
		now  time.Time
		want org.DueAction
	}{"a request at a reminder slot", req, nil, req.NextRemind, org.DueNothing})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := set
			if tt.set != nil {
				tt.set(&s)
			}
			if got := tt.inv.DueAction(tt.now, s); got != tt.want {
				t.Errorf("DueAction = %q, want %q", got, tt.want)
			}
		})
	}
}

// daily9 moves a time to the next 09:00 UTC at or after it, like a
// "0 9 * * *" reminder-schedule.
func daily9(t time.Time) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 9, 0, 0, 0, time.UTC)
	if d.Before(t) {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

func TestReminderLifecycleSlots(t *testing.T) {
	set := org.DefaultSettings()
	inv := pending(0, time.Time{})
	inv.NextRemind = org.NextReminder(inv, set, t0, daily9)
	var got []time.Duration
	for inv.DueAction(inv.NextRemind, set) == org.DueRemind {
		got = append(got, inv.NextRemind.Sub(t0))
		inv = inv.Reminded(inv.NextRemind, set, daily9)
	}
	want := []time.Duration{2 * day, 4 * day, 6 * day}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("reminders at %v, want %v", got, want)
	}
	if inv.Reminders != 3 || !inv.NextRemind.IsZero() || !inv.NextDue().Equal(t0.Add(7*day)) {
		t.Fatalf("after three reminders: %d, next %v, due %v; want 3, none, the expiry", inv.Reminders, inv.NextRemind, inv.NextDue())
	}
	if a := inv.DueAction(t0.Add(7*day), set); a != org.DueExpire {
		t.Fatalf("at the expiry: %q", a)
	}
}

// TestRemindersInAll: the count a reminder gives ("Reminder 2 of 2") is
// the number that will really be sent, which the expiry can make smaller
// than max-reminders.
func TestRemindersInAll(t *testing.T) {
	tests := []struct {
		name        string
		expiry      time.Duration
		remindAfter time.Duration
		max         int
		align       func(time.Time) time.Time
		want        []int // after each reminder sent: how many in all
	}{
		{"defaults: three before a 7-day expiry", 7 * day, 2 * day, 3, daily9, []int{3, 3, 3}},
		{"the third would fall after the expiry", 5 * day, 2 * day, 3, daily9, []int{2, 2}},
		{"remind-after 3d, expiry 7d", 7 * day, 3 * day, 3, nil, []int{2, 2}},
		{"only one fits", 3 * day, 2 * day, 3, nil, []int{1}},
		{"max-reminders below what fits", 7 * day, day, 2, nil, []int{2, 2}},
		{"one allowed", 7 * day, 2 * day, 1, nil, []int{1}},
		{"alignment pushes the last past the expiry", 6*day + time.Hour, 2 * day, 3, func(t time.Time) time.Time { return daily9(t.Add(2 * time.Hour)) }, []int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := org.DefaultSettings()
			set.RemindAfter, set.MaxReminders = tt.remindAfter, tt.max
			inv := pending(0, time.Time{})
			inv.Expires = t0.Add(tt.expiry)
			inv.NextRemind = org.NextReminder(inv, set, t0, tt.align)
			var got []int
			for i := 0; inv.DueAction(inv.NextRemind, set) == org.DueRemind && i < 20; i++ {
				inv = inv.Reminded(inv.NextRemind, set, tt.align)
				got = append(got, inv.RemindersInAll(set, tt.align))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("in all, after each reminder: %v, want %v", got, tt.want)
			}
			if len(got) > 0 && got[len(got)-1] != inv.Reminders {
				t.Errorf("the last reminder says %d in all, but %d were sent", got[len(got)-1], inv.Reminders)
			}
		})
	}
	// Lowered below what was sent: it counts what was sent, never less.
	set := org.DefaultSettings()
	inv := pending(2, t0.Add(6*day))
	set.MaxReminders = 1
	if got := inv.RemindersInAll(set, nil); got != 2 {
		t.Errorf("max-reminders lowered to 1 after 2 were sent: %d in all, want 2", got)
	}
}

func TestNextReminder(t *testing.T) {
	weekdays9 := func(t time.Time) time.Time {
		d := daily9(t)
		for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	set := org.DefaultSettings()
	tests := []struct {
		name      string
		reminders int
		from      time.Time
		align     func(time.Time) time.Time
		set       func(*org.Settings)
		want      time.Time // zero: none
	}{
		{"first, unaligned", 0, t0, nil, nil, t0.Add(2 * day)},
		{"first, on the schedule", 0, t0.Add(time.Hour), daily9, nil, t0.Add(3 * day)}, // pending from 10:00: Wed 10:00 -> Thu 09:00
		{"second on time", 1, t0.Add(2 * day), daily9, nil, t0.Add(4 * day)},
		{"late run: never closer than remind-after", 1, t0.Add(3*day + time.Hour), daily9, nil, t0.Add(6 * day)},
		{"third falls on Sunday: Monday is the expiry", 2, t0.Add(4 * day), weekdays9, nil, time.Time{}},
		{"max reached", 3, t0.Add(6 * day), daily9, nil, time.Time{}},
		{"reminders off", 0, t0, daily9, func(s *org.Settings) { s.MaxReminders = 0 }, time.Time{}},
		{"past the expiry", 0, t0, nil, func(s *org.Settings) { s.RemindAfter = 7 * day }, time.Time{}},
		{"schedule never fires", 0, t0, func(time.Time) time.Time { return time.Time{} }, nil, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := set
			if tt.set != nil {
				tt.set(&s)
			}
			inv := pending(tt.reminders, time.Time{})
			if got := org.NextReminder(inv, s, tt.from, tt.align); !got.Equal(tt.want) {
				t.Errorf("NextReminder = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNextDue(t *testing.T) {
	if got := pending(0, t0.Add(2*day)).NextDue(); !got.Equal(t0.Add(2 * day)) {
		t.Errorf("with a reminder planned: %v", got)
	}
	if got := pending(3, time.Time{}).NextDue(); !got.Equal(t0.Add(7 * day)) {
		t.Errorf("with none: %v", got)
	}
	if got := pending(0, t0.Add(8*day)).NextDue(); !got.Equal(t0.Add(7 * day)) {
		t.Errorf("with one after the expiry: %v", got)
	}
}

func TestSplitSchedule(t *testing.T) {
	tests := []struct{ in, zone, body string }{
		{"0 9 * * *", "", "0 9 * * *"},
		{"CRON_TZ=Europe/Paris 0 9 * * *", "Europe/Paris", "0 9 * * *"},
		{"tz=UTC @daily", "UTC", "@daily"},
		{"CRON_TZ=Europe/Paris", "Europe/Paris", ""},
	}
	for _, tt := range tests {
		if zone, body := org.SplitSchedule(tt.in); zone != tt.zone || body != tt.body {
			t.Errorf("SplitSchedule(%q) = %q, %q; want %q, %q", tt.in, zone, body, tt.zone, tt.body)
		}
	}
}

func TestSettingInvalid(t *testing.T) {
	st, _ := org.LookupSetting("reminder-schedule")
	e := st.Invalid("it never runs.")
	if e.Code != org.CodeInvalid || e.Message != "reminder-schedule: it never runs." || !strings.HasPrefix(e.Hint, "Accepted: a cron spec") {
		t.Errorf("Invalid = %#v", e)
	}
}

// FuzzScheduleSetting: whatever an admin types, parsing a schedule setting
// never panics, and what it accepts it accepts again unchanged.
func FuzzScheduleSetting(f *testing.F) {
	for _, c := range reminderSettingCases {
		if strings.HasSuffix(c.key, "schedule") || c.key == "timezone" {
			f.Add(c.in)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, key := range []string{"reminder-schedule", "digest-schedule", "timezone"} {
			st, _ := org.LookupSetting(key)
			v, err := st.Parse(in)
			if err != nil {
				continue
			}
			if again, err := st.Parse(v); err != nil || again != v {
				t.Fatalf("%s: Parse(%q) = %q, then %q, %v", key, in, v, again, err)
			}
		}
	})
}

package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/bot/scheduler"
	"github.com/usher-chat/usher/handlers/org"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// TestParis9AcrossDST: a 09:00 Europe/Paris schedule fires at 08:00 UTC in
// winter and 07:00 UTC in summer, across both changes of 2026 (29 March,
// 25 October), whether the zone comes from CRON_TZ= or the timezone setting.
func TestParis9AcrossDST(t *testing.T) {
	tests := []struct{ after, want string }{
		{"2026-01-05T08:30:00Z", "2026-01-06T08:00:00Z"}, // winter, CET
		{"2026-03-27T12:00:00Z", "2026-03-28T08:00:00Z"}, // Saturday before the change
		{"2026-03-28T12:00:00Z", "2026-03-29T07:00:00Z"}, // the day of the change: CEST
		{"2026-07-01T00:00:00Z", "2026-07-01T07:00:00Z"}, // summer
		{"2026-10-24T12:00:00Z", "2026-10-25T08:00:00Z"}, // back to CET
		{"2026-01-06T07:59:59Z", "2026-01-06T08:00:00Z"},
		{"2026-01-06T08:00:00Z", "2026-01-07T08:00:00Z"}, // strictly after
	}
	for _, tt := range tests {
		for _, form := range []struct{ spec, tz string }{
			{"CRON_TZ=Europe/Paris 0 9 * * *", ""},
			{"CRON_TZ=Europe/Paris 0 9 * * *", "America/New_York"}, // the spec's own zone wins
			{"0 9 * * *", "Europe/Paris"},
			{"TZ=Europe/Paris 0 9 * * *", "UTC"},
		} {
			got, err := scheduler.Next(form.spec, form.tz, utc(tt.after))
			if err != nil || !got.Equal(utc(tt.want)) || got.Location() != time.UTC {
				t.Errorf("Next(%q, %q, %s) = %v, %v; want %s", form.spec, form.tz, tt.after, got, err, tt.want)
			}
		}
	}
}

func TestNextForms(t *testing.T) {
	mon := utc("2026-01-05T09:00:00Z") // Monday
	tests := []struct {
		spec, tz, want string
	}{
		{org.DefaultReminderSchedule, "", "2026-01-06T09:00:00Z"},
		{org.DefaultDigestSchedule, "UTC", "2026-01-12T09:00:00Z"},
		{"0 9 * * 1-5", "", "2026-01-06T09:00:00Z"},
		{"*/30 * * * *", "", "2026-01-05T09:30:00Z"},
		{"@daily", "", "2026-01-06T00:00:00Z"},
		{"@weekly", "Asia/Tokyo", "2026-01-10T15:00:00Z"}, // Sunday 00:00 in Tokyo
		{"0 17 * * FRI", "America/New_York", "2026-01-09T22:00:00Z"},
	}
	for _, tt := range tests {
		got, err := scheduler.Next(tt.spec, tt.tz, mon)
		if err != nil || !got.Equal(utc(tt.want)) {
			t.Errorf("Next(%q, %q) = %v, %v; want %s", tt.spec, tt.tz, got, err, tt.want)
		}
	}
}

func TestNextRefuses(t *testing.T) {
	for _, tt := range []struct{ spec, tz, why string }{
		{"0 25 * * *", "", "above maximum"},
		{"0 9 * * FUNDAY", "", "not a cron spec"},
		{"0 9 * *", "", "not a cron spec"},
		{"0 9 31 2 *", "", "never falls due"},
		{"@every 1h", "", "no fixed times"},
		{"@EVERY 5m", "", "no fixed times"},
		{"0 9 * * *", "Mars/Olympus", "time zone"},
		{"0 9 * * *", "Local", "time zone"},
		{"TZ=Europe/Paris", "", "not a cron spec"},
		{"CRON_TZ=", "", "not a cron spec"},
		{"", "", "not a cron spec"},
	} {
		_, err := scheduler.Next(tt.spec, tt.tz, time.Now())
		if err == nil || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("Next(%q, %q) error = %v; want it to say %q", tt.spec, tt.tz, err, tt.why)
		}
	}
}

// FuzzNext: whatever an admin types as a schedule, Next answers without
// panicking (robfig/cron's own parser panics on some CRON_TZ= forms), and a
// time it gives is after the start.
func FuzzNext(f *testing.F) {
	for _, s := range []string{"0 9 * * MON-FRI", "CRON_TZ=Europe/Paris 0 9 * * *", "TZ=", "TZ=X", "@every 1s", "*/0 * * * *", "0-99/3 * * * *", "@monthly", "1,2,3 4-5 ? * SUN"} {
		f.Add(s, "UTC")
	}
	after := utc("2026-01-05T09:00:00Z")
	f.Fuzz(func(t *testing.T, spec, tz string) {
		next, err := scheduler.Next(spec, tz, after)
		if err == nil && !next.After(after) {
			t.Fatalf("Next(%q, %q) = %v, not after %v", spec, tz, next, after)
		}
	})
}

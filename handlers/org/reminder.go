package org

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones everywhere, whether or not the machine has /usr/share/zoneinfo
)

// Reminders, expiry and the admin digest are scheduled work. Each pending
// invitation has ONE entry in the organization's due queue, scored by its next
// event (NextDue: its next reminder or, if sooner, its expiry); the admin
// digest has one entry scored by its next slot. A scheduler wakes on the
// organization's cron schedule, claims what is due and decides here what to do.

// The kinds of entry in the due queue.
const (
	DueInvitation = "inv"    // a pending invitation's next reminder or expiry
	DueDigest     = "digest" // the admin digest of pending invitations
)

// Defaults of the schedule settings (read in the timezone setting, UTC by default).
const (
	DefaultReminderSchedule = "0 9 * * MON-FRI"
	DefaultDigestSchedule   = "0 9 * * MON"
)

// NextDue is when scheduled work next concerns a pending invitation: its next
// reminder, or its expiry when that comes first or no reminder is left.
func (inv *Invitation) NextDue() time.Time {
	if !inv.NextRemind.IsZero() && inv.NextRemind.Before(inv.Expires) {
		return inv.NextRemind
	}
	return inv.Expires
}

// DueAction is what the scheduler does for an invitation whose entry fell due.
type DueAction string

const (
	DueNothing DueAction = ""       // settled, or not due (another replica got there first)
	DueExpire  DueAction = "expire" // past its expiry: mark it expired, tell the inviter
	DueRemind  DueAction = "remind" // remind the invitee
	// DueStop: a reminder fell due but max-reminders was lowered since it was
	// planned; no reminder is sent and none is planned any more.
	DueStop DueAction = "stop"
)

// DueAction decides what falls due for the invitation at now. It never
// reminds about an invitation that is not pending or has expired, and never
// before its planned reminder time, so a due entry claimed twice (or a stale
// copy of the invitation) cannot remind twice for the same slot: the first
// reminder moves NextRemind on, and the store's version check refuses a
// second decision taken on the old copy.
func (inv *Invitation) DueAction(now time.Time, set Settings) DueAction {
	switch {
	case inv.Status == InvitationRequested && inv.ExpiredAt(now):
		// A request expires like an invitation (invite-expiry after it was
		// made); it is never reminded about, the admins' digest lists it.
		return DueExpire
	case inv.Status != InvitationPending:
		return DueNothing
	case inv.ExpiredAt(now):
		return DueExpire
	case inv.NextRemind.IsZero() || now.Before(inv.NextRemind):
		return DueNothing
	case inv.Reminders >= set.MaxReminders:
		return DueStop
	}
	return DueRemind
}

// NextReminder is when the invitation's next reminder falls due, given that
// it has had inv.Reminders reminders and the last one was sent (or it became
// pending) at from: the first time at or after both
//
//	created + (reminders+1) × remind-after   (the slots people expect: +48h, +96h, ...)
//	from + remind-after                      (never two reminders closer than remind-after)
//
// moved on to the reminder schedule's next tick by align (nil: unaligned).
// It is zero when the policy allows no more reminders, or the next one would
// not come before the invitation expires.
func NextReminder(inv *Invitation, set Settings, from time.Time, align func(time.Time) time.Time) time.Time {
	if set.RemindAfter <= 0 || inv.Reminders >= set.MaxReminders {
		return time.Time{}
	}
	at := inv.Created.Add(time.Duration(inv.Reminders+1) * set.RemindAfter)
	if min := from.Add(set.RemindAfter); at.Before(min) {
		at = min
	}
	if align != nil {
		at = align(at)
	}
	if at.IsZero() || !at.Before(inv.Expires) {
		return time.Time{}
	}
	return at
}

// Reminded is the invitation after a reminder was sent at now: one more
// reminder counted, and the next one planned.
func (inv *Invitation) Reminded(now time.Time, set Settings, align func(time.Time) time.Time) *Invitation {
	next := inv.Clone()
	next.Reminders++
	next.NextRemind = NextReminder(next, set, now, align)
	next.Updated = now
	return next
}

// RemindersInAll is how many reminders the invitation gets in all, counting
// those sent and those still to come under today's settings: a reminder that
// would not come before the expiry is never planned (NextReminder), so with
// remind-after 3d and a 7-day expiry "max-reminders 3" means two. A reminder
// that says "2 of 3. This is the last" contradicts itself; this is the 3.
// It is a forecast: a later change of the settings can move it.
func (inv *Invitation) RemindersInAll(set Settings, align func(time.Time) time.Time) int {
	n, next := inv.Reminders, inv.NextRemind
	probe := inv.Clone()
	// Bounded by max-reminders: NextReminder plans none past it.
	for !next.IsZero() && n < set.MaxReminders {
		n++
		probe.Reminders = n
		next = NextReminder(probe, set, next, align)
	}
	return n
}

// The settings below are listed in SettingKeys (settings.go).

const scheduleForms = `a cron spec of 5 fields (minute hour day-of-month month day-of-week), e.g. "0 9 * * MON-FRI" or "30 8 * * 1,3,5", ` +
	`or @daily, @weekly, @monthly; read in the timezone setting unless it starts with CRON_TZ=Area/City`

var (
	timezoneSetting = Setting{
		Key: "timezone", Forms: "an IANA time zone such as UTC, Europe/Paris or America/New_York",
		Help: "The time zone reminder-schedule and digest-schedule are read in (unless they name their own with CRON_TZ=).",
		parse: func(v string) (string, error) {
			zone, err := parseZone(v)
			if err != nil {
				return "", err
			}
			return zone, nil
		},
		apply: func(s *Settings, v string) { s.Timezone = v },
		get:   func(s Settings) string { return s.Timezone },
	}
	reminderScheduleSetting = Setting{
		Key: "reminder-schedule", Forms: scheduleForms, Schedule: true,
		Help:  "When usher runs reminders and expiry: each run reminds invitees whose reminder fell due and expires invitations past their expiry. Default " + DefaultReminderSchedule + " (weekdays 09:00).",
		parse: func(v string) (string, error) { return parseSchedule(v, false) },
		apply: func(s *Settings, v string) { s.ReminderSchedule = v },
		get:   func(s Settings) string { return s.ReminderSchedule },
	}
	remindAfterSetting = Setting{
		Key: "remind-after", Forms: "a duration from 1h to 30d, e.g. 48h, 2d or 1d12h",
		Help: "How long after sending (and between reminders) an unanswered invitation gets a reminder, at the next reminder-schedule run.",
		parse: func(v string) (string, error) {
			d, err := ParseDuration(v)
			if err != nil || d < time.Hour || d > 30*24*time.Hour {
				return "", fmt.Errorf("%q is not a duration from 1h to 30d", v)
			}
			return FormatDuration(d), nil
		},
		apply: func(s *Settings, v string) { s.RemindAfter, _ = ParseDuration(v) },
		get:   func(s Settings) string { return FormatDuration(s.RemindAfter) },
	}
	maxRemindersSetting = Setting{
		Key: "max-reminders", Forms: "a whole number from 0 (no reminders) to 10",
		Help: "How many reminders one invitation gets at most. Changes apply to invitations sent afterwards and to the next reminder of those already planned.",
		parse: func(v string) (string, error) {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 || n > 10 {
				return "", fmt.Errorf("%q is not a whole number from 0 to 10", v)
			}
			return strconv.Itoa(n), nil
		},
		apply: func(s *Settings, v string) { s.MaxReminders, _ = strconv.Atoi(v) },
		get:   func(s Settings) string { return strconv.Itoa(s.MaxReminders) },
	}
	digestScheduleSetting = Setting{
		Key: "digest-schedule", Forms: scheduleForms + `; or off`, Schedule: true,
		Help:  "When admins get a digest of pending invitations (how many, the oldest, who sent them) with Resend and Revoke buttons. Default " + DefaultDigestSchedule + " (Mondays 09:00).",
		parse: func(v string) (string, error) { return parseSchedule(v, true) },
		apply: func(s *Settings, v string) { s.DigestSchedule = v },
		get:   func(s Settings) string { return s.DigestSchedule },
	}
)

// Invalid builds the error for a value the setting refuses, in the same words
// as Parse: what was wrong, then the accepted forms.
func (st Setting) Invalid(problem string) *Error {
	return Errorf(CodeInvalid, "%s: %s.", st.Key, strings.TrimSuffix(problem, ".")).WithHint("Accepted: %s.", st.Forms)
}

var (
	zonePattern      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$`)
	cronFieldPattern = regexp.MustCompile(`^[0-9A-Za-z*/,?\-]{1,40}$`)
	descriptors      = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)

// parseZone accepts an IANA zone name, forgiving its case ("europe/paris").
func parseZone(v string) (string, error) {
	v = strings.TrimSpace(v)
	// "Local" is the server's own zone, not a name: it would move with the host.
	if len(v) > 64 || !zonePattern.MatchString(v) || strings.EqualFold(v, "Local") {
		return "", fmt.Errorf("%q is not an IANA time zone", v)
	}
	for _, name := range []string{v, titleZone(v), strings.ToUpper(v)} {
		if _, err := time.LoadLocation(name); err == nil {
			return name, nil
		}
	}
	return "", fmt.Errorf("%q is not an IANA time zone", v)
}

// titleZone capitalizes each word of a zone name: america/new_york -> America/New_York.
func titleZone(v string) string {
	b := []byte(strings.ToLower(v))
	up := true
	for i, c := range b {
		if up && c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
		up = c == '/' || c == '_' || c == '-'
	}
	return string(b)
}

// Location is the zone of a name the timezone setting accepted (UTC if unknown).
func Location(zone string) *time.Location {
	if loc, err := time.LoadLocation(zone); err == nil && zone != "" && zone != "Local" {
		return loc
	}
	return time.UTC
}

// SplitSchedule separates a schedule's own zone ("CRON_TZ=Europe/Paris 0 9 * * *")
// from its spec; zone is "" when the spec names none.
func SplitSchedule(spec string) (zone, body string) {
	spec = strings.TrimSpace(spec)
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if len(spec) >= len(p) && strings.EqualFold(spec[:len(p)], p) {
			zone, body, _ = strings.Cut(spec[len(p):], " ")
			return zone, strings.TrimSpace(body)
		}
	}
	return "", spec
}

// parseSchedule checks a schedule's shape and zone and returns it with single
// spaces; the service's scheduler checks the fields themselves (robfig/cron).
func parseSchedule(v string, allowOff bool) (string, error) {
	v = strings.Join(strings.Fields(v), " ")
	if allowOff && strings.EqualFold(v, "off") {
		return "off", nil
	}
	if v == "" {
		return "", fmt.Errorf("a schedule is needed")
	}
	if len(v) > 120 {
		return "", fmt.Errorf("the schedule is longer than 120 characters")
	}
	zone, body := SplitSchedule(v)
	prefix := ""
	if zone != "" || body != v {
		z, err := parseZone(zone)
		if err != nil {
			return "", fmt.Errorf("CRON_TZ=%s: %w", zone, err)
		}
		prefix = "CRON_TZ=" + z + " "
	}
	fields := strings.Fields(body)
	switch {
	case len(fields) == 1 && strings.HasPrefix(fields[0], "@"):
		d := strings.ToLower(fields[0])
		for _, ok := range descriptors {
			if d == ok {
				return prefix + d, nil
			}
		}
		if strings.HasPrefix(d, "@every") {
			return "", fmt.Errorf("%s is not a fixed schedule; write the times, e.g. \"*/30 * * * *\" for every 30 minutes", fields[0])
		}
		return "", fmt.Errorf("%q is not one of %s", fields[0], strings.Join(descriptors, ", "))
	case len(fields) != 5:
		return "", fmt.Errorf("%q has %d fields, not 5 (minute hour day-of-month month day-of-week)", body, len(fields))
	}
	for _, f := range fields {
		if !cronFieldPattern.MatchString(f) {
			return "", fmt.Errorf("%q is not a cron field", f)
		}
	}
	return prefix + strings.Join(fields, " "), nil
}

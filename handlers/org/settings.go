package org

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// InvitePolicy is who may invite besides admins.
type InvitePolicy string

const (
	InviteAdminsOnly InvitePolicy = "off"
	InviteAnyone     InvitePolicy = "on"
	// InviteApproval turns a non-admin's invitation into a request an admin approves.
	InviteApproval InvitePolicy = "approval"
)

// Settings are the organization's switches. The zero value is not valid: start
// from DefaultSettings.
type Settings struct {
	Name                      string
	AnyoneCanInvite           InvitePolicy
	AllowedDomains            []string // empty: any domain
	InvitesPerDay             int
	InviteExpiry              time.Duration
	AnyoneCanCreateWorkspaces bool
	// Reminders and the admin digest (reminder.go).
	Timezone         string // IANA zone the schedules are read in, "UTC" by default
	ReminderSchedule string // cron spec of the reminder runs
	RemindAfter      time.Duration
	MaxReminders     int    // 0 turns reminders off
	DigestSchedule   string // cron spec of the admin digest, or "off"
	// PreferredPlatform is the chat platform tried first for someone who is
	// in both (PlatformSlack or PlatformTeams); the other comes next.
	PreferredPlatform string
}

// The chat platforms preferred-platform names, as org.Identity.Platform
// spells them.
const (
	PlatformSlack = "slack"
	PlatformTeams = "teams"
)

// DefaultSettings are what a new organization starts with.
func DefaultSettings() Settings {
	return Settings{
		Name:            "your organization",
		AnyoneCanInvite: InviteAdminsOnly,
		InvitesPerDay:   50,
		InviteExpiry:    7 * 24 * time.Hour,

		Timezone:         "UTC",
		ReminderSchedule: DefaultReminderSchedule,
		RemindAfter:      48 * time.Hour,
		MaxReminders:     3,
		DigestSchedule:   DefaultDigestSchedule,

		PreferredPlatform: PlatformSlack,
	}
}

// DomainAllowed reports whether an invitation to email is allowed by the
// allowed-domains setting.
func (s Settings) DomainAllowed(email string) bool {
	if len(s.AllowedDomains) == 0 {
		return true
	}
	return slices.Contains(s.AllowedDomains, EmailDomain(email))
}

// Setting describes one key of `settings KEY VALUE`.
type Setting struct {
	Key   string // as typed: "anyone-can-invite"
	Forms string // the accepted values, for help and errors
	Help  string
	// Schedule marks a cron spec: the service checks it further with its
	// scheduler, which the domain cannot import.
	Schedule bool
	// FreeText marks a value that may hold spaces: `settings KEY` takes the
	// rest of the line, so `settings name Acme Corp` needs no quotes.
	FreeText bool
	// parse validates a typed value and returns the canonical stored form.
	parse func(string) (string, error)
	apply func(*Settings, string)
	get   func(Settings) string
}

// SettingKeys lists every setting in the order help shows them.
var SettingKeys = []Setting{
	{
		Key: "name", Forms: "any text up to 80 characters", FreeText: true,
		Help: "The organization's name, as messages show it.",
		parse: func(v string) (string, error) {
			v = strings.TrimSpace(v)
			if v == "" || len([]rune(v)) > 80 {
				return "", fmt.Errorf("the name must be 1-80 characters")
			}
			return v, nil
		},
		apply: func(s *Settings, v string) { s.Name = v },
		get:   func(s Settings) string { return s.Name },
	},
	{
		Key: "anyone-can-invite", Forms: "approval, or " + boolForms,
		Help: "off: only admins invite. on: every active user may invite, never above their own role and only to workspaces they have. approval: a non-admin's invitation waits for an admin to approve it.",
		parse: func(v string) (string, error) {
			if lower(v) == string(InviteApproval) {
				return string(InviteApproval), nil
			}
			on, err := parseBool(v)
			if err != nil {
				return "", fmt.Errorf("%q is not approval, on or off", v)
			}
			return onOff(on), nil
		},
		apply: func(s *Settings, v string) { s.AnyoneCanInvite = InvitePolicy(v) },
		get:   func(s Settings) string { return string(s.AnyoneCanInvite) },
	},
	{
		Key: "allowed-domains", Forms: "a comma-separated list of domains (example.com,example.org), or any",
		Help: "Invitations may only go to these email domains.",
		parse: func(v string) (string, error) {
			if l := lower(v); l == "any" || l == "" || l == "none" {
				return "", nil
			}
			var out []string
			for _, d := range strings.Split(v, ",") {
				d = strings.TrimPrefix(lower(d), "@")
				if d == "" {
					continue
				}
				if !ValidDomain(d) {
					return "", fmt.Errorf("%q is not a domain", d)
				}
				if !slices.Contains(out, d) {
					out = append(out, d)
				}
			}
			return strings.Join(out, ","), nil
		},
		apply: func(s *Settings, v string) {
			s.AllowedDomains = nil
			if v != "" {
				s.AllowedDomains = strings.Split(v, ",")
			}
		},
		get: func(s Settings) string {
			if len(s.AllowedDomains) == 0 {
				return "any"
			}
			return strings.Join(s.AllowedDomains, ",")
		},
	},
	{
		Key: "invites-per-day", Forms: "a whole number from 1 to 10000",
		Help: "How many invitations one person may send per day (UTC). Admins may exceed it with --force.",
		parse: func(v string) (string, error) {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 || n > 10000 {
				return "", fmt.Errorf("%q is not a whole number from 1 to 10000", v)
			}
			return strconv.Itoa(n), nil
		},
		apply: func(s *Settings, v string) { s.InvitesPerDay, _ = strconv.Atoi(v) },
		get:   func(s Settings) string { return strconv.Itoa(s.InvitesPerDay) },
	},
	{
		Key: "invite-expiry", Forms: "a duration from 1h to 90d, e.g. 7d, 72h or 1d12h",
		Help: "How long a new invitation stays valid.",
		parse: func(v string) (string, error) {
			d, err := ParseDuration(v)
			if err != nil || d < time.Hour || d > 90*24*time.Hour {
				return "", fmt.Errorf("%q is not a duration from 1h to 90d", v)
			}
			return FormatDuration(d), nil
		},
		apply: func(s *Settings, v string) { s.InviteExpiry, _ = ParseDuration(v) },
		get:   func(s Settings) string { return FormatDuration(s.InviteExpiry) },
	},
	{
		Key: "anyone-can-create-workspaces", Forms: boolForms,
		Help: "on: every active member may create workspaces (they become its manager).",
		parse: func(v string) (string, error) {
			on, err := parseBool(v)
			if err != nil {
				return "", err
			}
			return onOff(on), nil
		},
		apply: func(s *Settings, v string) { s.AnyoneCanCreateWorkspaces = v == "on" },
		get:   func(s Settings) string { return onOff(s.AnyoneCanCreateWorkspaces) },
	},
	timezoneSetting, reminderScheduleSetting, remindAfterSetting, maxRemindersSetting, digestScheduleSetting,
	{
		Key: "preferred-platform", Forms: "slack or teams",
		Help: "Where usher writes first to someone who is in both Slack and Teams; the other is tried next, and the sender is told when neither knows them.",
		parse: func(v string) (string, error) {
			switch p := lower(v); p {
			case PlatformSlack, PlatformTeams:
				return p, nil
			}
			return "", fmt.Errorf("%q is not slack or teams", v)
		},
		apply: func(s *Settings, v string) { s.PreferredPlatform = v },
		get:   func(s Settings) string { return s.PreferredPlatform },
	},
}

// boolForms are the words parseBool reads, for help and errors.
const boolForms = "on/off, yes/no, true/false, enabled/disabled, 1/0 (any case)"

// parseBool is the one reader of on/off values, so that every switch takes
// the same words: a setting that took "yes" next to one that refused it
// made people guess (issue 14).
func parseBool(v string) (bool, error) {
	switch lower(v) {
	case "on", "yes", "true", "enabled", "1":
		return true, nil
	case "off", "no", "false", "disabled", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on or off", v)
}

// onOff is a switch's stored and shown form.
func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// LookupSetting finds a setting by its typed key; underscores are accepted for
// hyphens because the product brief spells them that way.
func LookupSetting(key string) (Setting, bool) {
	k := strings.ReplaceAll(lower(key), "_", "-")
	for _, s := range SettingKeys {
		if s.Key == k {
			return s, true
		}
	}
	return Setting{}, false
}

// Parse validates a typed value and returns its canonical stored form.
func (st Setting) Parse(value string) (string, error) {
	value, err := CleanText("The value of "+st.Key, value)
	if err != nil {
		return "", err
	}
	v, err := st.parse(value)
	if err != nil {
		return "", Errorf(CodeInvalid, "%s: %s.", st.Key, err).WithHint("Accepted: %s.", st.Forms)
	}
	return v, nil
}

// Get renders the current value.
func (st Setting) Get(s Settings) string { return st.get(s) }

// SettingsFrom builds Settings from stored canonical values; unknown keys and
// unparsable values (which only a hand edit of Redis could produce) keep their
// defaults.
func SettingsFrom(stored map[string]string) Settings {
	s := DefaultSettings()
	for _, st := range SettingKeys {
		if v, ok := stored[st.Key]; ok {
			if canon, err := st.parse(v); err == nil {
				st.apply(&s, canon)
			}
		}
	}
	return s
}

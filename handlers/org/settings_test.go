package org_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

func TestDefaultSettings(t *testing.T) {
	s := org.DefaultSettings()
	want := org.Settings{
		Name:            "your organization",
		AnyoneCanInvite: org.InviteAdminsOnly,
		InvitesPerDay:   50,
		InviteExpiry:    7 * day,

		Timezone:         "UTC",
		ReminderSchedule: "0 9 * * MON-FRI",
		RemindAfter:      2 * day,
		MaxReminders:     3,
		DigestSchedule:   "0 9 * * MON",

		PreferredPlatform: "slack",
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("DefaultSettings() = %+v, want %+v", s, want)
	}
}

// settingCases are the documented forms of every setting (want is the
// canonical stored value) and values each must refuse (bad: true).
var settingCases = []struct {
	key, in, want string
	bad           bool
}{
	{key: "name", in: "Acme", want: "Acme"},
	{key: "name", in: "  Acme Corp  ", want: "Acme Corp"},
	{key: "name", in: strings.Repeat("é", 80), want: strings.Repeat("é", 80)}, // 80 characters, 160 bytes
	{key: "name", in: "", bad: true},
	{key: "name", in: "   ", bad: true},
	{key: "name", in: strings.Repeat("x", 81), bad: true},

	{key: "anyone-can-invite", in: "off", want: "off"},
	{key: "anyone-can-invite", in: "on", want: "on"},
	{key: "anyone-can-invite", in: "approval", want: "approval"},
	{key: "anyone-can-invite", in: " ON ", want: "on"},
	{key: "anyone-can-invite", in: "Approval", want: "approval"},
	{key: "anyone-can-invite", in: "yes", want: "on"}, // one boolean parser for every switch (issue 14)
	{key: "anyone-can-invite", in: "maybe", bad: true},
	{key: "anyone-can-invite", in: "", bad: true},
	{key: "anyone-can-invite", in: "admins", bad: true},

	{key: "allowed-domains", in: "example.com", want: "example.com"},
	{key: "allowed-domains", in: "example.com,example.org", want: "example.com,example.org"},
	{key: "allowed-domains", in: " Example.COM , @example.org ", want: "example.com,example.org"},
	{key: "allowed-domains", in: "example.com,EXAMPLE.com", want: "example.com"},
	{key: "allowed-domains", in: "example.com,", want: "example.com"},
	{key: "allowed-domains", in: "any", want: ""},
	{key: "allowed-domains", in: "ANY", want: ""},
	{key: "allowed-domains", in: "none", want: ""},
	{key: "allowed-domains", in: "", want: ""},
	{key: "allowed-domains", in: "localhost", bad: true},
	{key: "allowed-domains", in: "example.com,not a domain.com", bad: true},
	{key: "allowed-domains", in: "example..com", bad: true},
	{key: "allowed-domains", in: ".example.com", bad: true},
	{key: "allowed-domains", in: "bob@example.com", bad: true},

	{key: "invites-per-day", in: "1", want: "1"},
	{key: "invites-per-day", in: " 50 ", want: "50"},
	{key: "invites-per-day", in: "10000", want: "10000"},
	{key: "invites-per-day", in: "0", bad: true},
	{key: "invites-per-day", in: "-5", bad: true},
	{key: "invites-per-day", in: "10001", bad: true},
	{key: "invites-per-day", in: "1.5", bad: true},
	{key: "invites-per-day", in: "lots", bad: true},
	{key: "invites-per-day", in: "", bad: true},

	{key: "invite-expiry", in: "7d", want: "7d"},
	{key: "invite-expiry", in: "72h", want: "3d"},
	{key: "invite-expiry", in: "1d12h", want: "36h"},
	{key: "invite-expiry", in: "2w", want: "14d"},
	{key: "invite-expiry", in: "1h", want: "1h"},
	{key: "invite-expiry", in: "90m", want: "90m"},
	{key: "invite-expiry", in: "90d", want: "90d"},
	{key: "invite-expiry", in: "59m", bad: true},
	{key: "invite-expiry", in: "91d", bad: true},
	{key: "invite-expiry", in: "13w", bad: true},
	{key: "invite-expiry", in: "-7d", bad: true},
	{key: "invite-expiry", in: "-72h", bad: true},
	{key: "invite-expiry", in: "forever", bad: true},
	{key: "invite-expiry", in: "", bad: true},

	{key: "anyone-can-create-workspaces", in: "on", want: "on"},
	{key: "anyone-can-create-workspaces", in: "true", want: "on"},
	{key: "anyone-can-create-workspaces", in: "YES", want: "on"},
	{key: "anyone-can-create-workspaces", in: "off", want: "off"},
	{key: "anyone-can-create-workspaces", in: "false", want: "off"},
	{key: "anyone-can-create-workspaces", in: " No ", want: "off"},
	{key: "anyone-can-create-workspaces", in: "approval", bad: true},
	{key: "anyone-can-create-workspaces", in: "1", want: "on"},
	{key: "anyone-can-create-workspaces", in: "2", bad: true},
	{key: "anyone-can-create-workspaces", in: "", bad: true},

	{key: "preferred-platform", in: "slack", want: "slack"},
	{key: "preferred-platform", in: " Teams ", want: "teams"},
	{key: "preferred-platform", in: "shell", bad: true},
	{key: "preferred-platform", in: "both", bad: true},
	{key: "preferred-platform", in: "", bad: true},
}

func TestSettingParse(t *testing.T) {
	good, bad := map[string]int{}, map[string]int{}
	for _, tt := range settingCases {
		t.Run(tt.key+"="+tt.in, func(t *testing.T) {
			st, ok := org.LookupSetting(tt.key)
			if !ok {
				t.Fatalf("LookupSetting(%q) found nothing", tt.key)
			}
			got, err := st.Parse(tt.in)
			if tt.bad {
				bad[tt.key]++
				if err == nil {
					t.Fatalf("Parse(%q) = %q, want an error", tt.in, got)
				}
				var e *org.Error
				if !errors.As(err, &e) || e.Code != org.CodeInvalid {
					t.Fatalf("Parse(%q) error = %#v, want CodeInvalid", tt.in, err)
				}
				if !strings.HasPrefix(e.Message, tt.key+": ") {
					t.Errorf("message %q should start with the key", e.Message)
				}
				if want := "Accepted: " + st.Forms + "."; e.Hint != want {
					t.Errorf("hint = %q, want %q", e.Hint, want)
				}
				return
			}
			good[tt.key]++
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			// The canonical form is accepted again unchanged ...
			if again, err := st.Parse(got); err != nil || again != got {
				t.Errorf("Parse(%q) (canonical) = %q, %v", got, again, err)
			}
			// ... and survives being stored and read back.
			s := org.SettingsFrom(map[string]string{tt.key: got})
			wantGet := got
			if tt.key == "allowed-domains" && got == "" {
				wantGet = "any"
			}
			if v := st.Get(s); v != wantGet {
				t.Errorf("Get(SettingsFrom{%s: %q}) = %q, want %q", tt.key, got, v, wantGet)
			}
		})
	}
	// Every setting has documented forms and refusals in the table above.
	for _, st := range org.SettingKeys {
		if good[st.Key] == 0 || bad[st.Key] == 0 {
			t.Errorf("setting %q has %d accepted and %d refused cases; want both", st.Key, good[st.Key], bad[st.Key])
		}
		if st.Forms == "" || st.Help == "" {
			t.Errorf("setting %q has no Forms or Help", st.Key)
		}
	}
}

func TestLookupSetting(t *testing.T) {
	for _, st := range org.SettingKeys {
		variants := []string{st.Key, strings.ToUpper(st.Key), " " + st.Key + " ", strings.ReplaceAll(st.Key, "-", "_")}
		for _, k := range variants {
			got, ok := org.LookupSetting(k)
			if !ok || got.Key != st.Key {
				t.Errorf("LookupSetting(%q) = %q, %v; want %q", k, got.Key, ok, st.Key)
			}
		}
	}
	for _, k := range []string{"", "nope", "anyone-can", "anyonecaninvite", "invite"} {
		if got, ok := org.LookupSetting(k); ok {
			t.Errorf("LookupSetting(%q) = %q, want nothing", k, got.Key)
		}
	}
}

func TestSettingsFrom(t *testing.T) {
	tests := []struct {
		name   string
		stored map[string]string
		want   org.Settings
	}{
		{"nothing stored", nil, org.DefaultSettings()},
		{"garbage and unknown keys keep the defaults", map[string]string{
			"name":                         "",
			"anyone-can-invite":            "sometimes",
			"allowed-domains":              "not a domain",
			"invites-per-day":              "lots",
			"invite-expiry":                "forever",
			"anyone-can-create-workspaces": "maybe",
			"bogus":                        "1",
			"anyone_can_invite":            "on", // stored keys are canonical; no alias here
		}, org.DefaultSettings()},
		{"every key", map[string]string{
			"name":                         "Acme",
			"anyone-can-invite":            "approval",
			"allowed-domains":              "acme.com,acme.org",
			"invites-per-day":              "10",
			"invite-expiry":                "36h",
			"anyone-can-create-workspaces": "on",
			"timezone":                     "Europe/Paris",
			"reminder-schedule":            "30 8 * * *",
			"remind-after":                 "1d",
			"max-reminders":                "0",
			"digest-schedule":              "off",
			"preferred-platform":           "teams",
		}, org.Settings{
			Name:                      "Acme",
			AnyoneCanInvite:           org.InviteApproval,
			AllowedDomains:            []string{"acme.com", "acme.org"},
			InvitesPerDay:             10,
			InviteExpiry:              36 * time.Hour,
			AnyoneCanCreateWorkspaces: true,
			Timezone:                  "Europe/Paris",
			ReminderSchedule:          "30 8 * * *",
			RemindAfter:               day,
			MaxReminders:              0,
			DigestSchedule:            "off",
			PreferredPlatform:         "teams",
		}},
		{"good values next to bad ones", map[string]string{
			"name":            "Acme",
			"invites-per-day": "0",
		}, func() org.Settings { s := org.DefaultSettings(); s.Name = "Acme"; return s }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := org.SettingsFrom(tt.stored); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SettingsFrom(%v) = %+v, want %+v", tt.stored, got, tt.want)
			}
		})
	}
}

func TestSettingGetDefaults(t *testing.T) {
	want := map[string]string{
		"name":                         "your organization",
		"anyone-can-invite":            "off",
		"allowed-domains":              "any",
		"invites-per-day":              "50",
		"invite-expiry":                "7d",
		"anyone-can-create-workspaces": "off",
		"timezone":                     "UTC",
		"reminder-schedule":            "0 9 * * MON-FRI",
		"remind-after":                 "2d",
		"max-reminders":                "3",
		"digest-schedule":              "0 9 * * MON",
		"preferred-platform":           "slack",
	}
	s := org.DefaultSettings()
	for _, st := range org.SettingKeys {
		if got := st.Get(s); got != want[st.Key] {
			t.Errorf("%s: Get(defaults) = %q, want %q", st.Key, got, want[st.Key])
		}
	}
	if len(want) != len(org.SettingKeys) {
		t.Errorf("SettingKeys has %d keys, this test knows %d", len(org.SettingKeys), len(want))
	}
}

func TestDomainAllowed(t *testing.T) {
	tests := []struct {
		domains []string
		email   string
		want    bool
	}{
		{nil, "bob@anything.io", true},
		{[]string{"acme.com"}, "bob@acme.com", true},
		{[]string{"acme.com", "acme.org"}, "Bob@acme.org", true},
		{[]string{"acme.com"}, "bob@evil.com", false},
		{[]string{"acme.com"}, "bob@mail.acme.com", false}, // subdomains are not included
		{[]string{"acme.com"}, "bob@acme.com.evil.io", false},
		{[]string{"acme.com"}, "acme.com@evil.io", false},
	}
	for _, tt := range tests {
		s := org.DefaultSettings()
		s.AllowedDomains = tt.domains
		if got := s.DomainAllowed(tt.email); got != tt.want {
			t.Errorf("DomainAllowed(%v, %q) = %v, want %v", tt.domains, tt.email, got, tt.want)
		}
	}
}

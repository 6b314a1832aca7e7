package handlers

import (
	"context"
	"fmt"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
)

// settings shows all settings, one setting, or changes one (admins).
func (s *Service) settings(ctx context.Context, c *call) (Reply, error) {
	snap, err := s.load(ctx, c, org.Query{})
	if err != nil {
		return Reply{}, err
	}
	set := snap.Settings
	if err := org.Authorize(snap.Actor, set, org.ActViewSettings); err != nil {
		return Reply{}, err
	}
	args := c.cmd.Args
	if len(args) == 0 {
		r := Reply{Message: Message{Title: "Settings of " + set.Name, Footer: "Change one with: settings KEY VALUE (admins). help settings lists the accepted values."}}
		for _, st := range org.SettingKeys {
			r.Fields = append(r.Fields, Field{Label: st.Key, Value: st.Get(set)})
		}
		return r, nil
	}
	st, ok := org.LookupSetting(args[0])
	if !ok {
		return Reply{}, unknownSetting(args[0])
	}
	if len(args) == 1 {
		return Reply{Message: Message{Fields: []Field{{Label: st.Key, Value: st.Get(set)}}, Footer: st.Help + " Accepted: " + st.Forms + "."}}, nil
	}
	if err := org.Authorize(snap.Actor, set, org.ActChangeSettings); err != nil {
		return Reply{}, err
	}
	typed := args[1]
	if len(args) > 2 {
		if !st.FreeText {
			return Reply{}, org.Errorf(org.CodeInvalid, "%s takes one value, got %d words.", st.Key, len(args)-1).WithHint("Accepted: %s.", st.Forms)
		}
		// The words were split on spaces by the command parser; runs of
		// spaces come back as one, which a name does not miss.
		typed = strings.Join(args[1:], " ")
	}
	value, err := st.Parse(typed)
	if err != nil {
		return Reply{}, err
	}
	note, err := s.checkSetting(c.now, set, st, value) // schedules: remind.go
	if err != nil {
		return Reply{}, err
	}
	before := st.Get(set)
	after := st.Get(org.SettingsFrom(map[string]string{st.Key: value}))
	if before == after {
		return Reply{Replace: c.cmd.Has(fromFlag), Code: org.CodeConflict, Message: Message{Tone: ToneInfo, Text: fmt.Sprintf("%s is already %s; nothing changed.", st.Key, before)}}, nil
	}
	if from := c.cmd.Flag(fromFlag); c.cmd.Has(fromFlag) && from != before {
		// A button decided on another value (confirm.go): say what it is now
		// rather than overwrite a change its clicker never saw.
		return Reply{Replace: true, Code: org.CodeConflict, Message: Message{Tone: ToneWarning,
			Text:   fmt.Sprintf("%s is now %s, not %s; nothing changed.", st.Key, before, from),
			Footer: fmt.Sprintf("To change it anyway: settings %s %s", st.Key, quote(typed))}}, nil
	}
	err = s.commit(ctx, c, snap, org.Change{
		Settings: map[string]string{st.Key: value},
		Audit:    []org.AuditEntry{{Action: "settings.change", Target: st.Key, Before: before, After: after}},
		// Decided on the settings as read, the audit's Before and a --from
		// check included: a concurrent change makes it decide again.
		PinRevision: true, Revision: snap.Revision,
	})
	if err != nil {
		return Reply{}, err
	}
	return Reply{Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("%s is now %s (was %s).%s", st.Key, after, before, note)}}, nil
}

func unknownSetting(key string) error {
	keys := make([]string, len(org.SettingKeys))
	for i, st := range org.SettingKeys {
		keys[i] = st.Key
	}
	return org.Errorf(org.CodeInvalid, "There is no setting %q.", key).WithHint("Settings: %s.", strings.Join(keys, ", "))
}

func settingsHelp() string {
	var b strings.Builder
	b.WriteString("Without arguments, shows every setting. With KEY, shows one. With KEY VALUE, changes it (admins). Settings:")
	for _, st := range org.SettingKeys {
		fmt.Fprintf(&b, "\n  %s: %s Accepted: %s.", st.Key, st.Help, st.Forms)
	}
	return b.String()
}

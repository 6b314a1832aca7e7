package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// workspaces lists workspaces with how many active members have each.
func (s *Service) workspaces(ctx context.Context, c *call) (Reply, error) {
	snap, err := s.load(ctx, c, org.Query{Workspaces: true, AllUsers: true})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActListWorkspaces); err != nil {
		return Reply{}, err
	}
	ws := slices.SortedFunc(slices.Values(snap.Workspaces), func(a, b org.Workspace) int { return strings.Compare(a.Name, b.Name) })
	r := Reply{Message: Message{Title: "Workspaces"}}
	if len(ws) == 0 {
		r.Text = "There are no workspaces yet."
		r.Footer = "Create one with: workspace create NAME"
		return r, nil
	}
	r.Text = plural(len(ws), "workspace", "workspaces") + ":"
	for _, w := range ws {
		n := 0
		for _, u := range snap.AllUsers {
			if _, ok := u.Workspaces.Get(w.Name); ok && u.Active() {
				n++
			}
		}
		mine := ""
		if g, ok := snap.Actor.Workspaces.Get(w.Name); ok {
			mine = ", you are " + string(g.Role)
		}
		r.Items = append(r.Items, Item{Text: fmt.Sprintf("%s — %s%s", w.Name, plural(n, "member", "members"), mine)})
	}
	return r, nil
}

// createWorkspace creates a workspace; its creator becomes its manager.
func (s *Service) createWorkspace(ctx context.Context, c *call) (Reply, error) {
	name, err := org.NormalizeWorkspaceName(c.cmd.Args[0])
	if err != nil {
		return Reply{}, err
	}
	snap, err := s.load(ctx, c, org.Query{})
	if err != nil {
		return Reply{}, err
	}
	actor := snap.Actor
	if err := org.Authorize(actor, snap.Settings, org.ActCreateWorkspace); err != nil {
		return Reply{}, err
	}
	next := actor.Clone()
	next.Workspaces = next.Workspaces.With(org.Grant{Workspace: name, Role: org.WorkspaceManager}).ForRole(actor.Role)
	next.Updated = c.now
	err = s.commit(ctx, c, snap, org.Change{
		Workspace: &org.Workspace{Name: name, Creator: c.email, Created: c.now},
		Users:     []org.UserWrite{{User: next, Version: actor.Version}},
		Audit:     []org.AuditEntry{{Action: "workspace.create", Target: name}},
	})
	if err != nil {
		return Reply{}, err
	}
	g, _ := next.Workspaces.Get(name)
	return Reply{Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("Created workspace %s; you are its %s.", name, g.Role),
		Footer: fmt.Sprintf("Invite people to it with: invite EMAIL --workspace %s", name)}}, nil
}

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
	value, err := st.Parse(args[1])
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
			Footer: fmt.Sprintf("To change it anyway: settings %s %s", st.Key, quote(args[1]))}}, nil
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

// auditShown bounds how many entries one reply shows; chat messages are small.
const auditShown = 50

// audit shows the newest audit entries, optionally by or about one user and
// within a recent window.
func (s *Service) audit(ctx context.Context, c *call) (Reply, error) {
	var who string
	var since time.Duration
	var err error
	if v := c.cmd.Flag("user"); v != "" {
		if who, err = target(v); err != nil {
			return Reply{}, err
		}
	}
	if v := c.cmd.Flag("since"); v != "" {
		if since, err = org.ParseDuration(v); err != nil || since <= 0 {
			return Reply{}, org.Errorf(org.CodeInvalid, "--since %s is not a duration.", v).WithHint("Write it like 24h, 7d or 1d12h.")
		}
	}
	snap, err := s.load(ctx, c, org.Query{AuditLimit: 1000})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActReadAudit); err != nil {
		return Reply{}, err
	}
	r := Reply{Message: Message{Title: "Audit log"}}
	matched := 0
	for _, e := range snap.Audit {
		if since > 0 && e.At.Before(c.now.Add(-since)) {
			break // newest first: everything after is older
		}
		if who != "" && !org.SameEmail(e.Actor, who) && !org.SameEmail(e.Target, who) { // entries from before the identity rule keep their spelling
			continue
		}
		matched++
		if len(r.Items) < auditShown {
			r.Items = append(r.Items, Item{Text: auditLine(e)})
		}
	}
	switch {
	case matched == 0:
		r.Text = "No audit entries match."
	case matched > auditShown:
		r.Text = fmt.Sprintf("%d entries match; the newest %d:", matched, auditShown)
	default:
		r.Text = plural(matched, "entry", "entries") + ", newest first:"
	}
	return r, nil
}

func auditLine(e org.AuditEntry) string {
	line := fmt.Sprintf("%s %s %s %s", e.At.UTC().Format("2006-01-02 15:04"), e.Actor, e.Action, e.Target)
	if e.Before != "" || e.After != "" {
		line += fmt.Sprintf(": %s -> %s", orDash(e.Before), orDash(e.After))
	}
	if e.Detail != "" {
		line += " (" + e.Detail + ")"
	}
	return line
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// help lists the commands or explains one; it needs no storage.
func (s *Service) help(_ context.Context, c *call) (Reply, error) {
	if len(c.cmd.Args) > 0 {
		name := strings.ToLower(strings.Join(c.cmd.Args, " "))
		spec, ok := s.registry.Lookup(name)
		if !ok || spec.Hidden {
			e := org.Errorf(org.CodeInvalid, "There is no command %q.", name)
			if near := s.registry.Suggest(c.cmd.Args[0]); near != "" {
				return Reply{}, e.WithHint("Did you mean %q?", near)
			}
			return Reply{}, e.WithHint("Type help to see every command.")
		}
		text := spec.Summary
		if spec.Help != "" {
			text = spec.Help
		}
		r := Reply{Message: Message{Title: spec.Verb, Text: "Usage: " + spec.Usage + "\n" + text}}
		for _, f := range spec.Flags {
			if f.Help == "" || f.Hidden {
				continue
			}
			name := "--" + f.Name
			if f.Value != "" {
				name += " " + f.Value
			}
			r.Fields = append(r.Fields, Field{Label: name, Value: f.Help})
		}
		return r, nil
	}
	r := Reply{Message: Message{Title: "usher commands", Footer: "help COMMAND explains one, e.g. help invite."}}
	for _, spec := range s.registry.Visible() {
		r.Items = append(r.Items, Item{Text: spec.Usage + " — " + spec.Summary})
	}
	return r, nil
}

package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// members lists users, filtered by role, workspace, status and search, by
// email, a page at a time (MembersPerPage); --export hands admins the whole
// list as a CSV instead (export.go).
func (s *Service) members(ctx context.Context, c *call) (Reply, error) {
	var role org.Role
	var status org.Status
	var ws string
	var err error
	if v := c.cmd.Flag("role"); v != "" {
		if role, err = org.ParseRole(v); err != nil {
			return Reply{}, err
		}
	}
	if v := c.cmd.Flag("status"); v != "" {
		if status, err = org.ParseStatus(v); err != nil {
			return Reply{}, err
		}
	}
	if v := c.cmd.Flag("workspace"); v != "" {
		if ws, err = org.NormalizeWorkspaceName(v); err != nil {
			return Reply{}, err
		}
	}
	p, err := readPager(c, MembersPerPage)
	if err != nil {
		return Reply{}, err
	}
	if c.cmd.Has("export") {
		return s.startExport(ctx, c, ExportMembers)
	}
	snap, err := s.load(ctx, c, org.Query{AllUsers: true})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActListMembers); err != nil {
		return Reply{}, err
	}
	r := Reply{Message: Message{Title: "Members of " + snap.Settings.Name}}
	var rows []Item
	for _, u := range sortedUsers(snap.AllUsers) {
		if role != "" && u.Role != role || status != "" && u.Status != status {
			continue
		}
		if _, ok := u.Workspaces.Get(ws); ws != "" && !ok {
			continue
		}
		if !p.match(u.Email, u.Display(), u.Name, u.Workspaces.Encode()) {
			continue
		}
		text := fmt.Sprintf("%s — %s", u.Display(), u.Role)
		if u.Name != "" {
			text = fmt.Sprintf("%s (%s) — %s", u.Display(), u.Name, u.Role)
		}
		if u.Status != org.StatusActive {
			text += ", " + string(u.Status)
		}
		rows = append(rows, Item{Text: text, Fields: []Field{{Label: "Workspaces", Value: u.Workspaces.String()}}})
	}
	if !paged(&r, c, p, rows) {
		return p.pastEnd(c, r.Title, "member", "members", len(rows)), nil
	}
	r.Text = p.head(len(rows)) + plural(len(rows), "member", "members")
	if role != "" || status != "" || ws != "" || p.search != "" {
		r.Text = p.head(len(rows)) + plural(len(rows), "member matches", "members match")
	}
	if p.search != "" {
		r.Text += fmt.Sprintf(" %q", p.search)
	}
	r.Text += "."
	return r, nil
}

// sortedUsers orders users by email (the identity), whatever order the
// store read them in.
func sortedUsers(us []*org.User) []*org.User {
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b *org.User) int { return strings.Compare(a.Email, b.Email) })
	return us
}

// loadTarget reads the user a people-management command names, and the
// active admins (the "never the last admin" rule is decided on their real
// number), after checking that the actor may run it at all.
func (s *Service) loadTarget(ctx context.Context, c *call, a org.Action) (*org.Snapshot, *org.User, error) {
	email, err := target(c.cmd.Args[0])
	if err != nil {
		return nil, nil, err
	}
	snap, err := s.load(ctx, c, org.Query{Users: []string{email}, Admins: true})
	if err != nil {
		return nil, nil, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, a); err != nil {
		return nil, nil, err
	}
	u := snap.Users[email]
	if u == nil {
		return nil, nil, org.Errorf(org.CodeNotFound, "%s is not a member of %s.", email, snap.Settings.Name).WithHint("Invite them with: invite %s", email)
	}
	return snap, u, nil
}

// changeRole changes a user's org role after confirmation; never the last admin.
func (s *Service) changeRole(ctx context.Context, c *call) (Reply, error) {
	role, err := org.ParseRole(c.cmd.Args[1])
	if err != nil {
		return Reply{}, err
	}
	snap, u, err := s.loadTarget(ctx, c, org.ActChangeRole)
	if err != nil {
		return Reply{}, err
	}
	if u.Role == role {
		return Reply{Replace: c.confirmed(), Code: org.CodeConflict, Message: Message{Tone: ToneInfo, Text: fmt.Sprintf("%s is already %s; nothing changed.", u.Display(), role)}}, nil
	}
	if org.LastActiveAdmin(u, snap.Admins) {
		// Say it now rather than after a confirmation the storage would
		// refuse; with --confirm too, so the answer does not depend on how
		// the command was typed. The commit's guard still decides a race.
		return Reply{}, org.LastAdminError(u.Display())
	}
	if confirmed, was := c.confirmation(string(u.Role)); !confirmed {
		q := fmt.Sprintf("Change %s's role from %s to %s?", u.Display(), u.Role, role)
		if role == org.RoleViewer && len(u.Workspaces) > 0 {
			q += " Their workspace access becomes read-only."
		}
		if u.Email == c.email {
			q += " This is your own role: you will lose admin rights."
		}
		return statePrompt(commandText(c), string(u.Role), was, u.Display(), q, "Change role", StylePrimary), nil
	}
	next := u.Clone()
	next.Role, next.Updated = role, c.now
	next.Workspaces = next.Workspaces.ForRole(role)
	err = s.commit(ctx, c, snap, org.Change{
		Users: []org.UserWrite{{User: next, Version: u.Version}},
		Audit: []org.AuditEntry{{Action: "user.role", Target: u.Email, Before: string(u.Role), After: string(role)}},
	})
	if err != nil {
		return Reply{}, err
	}
	r := Reply{Replace: true, Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("%s is now %s (was %s).", u.Display(), role, u.Role)}}
	if u.Email != c.email {
		r.Deliveries = s.heard(ctx, snap, []Delivery{notice(u.Email, fmt.Sprintf("%s changed your role in %s from %s to %s.", c.who(snap), snap.Settings.Name, u.Role, role))})
	}
	return r, nil
}

// deactivate stops a user from doing anything, keeping their role and
// workspaces for reactivation, and signs them out of the web.
func (s *Service) deactivate(ctx context.Context, c *call) (Reply, error) {
	snap, u, err := s.loadTarget(ctx, c, org.ActDeactivate)
	if err != nil {
		return Reply{}, err
	}
	if u.Email == c.email {
		return Reply{}, org.Errorf(org.CodeForbidden, "You can't deactivate yourself.").WithHint("Ask another admin.")
	}
	if !u.Active() {
		return Reply{Replace: c.confirmed(), Code: org.CodeConflict, Message: Message{Tone: ToneInfo, Text: fmt.Sprintf("%s is already deactivated; nothing changed.", u.Display())}}, nil
	}
	if org.LastActiveAdmin(u, snap.Admins) {
		return Reply{}, org.LastAdminError(u.Display())
	}
	if confirmed, was := c.confirmation(string(u.Role)); !confirmed {
		q := fmt.Sprintf("Deactivate %s (%s)? They won't be able to do anything and will be signed out of the web. Their role and workspaces are kept for reactivation.", u.Display(), u.Role)
		return statePrompt(commandText(c), string(u.Role), was, u.Display(), q, "Deactivate", StyleDanger), nil
	}
	return s.setStatus(ctx, c, snap, u, org.StatusDeactivated)
}

// activate restores a deactivated user with their previous role and workspaces.
func (s *Service) activate(ctx context.Context, c *call) (Reply, error) {
	snap, u, err := s.loadTarget(ctx, c, org.ActActivate)
	if err != nil {
		return Reply{}, err
	}
	if u.Active() {
		return Reply{Replace: c.confirmed(), Code: org.CodeConflict, Message: Message{Tone: ToneInfo, Text: fmt.Sprintf("%s is already active; nothing changed.", u.Display())}}, nil
	}
	if confirmed, was := c.confirmation(string(u.Role)); !confirmed {
		q := fmt.Sprintf("Reactivate %s as %s with %s?", u.Display(), u.Role, u.Workspaces)
		return statePrompt(commandText(c), string(u.Role), was, u.Display(), q, "Reactivate", StylePrimary), nil
	}
	return s.setStatus(ctx, c, snap, u, org.StatusActive)
}

// reactivationAudit bounds the audit entries read to find the role someone
// had when deactivated; reactivation is rare, and past this the notice just
// states the role without "again".
const reactivationAudit = 1000

// reactivatedNotice tells u their account is back and the role they have:
// "again" only when it is the role they had when deactivated, which the
// audit says (org.RoleWhenDeactivated).
func (s *Service) reactivatedNotice(ctx context.Context, c *call, snap *org.Snapshot, u *org.User) string {
	head := fmt.Sprintf("%s reactivated your account in %s: ", c.who(snap), snap.Settings.Name)
	past, err := s.store.Load(ctx, org.Query{AuditLimit: reactivationAudit})
	if err != nil {
		// Only the wording depends on it: say the role, not whether it is new.
		s.log.WarnContext(ctx, "reactivation: could not read the audit", "err", err)
		return head + fmt.Sprintf("you are %s.", u.Role)
	}
	was, found := org.RoleWhenDeactivated(u.Email, u.Role, past.Audit)
	switch {
	case found && was == u.Role:
		return head + fmt.Sprintf("you are %s again.", u.Role)
	case found:
		return head + fmt.Sprintf("you are now %s (you were %s before).", u.Role, was)
	}
	return head + fmt.Sprintf("you are %s.", u.Role)
}

func (s *Service) setStatus(ctx context.Context, c *call, snap *org.Snapshot, u *org.User, status org.Status) (Reply, error) {
	next := u.Clone()
	next.Status, next.Updated = status, c.now
	ch := org.Change{
		Users: []org.UserWrite{{User: next, Version: u.Version}},
		Audit: []org.AuditEntry{{Action: "user.status", Target: u.Email, Before: string(u.Status), After: string(status)}},
	}
	text := fmt.Sprintf("Reactivated %s as %s with %s.", u.Display(), u.Role, u.Workspaces)
	var tell string
	if status == org.StatusActive {
		tell = s.reactivatedNotice(ctx, c, snap, u)
	}
	if status == org.StatusDeactivated {
		ch.EndSessions = []string{u.Email}
		text = fmt.Sprintf("Deactivated %s. Invitations they sent stay valid unless you revoke them.", u.Display())
		tell = fmt.Sprintf("%s deactivated your account in %s.", c.who(snap), snap.Settings.Name)
	}
	if err := s.commit(ctx, c, snap, ch); err != nil {
		return Reply{}, err
	}
	return Reply{Replace: true, Message: Message{Tone: ToneSuccess, Text: text}, Deliveries: []Delivery{notice(u.Email, tell)}}, nil
}

// TemporaryPasswordLifetime is how long a reset password works.
const TemporaryPasswordLifetime = 24 * time.Hour

// resetPassword gives a user a temporary password, delivered privately to
// them; the admin sees it only when the user can't be reached in chat.
func (s *Service) resetPassword(ctx context.Context, c *call) (Reply, error) {
	snap, u, err := s.loadTarget(ctx, c, org.ActResetPassword)
	if err != nil {
		return Reply{}, err
	}
	if !u.Active() {
		return Reply{}, org.Errorf(org.CodeConflict, "%s is deactivated.", u.Display()).WithHint("Reactivate them first with: activate %s", u.Display())
	}
	if confirmed, was := c.confirmation(string(u.Role)); !confirmed {
		q := fmt.Sprintf("Reset the password of %s (%s)? usher sends them a temporary password privately and signs them out of the web.", u.Display(), u.Role)
		return statePrompt(commandText(c), string(u.Role), was, u.Display(), q, "Reset password", StyleDanger), nil
	}
	password, err := secret.NewPassword(s.rand)
	if err != nil {
		return Reply{}, err
	}
	hash, err := secret.HashPassword(s.rand, password)
	if err != nil {
		return Reply{}, err
	}
	next := u.Clone()
	next.PasswordHash, next.MustChangePassword = hash, true
	next.PasswordExpires, next.Updated = c.now.Add(TemporaryPasswordLifetime), c.now
	if err := s.resetLogin(ctx, u, hash, next.PasswordExpires); err != nil { // login.go: the person's one password
		return Reply{}, err
	}
	err = s.commit(ctx, c, snap, org.Change{
		Users:       []org.UserWrite{{User: next, Version: u.Version}},
		EndSessions: []string{u.Email},
		Audit:       []org.AuditEntry{{Action: "user.password_reset", Target: u.Email, Detail: "temporary password issued; sessions ended"}},
	})
	if err != nil {
		return Reply{}, err
	}
	expires := next.PasswordExpires.Format("Jan 2 15:04 MST")
	return Reply{
		Replace: true,
		Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("Reset %s's password; usher is sending them a temporary password privately.", u.Display())},
		Deliveries: []Delivery{{
			To: u.Email, Kind: DeliverPassword, Sender: c.email,
			Message: Message{Tone: ToneWarning, Title: "Your temporary password",
				Text: fmt.Sprintf("%s reset your password for %s. Your temporary password is:\n%s\nIt works for one sign-in until %s; you will then choose a new one.", c.who(snap), snap.Settings.Name, password, expires)},
			OnDelivered: &Message{Tone: ToneSuccess, Text: fmt.Sprintf("%s got their temporary password in a direct message.", u.Display())},
			OnUnreachable: &Message{Tone: ToneWarning, Title: "Deliver this password yourself",
				Text: fmt.Sprintf("%s can't be reached in chat, so here is their temporary password. Give it to them privately, never in a channel:\n%s\nIt works for one sign-in until %s.", u.Display(), password, expires)},
		}},
	}, nil
}

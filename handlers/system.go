package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// The operations below are not typed by people in chat: the scheduler, the
// operator's terminal and the web pages call them.

// systemCall is a call made by usher itself or its operator.
func (s *Service) systemCall(verb string, actor org.Identity) *call {
	c := &call{req: Request{Actor: actor}, email: actor.Email, now: s.Now()}
	c.cmd.Verb = verb
	return c
}

// retry runs f until it stops losing races with concurrent writers.
func retry(f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		var stale *org.PreconditionError
		if !errors.As(err, &stale) || attempt >= maxAttempts {
			return err
		}
	}
}

// AdminOutcome says what EnsureAdmin did.
type AdminOutcome string

const (
	AdminCreated  AdminOutcome = "created"  // a new user, an active admin
	AdminAlready  AdminOutcome = "already"  // already an active admin: nothing written
	AdminRestored AdminOutcome = "restored" // forced: an existing user promoted or re-activated
	AdminSkipped  AdminOutcome = "skipped"  // exists but is not an active admin, and not forced: left alone
)

// EnsureAdmin is how an operator starts an organization (USHER_ADMINS at
// every start, `usher admin add`): a missing user is created as an active
// admin. An existing user who is not an active admin got there through an
// audited change in chat (an admin demoted or deactivated them), which
// EnsureAdmin does not undo: it reports AdminSkipped with the user as found.
// Only force (`usher admin add EMAIL --force`, e.g. to recover an
// organization whose admins are all gone) promotes and re-activates them,
// logged and audited as the operator's.
func (s *Service) EnsureAdmin(ctx context.Context, email string, force bool) (AdminOutcome, *org.User, error) {
	return s.ensureAdmin(ctx, "admin add", email, force, org.Change{})
}

// CreateOrganization sets up a new organization (`usher org create`): its
// name and its first admin in one atomic commit, audited as the operator's,
// on the same path as EnsureAdmin (an admin who is already one is left as
// is; the name is written anyway). The directory entry is the caller's: it
// lives in another Redis slot, so it cannot join this commit.
func (s *Service) CreateOrganization(ctx context.Context, name, admin string) (AdminOutcome, error) {
	name, err := org.ParseOrgName(name)
	if err != nil {
		return "", err
	}
	outcome, _, err := s.ensureAdmin(ctx, "org create", admin, false, org.Change{
		Settings: map[string]string{"name": name},
		Audit:    []org.AuditEntry{{Actor: "operator", Via: "terminal", Action: "org.create", Target: name, After: "name " + name}},
	})
	return outcome, err
}

// ensureAdmin is EnsureAdmin committing also (settings and audit entries)
// with the admin's write; also is committed even when the admin needs none.
func (s *Service) ensureAdmin(ctx context.Context, verb, email string, force bool, also org.Change) (AdminOutcome, *org.User, error) {
	email, spelling, err := org.SpellEmail(email)
	if err != nil {
		return "", nil, err
	}
	c := s.systemCall(verb, org.Identity{Platform: "operator", Email: email})
	var outcome AdminOutcome
	var found *org.User
	err = retry(func() error {
		snap, err := s.store.Load(ctx, org.Query{Users: []string{email}})
		if err != nil {
			return fmt.Errorf("ensure admin %s: %w", email, err)
		}
		u := snap.Users[email]
		found = u
		var version int64
		before, detail := "none", ""
		switch {
		case u == nil:
			// The operator's spelling; an existing user keeps theirs.
			u = &org.User{Email: email, Spelling: spelling, Created: c.now}
			outcome = AdminCreated
		case u.IsActiveAdmin():
			outcome = AdminAlready
			return s.commitAlso(ctx, c, also)
		case !force:
			outcome = AdminSkipped
			return s.commitAlso(ctx, c, also)
		default:
			version, before, u = u.Version, describeUser(u), u.Clone()
			outcome, detail = AdminRestored, "forced by the operator over a change made in chat"
		}
		u.Role, u.Status, u.Updated = org.RoleAdmin, org.StatusActive, c.now
		u.Workspaces = u.Workspaces.ForRole(org.RoleAdmin)
		return s.commitSystem(ctx, c, org.Change{
			Users:    []org.UserWrite{{User: u, Version: version}},
			Settings: also.Settings,
			Audit: append([]org.AuditEntry{{Actor: "operator", Via: "terminal", Action: "user.bootstrap_admin", Target: email, Before: before, After: describeUser(u), Detail: detail}},
				also.Audit...),
		})
	})
	if err != nil {
		return "", nil, err
	}
	if outcome == AdminRestored {
		s.log.WarnContext(ctx, "operator forced an active admin back", "email", email, "was_role", found.Role, "was_status", found.Status)
	}
	return outcome, found, nil
}

// BootstrapAdmin makes email an active admin whatever they are now
// (EnsureAdmin with force), creating the user if needed: for tests and
// tools that set up an organization.
func (s *Service) BootstrapAdmin(ctx context.Context, email string) (created bool, err error) {
	outcome, _, err := s.EnsureAdmin(ctx, email, true)
	return outcome == AdminCreated, err
}

// commitAlso commits an ensureAdmin's extra change when it has one.
func (s *Service) commitAlso(ctx context.Context, c *call, also org.Change) error {
	if len(also.Settings) == 0 && len(also.Audit) == 0 {
		return nil
	}
	return s.commitSystem(ctx, c, org.Change{Settings: also.Settings, Audit: also.Audit})
}

func (s *Service) commitSystem(ctx context.Context, c *call, ch org.Change) error {
	ch.Now = c.now
	for i := range ch.Audit {
		if ch.Audit[i].At.IsZero() {
			ch.Audit[i].At = c.now
		}
	}
	if err := s.store.Commit(ctx, ch); err != nil {
		return fmt.Errorf("%s: %w", c.cmd.Verb, err)
	}
	return nil
}

// RecordDelivery remembers where an invitation's link went ("slack:dm",
// "shown to inviter"), for the pending list.
func (s *Service) RecordDelivery(ctx context.Context, invitationID, where string) error {
	if err := s.RecordDeliveries(ctx, []DeliveryRecord{{InvitationID: invitationID, Where: where}}); err != nil {
		return fmt.Errorf("invitation %s: %w", invitationID, err)
	}
	return nil
}

// bulkUnreachableWhere is the delivery record of a bulk's invitee no
// platform reached: the sender was not sent the link, the bulk's progress
// message lists them (unreachable.go).
const bulkUnreachableWhere = "not in chat; listed by the bulk invitation's Show their links"

// DeliveryRecord is where one invitation went (RecordDeliveries), and for
// an invitation of a bulk, its progress record and what to count it as.
type DeliveryRecord struct {
	InvitationID, Where string
	Progress            string
	Outcome             org.ProgressOutcome
}

// RecordDeliveries is RecordDelivery for many invitations at once: one read
// and one commit, the outbox's batch of deliveries recorded together.
func (s *Service) RecordDeliveries(ctx context.Context, rs []DeliveryRecord) error {
	if len(rs) == 0 {
		return nil
	}
	c := s.systemCall("record delivery", org.Identity{Platform: "usher", Email: "usher"})
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		ids = append(ids, r.InvitationID)
	}
	return retry(func() error {
		snap, err := s.store.Load(ctx, org.Query{Invitations: ids})
		if err != nil {
			return fmt.Errorf("record deliveries: %w", err)
		}
		var ch org.Change
		seen := map[string]bool{}
		for _, r := range rs {
			where := r.Where
			if r.Progress != "" {
				// Counted (once, however often) whether or not it is
				// still pending: an accepted invitation was delivered.
				ch.Progress = append(ch.Progress, org.ProgressWrite{ID: r.Progress, Invitation: r.InvitationID, Outcome: r.Outcome})
				if r.Outcome == org.ProgressUnreachable && where == "" {
					// Nobody was sent its link: it is on the bulk's list.
					where = bulkUnreachableWhere
				}
			}
			inv := snap.Invitations[r.InvitationID]
			if where == "" || inv == nil || inv.Status != org.InvitationPending || inv.Delivery == where || seen[r.InvitationID] {
				continue
			}
			seen[r.InvitationID] = true
			next := inv.Clone()
			next.Delivery = where
			ch.Invitations = append(ch.Invitations, org.InvitationWrite{Invitation: next, Expect: org.InvitationPending, Version: inv.Version, Was: inv})
		}
		if len(ch.Invitations) == 0 && len(ch.Progress) == 0 {
			return nil
		}
		return s.commitSystem(ctx, c, ch)
	})
}

// invitationByToken finds the invitation a link's secret opens, for the web
// page. It never consumes the token: only AcceptWithToken does.
func (s *Service) invitationByToken(ctx context.Context, token string) (*org.Invitation, org.Settings, error) {
	if !secret.ValidToken(token) {
		return nil, org.Settings{}, ErrInvalidLink
	}
	snap, err := s.store.Load(ctx, org.Query{TokenHash: secret.Token(token).Hash()})
	if err != nil {
		return nil, org.Settings{}, fmt.Errorf("invitation by token: %w", err)
	}
	inv := snap.Invitation
	if inv == nil || inv.Status != org.InvitationPending || inv.ExpiredAt(s.Now()) || inv.TokenHash != secret.Token(token).Hash() {
		return nil, snap.Settings, ErrInvalidLink
	}
	return inv, snap.Settings, nil
}

// acceptWithToken accepts an invitation of this organization on the web, where holding the link is
// the proof of identity: the same transition as the chat Accept, and the
// token dies with it. A password, when given, must pass the password policy.
func (s *Service) acceptWithToken(ctx context.Context, token, name, password string) (Reply, error) {
	inv, _, err := s.invitationByToken(ctx, token)
	if err != nil {
		return Reply{}, err
	}
	if name != "" {
		if name, err = NormalizeDisplayName(name); err != nil {
			return Reply{}, err
		}
	}
	hash := ""
	if password != "" {
		if err := org.CheckNewPassword(password, password, inv.Email); err != nil {
			return Reply{}, err
		}
		if hash, err = secret.HashPassword(s.rand, password); err != nil {
			return Reply{}, err
		}
	}
	return s.settleWithToken(ctx, token, org.InvitationAccepted, name, hash)
}

// Clock is exposed for adapters that schedule work.
func (s *Service) Clock() func() time.Time { return s.clock }

// PreferredPlatform is the organization's preferred-platform setting: the
// chat platform tried first for someone who is in several (bot/deliver).
func (s *Service) PreferredPlatform(ctx context.Context) (string, error) {
	snap, err := s.store.Load(ctx, org.Query{})
	if err != nil {
		return "", fmt.Errorf("preferred platform: %w", err)
	}
	return snap.Settings.PreferredPlatform, nil
}

package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Signing in per person (issue 13, item 4). With a Deployment, a person has
// one password for every organization they belong to (org.Login, kept by
// the deployment, not by any organization), and one web session serves
// them all; what they may do stays each organization's (its User's role and
// status). So:
//
//   - a sign-in needs the person's password and an active membership in at
//     least one organization; the pages then show the first of those (the
//     web's own organization first, then the others by id);
//   - a deactivation in one organization ends nothing else: every page
//     checks again that the person is active somewhere, and is signed out
//     at once when they are active nowhere;
//   - a password change on the web replaces the one password and ends every
//     session of the person;
//   - an admin's reset-password replaces the one password too, so it may
//     open other organizations: it is allowed only when the person is active
//     in no other organization (resetLogin). Otherwise only the person can
//     change it (they know their current one).
//
// Passwords set before per-person sign-in are in the web organization's
// User records; the first sign-in copies that one to the person's
// credential (loginOf). Sessions begun before are signed out once.

// loginStamp fingerprints what a web session depends on, as sessionStamp
// does for a per-organization user: every reset and change moves it.
func loginStamp(l *org.Login) string {
	var exp int64
	if !l.PasswordExpires.IsZero() {
		exp = l.PasswordExpires.UnixMilli()
	}
	sum := sha256.Sum256([]byte("usher web session\x00" + l.PasswordHash + "\x00" + strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(sum[:16])
}

// home is an organization where a person is an active member.
type home struct {
	svc     *Service
	user    *org.User
	set     org.Settings
	deliver func(context.Context, []Delivery) error // nil for this Service
}

// userHere reads email's user record in this organization, with its settings.
func (s *Service) userHere(ctx context.Context, email string) (*org.User, org.Settings, error) {
	snap, err := s.store.Load(ctx, org.Query{Users: []string{email}})
	if err != nil {
		return nil, org.Settings{}, fmt.Errorf("user %s: %w", email, err)
	}
	return snap.Users[email], snap.Settings, nil
}

// homeOf is the first organization where email is an active member: this
// one, then the others the person index names, by id; nil when none.
// Each answer is that organization's own state.
func (s *Service) homeOf(ctx context.Context, email string) (*home, error) {
	var found *home
	err := s.eachHome(ctx, email, func(h *home) bool { found = h; return false })
	return found, err
}

// eachHome calls yield with each organization where email is an active
// member, this one first (without reading the person index when it is one
// and yield is satisfied), then the others the person index names, by id,
// until yield returns false.
func (s *Service) eachHome(ctx context.Context, email string, yield func(*home) bool) error {
	u, set, err := s.userHere(ctx, email)
	if err != nil {
		return err
	}
	if u.Active() && !yield(&home{svc: s, user: u, set: set}) {
		return nil
	}
	ids, err := s.deploy.PersonOrgs(ctx, email)
	if err != nil {
		return fmt.Errorf("person's organizations: %w", err)
	}
	for _, id := range ids {
		if id == s.deploy.Org() {
			continue
		}
		peer, deliver, err := s.deploy.Peer(ctx, id)
		if err != nil {
			return fmt.Errorf("organization %s: %w", id, err)
		}
		u, set, err := peer.userHere(ctx, email)
		if err != nil {
			return err
		}
		if u.Active() && !yield(&home{svc: peer, user: u, set: set, deliver: deliver}) {
			return nil
		}
	}
	return nil
}

// loginOf is email's credential. A person without one whose user record in
// this (the web's) organization has a password, set before per-person
// sign-in, gets that one copied.
func (s *Service) loginOf(ctx context.Context, email string) (*org.Login, error) {
	l, err := s.deploy.Login(ctx, email)
	if l != nil || err != nil {
		return l, err
	}
	u, _, err := s.userHere(ctx, email)
	if err != nil || u == nil || u.PasswordHash == "" {
		return nil, err
	}
	err = s.deploy.SetLogin(ctx, org.Login{Email: email, PasswordHash: u.PasswordHash, MustChangePassword: u.MustChangePassword, PasswordExpires: u.PasswordExpires}, 0, false)
	var stale *org.PreconditionError
	if err != nil && !errors.As(err, &stale) { // stale: another sign-in copied it first
		return nil, fmt.Errorf("copy the password of %s: %w", email, err)
	}
	return s.deploy.Login(ctx, email)
}

// auditIn records a person's own web action in their home organization's
// audit log. It is written after the credential (another slot), so a
// failure is logged, not returned: the change itself is made.
func (s *Service) auditIn(ctx context.Context, h *home, c *call, e org.AuditEntry) {
	if err := h.svc.commitSystem(ctx, c, org.Change{Audit: []org.AuditEntry{e}}); err != nil {
		s.log.WarnContext(ctx, "audit of a web action failed", "action", e.Action, "err", err)
	}
}

func (s *Service) personSignIn(ctx context.Context, email, password string) (SignedIn, error) {
	c := s.systemCall("sign in", org.Identity{Platform: "web", Email: email})
	var out SignedIn
	err := retry(func() error {
		l, err := s.loginOf(ctx, email)
		if err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		hash := ""
		if l != nil {
			hash = l.PasswordHash
		}
		match, err := checkSignIn(ctx, hash, password)
		if err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		if !match {
			return ErrSignIn
		}
		h, err := s.homeOf(ctx, email)
		if err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		if h == nil {
			return ErrSignIn // deactivated everywhere (or a member nowhere)
		}
		if !l.MustChangePassword {
			out = SignedIn{Email: email, Name: h.user.Name, Stamp: loginStamp(l), Version: l.Version}
			return nil
		}
		if !c.now.Before(l.PasswordExpires) {
			return ErrTemporaryPasswordExpired
		}
		// Use the temporary password up, as for one organization (web.go).
		next := *l
		next.PasswordHash, next.PasswordExpires = "", c.now
		if err := s.deploy.SetLogin(ctx, next, l.Version, false); err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		next.Version = l.Version + 1
		s.auditIn(ctx, h, c, org.AuditEntry{Actor: email, Via: "web", Action: "user.password_temporary_used", Target: email,
			Detail: "signed in with the temporary password; it no longer works"})
		out = SignedIn{Email: email, Name: h.user.Name, MustChangePassword: true, Stamp: loginStamp(&next), Version: next.Version}
		return nil
	})
	if err != nil {
		return SignedIn{}, settled(err)
	}
	return out, nil
}

func (s *Service) personWebAccount(ctx context.Context, email, stamp string) (*Account, error) {
	l, err := s.deploy.Login(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("web account: %w", err)
	}
	if l == nil || subtle.ConstantTimeCompare([]byte(stamp), []byte(loginStamp(l))) != 1 {
		return nil, ErrSignedOut
	}
	h, err := s.homeOf(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("web account: %w", err)
	}
	if h == nil {
		return nil, ErrSignedOut
	}
	a := &Account{User: h.user.Clone(), Org: h.set}
	a.User.PasswordHash = ""
	a.User.MustChangePassword, a.User.PasswordExpires = l.MustChangePassword, l.PasswordExpires
	return a, nil
}

func (s *Service) personChangePassword(ctx context.Context, email, stamp, current, password, hash string) (SignedIn, Reply, error) {
	c := s.systemCall("change password", org.Identity{Platform: "web", Email: email})
	var out SignedIn
	var reply Reply
	err := retry(func() error {
		l, err := s.deploy.Login(ctx, email)
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		if l == nil || subtle.ConstantTimeCompare([]byte(stamp), []byte(loginStamp(l))) != 1 {
			return ErrSignedOut
		}
		h, err := s.homeOf(ctx, email)
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		if h == nil {
			return ErrSignedOut
		}
		detail := "on the web; every web session ended"
		if l.MustChangePassword {
			detail = "replaced the temporary password on the web"
		} else if err := checkCurrent(ctx, l.PasswordHash, current, password); err != nil {
			return err
		}
		next := org.Login{Email: email, PasswordHash: hash}
		if err := s.deploy.SetLogin(ctx, next, l.Version, true); err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		next.Version = l.Version + 1
		s.auditIn(ctx, h, c, org.AuditEntry{Actor: email, Via: "web", Action: "user.password_change", Target: email, Detail: detail + "; the one password of every organization"})
		out = SignedIn{Email: email, Name: h.user.Name, Stamp: loginStamp(&next), Version: next.Version}
		reply = Reply{
			Message: Message{Tone: ToneSuccess, Text: "Your password is changed. You were signed out everywhere else."},
			Deliveries: []Delivery{notice(email, fmt.Sprintf("Your usher password (for %s and any other organization you belong to) was just changed on the web. If that wasn't you, ask an admin to reset it right away.",
				h.set.Name))},
		}
		reply = s.delivered(ctx, h.deliver, reply)
		return nil
	})
	if err != nil {
		return SignedIn{}, Reply{}, settled(err)
	}
	return out, reply, nil
}

// checkCurrent checks the current password typed for a change, and that
// the new one differs from it.
func checkCurrent(ctx context.Context, stored, current, password string) error {
	if len(current) > 4*org.MaxPasswordLength {
		return ErrCurrentPassword
	}
	if ok, err := secret.CheckPasswordContext(ctx, stored, current); err != nil {
		return fmt.Errorf("change password: %w", err)
	} else if !ok {
		return ErrCurrentPassword
	}
	if same, err := secret.CheckPasswordContext(ctx, stored, password); err != nil {
		return fmt.Errorf("change password: %w", err)
	} else if same {
		return org.Errorf(org.CodeInvalid, "That is your current password.").WithHint("Choose a new one.")
	}
	return nil
}

// resetLogin makes a reset-password in this organization replace the
// person's one password. It opens every organization of theirs, so an
// admin here may reset it only when the person is active in no other one:
// otherwise an admin of one organization could sign in as someone into
// another's pages with the temporary password they are shown when the
// person is unreachable in chat.
func (s *Service) resetLogin(ctx context.Context, u *org.User, hash string, expires time.Time) error {
	if s.deploy == nil {
		return nil
	}
	ids, err := s.deploy.PersonOrgs(ctx, u.Email)
	if err != nil {
		return fmt.Errorf("reset password: person's organizations: %w", err)
	}
	for _, id := range ids {
		if id == s.deploy.Org() {
			continue
		}
		peer, _, err := s.deploy.Peer(ctx, id)
		if err != nil {
			return fmt.Errorf("reset password: organization %s: %w", id, err)
		}
		other, _, err := peer.userHere(ctx, u.Email)
		if err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		if other.Active() {
			return org.Errorf(org.CodeForbidden, "%s also belongs to another organization, and one password signs them in to all of them, so an admin of one can't reset it.", u.Display()).
				WithHint("They can change it themselves on the web (Your account, Change your password).")
		}
	}
	l, err := s.deploy.Login(ctx, u.Email)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	var version int64
	if l != nil {
		version = l.Version
	}
	err = s.deploy.SetLogin(ctx, org.Login{Email: u.Email, PasswordHash: hash, MustChangePassword: true, PasswordExpires: expires}, version, true)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	return nil
}

// acceptWithLogin accepts an invitation on the web with the password the
// invitee chose, which becomes the person's one password unless they have
// one already: a link to one organization is no authority over the
// password of the others, so theirs is kept (and the reply says so). The
// credential is written after the invitation is settled, so that a link
// that fails sets no password; a crash in between leaves a member without
// one, whom an admin's reset (or a sign-in through another organization's
// invitation) mends.
func (s *Service) acceptWithLogin(ctx context.Context, token, name, password string) (Reply, error) {
	inv, _, err := s.invitationByToken(ctx, token)
	if err != nil {
		return Reply{}, err
	}
	if name != "" {
		if name, err = NormalizeDisplayName(name); err != nil {
			return Reply{}, err
		}
	}
	if err := org.CheckNewPassword(password, password, inv.Email); err != nil {
		return Reply{}, err
	}
	hash, err := secret.HashPasswordContext(ctx, s.rand, password)
	if err != nil {
		return Reply{}, err
	}
	r, err := s.settleWithToken(ctx, token, org.InvitationAccepted, name, "")
	if err != nil || r.Tone != ToneSuccess {
		return r, err // an existing member keeps what they had, as settle says
	}
	err = s.deploy.SetLogin(ctx, org.Login{Email: inv.Email, PasswordHash: hash}, 0, false)
	var had *org.PreconditionError
	switch {
	case errors.As(err, &had):
		r.Tone = ToneInfo
		r.Footer = "You already have an usher password: it signs you in here too. The one you just typed was not used."
	case err != nil:
		s.log.ErrorContext(ctx, "accepted on the web, but the password was not stored", "err", err)
		r.Tone = ToneInfo
		r.Footer = "Your password could not be saved; ask an admin to reset it."
	}
	return r, nil
}

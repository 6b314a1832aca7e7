package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// The web pages' use cases: answering an invitation with its link, signing
// in, the account page and changing a password. The session itself (a
// cookie, a record in storage) belongs to the web adapter; these decide who
// may open one and whether it still holds.

var (
	// ErrSignIn is the one answer to every failed sign-in: unknown email,
	// wrong password, no password yet, deactivated account. It never says which.
	ErrSignIn = &org.Error{Code: org.CodeForbidden,
		Message: "That email and password don't match.",
		Hint:    "Check both and try again."}
	// ErrTemporaryPasswordExpired answers a correct but expired temporary password.
	ErrTemporaryPasswordExpired = &org.Error{Code: org.CodeForbidden,
		Message: "Your temporary password has expired.",
		Hint:    "Ask an admin to reset your password again."}
	// ErrSignedOut ends a web session: the account was deactivated, or its
	// password reset or changed since the session began.
	ErrSignedOut = &org.Error{Code: org.CodeForbidden,
		Message: "You have been signed out.",
		Hint:    "Sign in again."}
	// ErrCurrentPassword refuses a password change whose current password is wrong.
	ErrCurrentPassword = &org.Error{Code: org.CodeInvalid,
		Message: "Your current password is not right.",
		Hint:    "Type the password you signed in with."}
	// ErrInvalidLink answers every link that opens nothing: unknown, used,
	// revoked or expired look alike, so a link says nothing about its invitation.
	ErrInvalidLink = &org.Error{Code: org.CodeNotFound,
		Message: "This invitation link is no longer valid.",
		Hint:    "Ask the person who invited you for a new one."}
)

// MaxDisplayName bounds a name typed on the web.
const MaxDisplayName = 100

// NormalizeDisplayName checks the name an invitee types when accepting on the
// web: trimmed, not empty, at most MaxDisplayName characters, printable.
func NormalizeDisplayName(name string) (string, error) {
	name = strings.Join(strings.Fields(name), " ")
	switch {
	case name == "":
		return "", org.Errorf(org.CodeInvalid, "Tell us your name.").WithHint("It is how the people in your organization will see you.")
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		return "", org.Errorf(org.CodeInvalid, "Your name contains characters usher can't show.")
	case utf8.RuneCountInString(name) > MaxDisplayName:
		return "", org.Errorf(org.CodeInvalid, "Your name is too long: at most %d characters.", MaxDisplayName)
	}
	return name, nil
}

// DeclineWithToken declines an invitation on the web, where holding the link
// is the proof of identity: the same transition and audit entry as the chat
// Decline, and the inviter is told.
func (s *Service) DeclineWithToken(ctx context.Context, token string) (Reply, error) {
	t, tok, deliver, err := s.linkTarget(ctx, token)
	if err != nil {
		return Reply{}, err
	}
	r, err := t.settleWithToken(ctx, string(tok), org.InvitationDeclined, "", "")
	return s.delivered(ctx, deliver, r), err
}

// InvitationByToken reads the pending invitation a link opens, in whichever
// organization the link's tag names (linkTarget), with that organization's
// settings. Anything else is ErrInvalidLink.
func (s *Service) InvitationByToken(ctx context.Context, token string) (*org.Invitation, org.Settings, error) {
	t, tok, _, err := s.linkTarget(ctx, token)
	if err != nil {
		return nil, org.Settings{}, err
	}
	return t.invitationByToken(ctx, string(tok))
}

// AcceptWithToken accepts an invitation on the web, where holding the link is
// the proof of identity, in the organization the link's tag names: the same
// transition as the chat Accept, and the token dies with it. A password,
// when given, must pass the password policy.
func (s *Service) AcceptWithToken(ctx context.Context, token, name, password string) (Reply, error) {
	t, tok, deliver, err := s.linkTarget(ctx, token)
	if err != nil {
		return Reply{}, err
	}
	var r Reply
	if password != "" && t.deploy != nil {
		r, err = t.acceptWithLogin(ctx, string(tok), name, password) // login.go
	} else {
		r, err = t.acceptWithToken(ctx, string(tok), name, password)
	}
	return s.delivered(ctx, deliver, r), err
}

// settleWithToken moves the invitation a link opens to outcome (accepted or
// declined) through settle, the transition the chat buttons use. A link that
// opens nothing pending, or whose invitation expired meanwhile, is
// ErrInvalidLink.
func (s *Service) settleWithToken(ctx context.Context, token string, outcome org.InvitationStatus, name, passwordHash string) (Reply, error) {
	verb := map[org.InvitationStatus]string{org.InvitationAccepted: "accept", org.InvitationDeclined: "decline"}[outcome]
	hash := secret.Token(token).Hash()
	var reply Reply
	err := retry(func() error {
		found, err := s.store.Load(ctx, org.Query{TokenHash: hash})
		if err != nil {
			return fmt.Errorf("%s with link: %w", verb, err)
		}
		inv := found.Invitation
		if inv == nil || inv.TokenHash != hash {
			return ErrInvalidLink
		}
		// The invitee's user record (a returning user) is read with the
		// invitation, as the chat Accept reads it with the clicker.
		c := s.systemCall(verb, org.Identity{Platform: "web", Email: inv.Email, Name: name})
		snap, err := s.store.Load(ctx, org.Query{Invitation: inv.ID, Actor: inv.Email})
		if err != nil {
			return fmt.Errorf("%s with link: %w", verb, err)
		}
		cur := snap.Invitation
		if cur == nil || cur.TokenHash != hash || cur.Status != org.InvitationPending {
			return ErrInvalidLink
		}
		reply, err = s.settle(ctx, c, snap, snap.Actor, cur, outcome, name, passwordHash)
		if org.ErrorCode(err) == org.CodeConflict {
			return ErrInvalidLink // expired between the two reads
		}
		return err
	})
	return reply, settled(err)
}

// settled turns losing every retry into the user-facing "busy" error.
func settled(err error) error {
	var stale *org.PreconditionError
	if errors.As(err, &stale) {
		return errBusy
	}
	return err
}

// SignedIn is who a sign-in (or a password change) proved.
type SignedIn struct {
	Email string
	Name  string
	// MustChangePassword: the session may do nothing but change the password.
	MustChangePassword bool
	// Stamp binds a web session to the password it began with: after a reset,
	// a change or a deactivation, WebAccount refuses the session.
	Stamp string
	// Version is the user's stored version this sign-in verified; a session
	// store opens no session once the user has changed since.
	Version int64
}

// signedIn describes u as stored at version.
func signedIn(u *org.User, version int64) SignedIn {
	return SignedIn{Email: u.Email, Name: u.Name, MustChangePassword: u.MustChangePassword, Stamp: sessionStamp(u), Version: version}
}

// sessionStamp fingerprints what a web session depends on: the password hash
// and, for a temporary password, when it was issued or used. Every reset and
// change moves it (each hash has a fresh salt).
func sessionStamp(u *org.User) string {
	var exp int64
	if !u.PasswordExpires.IsZero() {
		exp = u.PasswordExpires.UnixMilli() // storage keeps milliseconds
	}
	sum := sha256.Sum256([]byte("usher web session\x00" + u.PasswordHash + "\x00" + strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(sum[:16])
}

// checkSignIn checks password against hash, or, when there is no hash (no
// such person, no password set), against the decoy, as slow as a real
// check, so that the answer says nothing of who exists.
func checkSignIn(ctx context.Context, hash, password string) (bool, error) {
	if hash == "" {
		return false, secret.CheckDecoy(ctx, password)
	}
	return secret.CheckPasswordContext(ctx, hash, password)
}

// SignIn checks an email and password for the web. Every failure is ErrSignIn.
// A temporary password (after a reset) works once: this sign-in uses it up
// atomically, and the session it opens may only choose a new password.
func (s *Service) SignIn(ctx context.Context, email, password string) (SignedIn, error) {
	email, err := org.NormalizeEmail(email)
	if err != nil || password == "" || len(password) > 4*org.MaxPasswordLength {
		// As slow as a real check, so that the answer says nothing.
		if err := secret.CheckDecoy(ctx, password); err != nil {
			return SignedIn{}, fmt.Errorf("sign in: %w", err)
		}
		return SignedIn{}, ErrSignIn
	}
	if s.deploy != nil {
		return s.personSignIn(ctx, email, password) // login.go: one password per person
	}
	c := s.systemCall("sign in", org.Identity{Platform: "web", Email: email})
	var out SignedIn
	err = retry(func() error {
		snap, err := s.store.Load(ctx, org.Query{Users: []string{email}})
		if err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		u := snap.Users[email]
		hash := ""
		if u != nil {
			hash = u.PasswordHash
		}
		match, err := checkSignIn(ctx, hash, password)
		if err != nil {
			return fmt.Errorf("sign in: %w", err)
		}
		if !match || !u.Active() {
			return ErrSignIn
		}
		if !u.MustChangePassword {
			out = signedIn(u, u.Version)
			return nil
		}
		if !c.now.Before(u.PasswordExpires) {
			return ErrTemporaryPasswordExpired
		}
		// Use the temporary password up: no password works until the user
		// chooses one, and the stamp moves, so this is the one sign-in.
		next := u.Clone()
		next.PasswordHash, next.PasswordExpires, next.Updated = "", c.now, c.now
		err = s.commitSystem(ctx, c, org.Change{
			Users: []org.UserWrite{{User: next, Version: u.Version}},
			Audit: []org.AuditEntry{{Actor: email, Via: "web", Action: "user.password_temporary_used", Target: email,
				Detail: "signed in with the temporary password; it no longer works"}},
		})
		out = signedIn(next, u.Version+1) // a commit moves the version by one
		return err
	})
	if err != nil {
		return SignedIn{}, settled(err)
	}
	return out, nil
}

// Account is what the web account page shows, read in one round trip.
type Account struct {
	User *org.User // without its password hash
	Org  org.Settings
	// Open is a pending invitation addressed to the user here, for a Service
	// alone; with a Deployment the account page reads every organization's
	// with PersonOf (bell.go) and Open is nil.
	Open *org.Invitation
}

// WebAccount checks a web session against the user's current state (active,
// same password as when it began) and reads the account page. Every request
// of a signed-in page calls it, so deactivation and resets end sessions at
// once even if deleting them raced.
func (s *Service) WebAccount(ctx context.Context, email, stamp string) (*Account, error) {
	if s.deploy != nil {
		return s.personWebAccount(ctx, email, stamp) // login.go
	}
	snap, err := s.store.Load(ctx, org.Query{Actor: email, OpenFor: []string{email}})
	if err != nil {
		return nil, fmt.Errorf("web account: %w", err)
	}
	u := snap.Actor
	if !u.Active() || subtle.ConstantTimeCompare([]byte(stamp), []byte(sessionStamp(u))) != 1 {
		return nil, ErrSignedOut
	}
	a := &Account{User: u.Clone(), Org: snap.Settings}
	a.User.PasswordHash = ""
	if inv := snap.Open[email]; inv != nil && inv.Status == org.InvitationPending && !inv.ExpiredAt(s.Now()) {
		a.Open = inv
	}
	return a, nil
}

// Organization reads the organization's settings (its name, for page titles).
func (s *Service) Organization(ctx context.Context) (org.Settings, error) {
	snap, err := s.store.Load(ctx, org.Query{})
	if err != nil {
		return org.Settings{}, fmt.Errorf("organization: %w", err)
	}
	return snap.Settings, nil
}

// ChangePassword replaces a signed-in user's password. current is required
// unless the user signed in with a temporary password (which that sign-in
// used up). Every web session of the user ends; the caller opens a new one
// for the browser that made the change with the returned SignedIn. The user
// is told in chat.
func (s *Service) ChangePassword(ctx context.Context, email, stamp, current, password, confirm string) (SignedIn, Reply, error) {
	if err := org.CheckNewPassword(password, confirm, email); err != nil {
		return SignedIn{}, Reply{}, err
	}
	hash, err := secret.HashPasswordContext(ctx, s.rand, password)
	if err != nil {
		return SignedIn{}, Reply{}, fmt.Errorf("change password: %w", err)
	}
	if s.deploy != nil {
		return s.personChangePassword(ctx, email, stamp, current, password, hash) // login.go
	}
	c := s.systemCall("change password", org.Identity{Platform: "web", Email: email})
	var out SignedIn
	var reply Reply
	err = retry(func() error {
		snap, err := s.store.Load(ctx, org.Query{Users: []string{email}})
		if err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		u := snap.Users[email]
		if !u.Active() || subtle.ConstantTimeCompare([]byte(stamp), []byte(sessionStamp(u))) != 1 {
			return ErrSignedOut
		}
		detail := "on the web; every web session ended"
		if u.MustChangePassword {
			detail = "replaced the temporary password on the web"
		} else {
			if len(current) > 4*org.MaxPasswordLength {
				return ErrCurrentPassword
			}
			if ok, err := secret.CheckPasswordContext(ctx, u.PasswordHash, current); err != nil {
				return fmt.Errorf("change password: %w", err)
			} else if !ok {
				return ErrCurrentPassword
			}
			if same, err := secret.CheckPasswordContext(ctx, u.PasswordHash, password); err != nil {
				return fmt.Errorf("change password: %w", err)
			} else if same {
				return org.Errorf(org.CodeInvalid, "That is your current password.").WithHint("Choose a new one.")
			}
		}
		next := u.Clone()
		next.PasswordHash, next.MustChangePassword, next.PasswordExpires, next.Updated = hash, false, time.Time{}, c.now
		err = s.commitSystem(ctx, c, org.Change{
			Users:       []org.UserWrite{{User: next, Version: u.Version}},
			EndSessions: []string{email},
			Audit:       []org.AuditEntry{{Actor: email, Via: "web", Action: "user.password_change", Target: email, Detail: detail}},
		})
		if err != nil {
			return err
		}
		out = signedIn(next, u.Version+1)
		reply = Reply{
			Message: Message{Tone: ToneSuccess, Text: "Your password is changed. You were signed out everywhere else."},
			Deliveries: []Delivery{notice(email, fmt.Sprintf("Your password for %s was just changed on the web. If that wasn't you, ask an admin to reset it right away.",
				snap.Settings.Name))},
		}
		return nil
	})
	if err != nil {
		return SignedIn{}, Reply{}, settled(err)
	}
	return out, reply, nil
}

package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Forgot password (issue 14, item 2). Someone who can read a person's email
// may choose that person's one password (login.go): the sign-in page asks
// for an address and emails a link to it, which works once within
// ResetLinkTTL and leads to the password form. So:
//
//   - the answer to a request never depends on the address: unknown,
//     deactivated and known addresses all get the same page (bot/web), and
//     only an active member (in any organization) is emailed;
//   - a link's secret is 256 random bits; storage keeps only its SHA-256,
//     one live link per person (a new request replaces the previous one);
//   - using it sets the password through the password policy and uses the
//     link up in the same atomic step (of two submits, one wins), and every
//     web session of the person ends, in every organization;
//   - the person is told in chat in every organization where they are
//     active, and each of those organizations audits it.
//
// An active member who never had a password (they joined in chat) may set
// their first one this way: the link proves they own the address, which is
// what their membership is keyed by.

// ResetLinkTTL is how long a forgot-password link works.
const ResetLinkTTL = 30 * time.Minute

var (
	// ErrInvalidResetLink answers every reset link that opens nothing:
	// unknown, used, replaced by a newer one or expired look alike.
	ErrInvalidResetLink = &org.Error{Code: org.CodeNotFound,
		Message: "This password reset link is no longer valid.",
		Hint:    "A link works once, within 30 minutes, and only the newest one works. Ask for a new one: Forgot password? on the sign-in page."}
	// ErrResetUnavailable: a Service without a Deployment keeps no
	// per-person password, so it has nothing to reset by email.
	ErrResetUnavailable = &org.Error{Code: org.CodeUnavailable,
		Message: "Resetting a password by email isn't available here.",
		Hint:    "Ask an admin to reset your password: usher sends you a temporary one in chat."}
)

// ForgotPassword emails a reset link to typed, when it is the address of an
// active member of some organization; otherwise it does nothing. Its reply
// carries the email (DeliverResetLink) and nothing else: callers must answer
// every request alike, and should not wait on it to do so (bot/web runs it
// after answering).
func (s *Service) ForgotPassword(ctx context.Context, typed string) (Reply, error) {
	if s.deploy == nil {
		return Reply{}, ErrResetUnavailable
	}
	email, err := org.NormalizeEmail(typed)
	if err != nil {
		return Reply{}, nil
	}
	h, err := s.homeOf(ctx, email)
	if err != nil {
		return Reply{}, fmt.Errorf("forgot password: %w", err)
	}
	if h == nil {
		return Reply{}, nil // unknown, or deactivated everywhere
	}
	token, err := secret.NewToken(s.rand)
	if err != nil {
		return Reply{}, fmt.Errorf("forgot password: %w", err)
	}
	if err := s.deploy.IssueReset(ctx, email, token.Hash(), ResetLinkTTL); err != nil {
		return Reply{}, fmt.Errorf("forgot password: %w", err)
	}
	c := s.systemCall("forgot password", org.Identity{Platform: "web", Email: email})
	s.auditIn(ctx, h, c, org.AuditEntry{Actor: email, Via: "web", Action: "user.password_reset_link", Target: email,
		Detail: "a link to choose a new password was emailed; it works once within 30 minutes"})
	link := s.resetLink(token)
	text := fmt.Sprintf("Someone, hopefully you, asked to reset the usher password of %s (%s). "+
		"To choose a new password, open the link below within 30 minutes; it works once.", email, h.set.Name)
	return Reply{Deliveries: []Delivery{{To: email, Kind: DeliverResetLink, Message: Message{
		Title: "Reset your usher password", Text: text, Tone: ToneInfo,
		Link:   &Link{URL: link, Label: "Choose a new password"},
		Footer: "If you didn't ask, ignore this email: your password stays as it is.",
	}}}}, nil
}

// resetLink is the address of the reset page for token.
func (s *Service) resetLink(t secret.Token) string {
	return s.publicURL + "/reset?token=" + string(t)
}

// ResetLinkEmail is the email a live reset link was issued for (the
// password form shows it); ErrInvalidResetLink when the link opens nothing.
// Opening the link never uses it up.
func (s *Service) ResetLinkEmail(ctx context.Context, token string) (string, error) {
	if s.deploy == nil {
		return "", ErrResetUnavailable
	}
	if !secret.ValidToken(token) {
		return "", ErrInvalidResetLink
	}
	email, err := s.deploy.ResetEmail(ctx, secret.Token(token).Hash())
	if err != nil {
		return "", fmt.Errorf("reset link: %w", err)
	}
	if email == "" {
		return "", ErrInvalidResetLink
	}
	return email, nil
}

// ResetPassword sets the password a reset link's holder chose: the policy's
// checks first (a refused password leaves the link working), then, in one
// step, the link is used up, the password set and every web session of the
// person ended. The person is told in chat in every organization where they
// are active, and each audits it (user.password_reset, via web, by the
// person). They are not signed in: they sign in with the new password.
func (s *Service) ResetPassword(ctx context.Context, token, password, confirm string) (Reply, error) {
	email, err := s.ResetLinkEmail(ctx, token)
	if err != nil {
		return Reply{}, err
	}
	if err := org.CheckNewPassword(password, confirm, email); err != nil {
		return Reply{}, err
	}
	homes, err := s.homesOf(ctx, email)
	if err != nil {
		return Reply{}, fmt.Errorf("reset password: %w", err)
	}
	if len(homes) == 0 {
		return Reply{}, ErrInvalidResetLink // deactivated everywhere since the link was sent
	}
	hash, err := secret.HashPasswordContext(ctx, s.rand, password)
	if err != nil {
		return Reply{}, fmt.Errorf("reset password: %w", err)
	}
	ok, err := s.deploy.UseReset(ctx, secret.Token(token).Hash(), email, hash)
	if err != nil {
		return Reply{}, fmt.Errorf("reset password: %w", err)
	}
	if !ok {
		return Reply{}, ErrInvalidResetLink // used by a concurrent submit, or replaced
	}
	c := s.systemCall("reset password", org.Identity{Platform: "web", Email: email})
	names := make([]string, len(homes))
	for i, h := range homes {
		names[i] = h.set.Name
	}
	reply := Reply{Message: Message{Tone: ToneSuccess,
		Text: "Your new password is set, and every session of yours was signed out. Sign in with your new password."}}
	for _, h := range homes {
		s.auditIn(ctx, h, c, org.AuditEntry{Actor: email, Via: "web", Action: "user.password_reset", Target: email,
			Detail: "with a link emailed to them; every web session ended; the one password of every organization"})
		d := notice(email, fmt.Sprintf("Your usher password (for %s) was reset from the web with a link emailed to %s, and every web session of yours was signed out. "+
			"If this wasn't you, tell an admin of %s right away.", strings.Join(names, ", "), email, h.set.Name))
		if h.deliver == nil {
			reply.Deliveries = append(reply.Deliveries, d)
			continue
		}
		s.delivered(ctx, h.deliver, Reply{Deliveries: []Delivery{d}})
	}
	return reply, nil
}

// homesOf are the organizations where email is an active member: this one
// first, then the others the person index names, by id.
func (s *Service) homesOf(ctx context.Context, email string) ([]*home, error) {
	var homes []*home
	err := s.eachHome(ctx, email, func(h *home) bool { homes = append(homes, h); return true })
	return homes, err
}

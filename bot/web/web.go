// Package web is usher's web adapter: the pages an invitation link opens
// (accept with a password, or decline), sign-in and sign-out, the account page
// with the user's open invitations, and password changes. It translates HTTP
// to the handlers' use cases and back; it never touches storage, whose
// sessions and rate limits it reaches through the small ports below.
//
// Pages are server-rendered with html/template, carry no script at all, and
// are served with a Content-Security-Policy that allows none. Every form
// carries a CSRF token (an HMAC of a per-browser cookie, bound to the session
// once signed in), on top of the standard library's cross-origin protection.
package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Service is what the pages need of usher's use cases.
type Service interface {
	InvitationByToken(ctx context.Context, token string) (*org.Invitation, org.Settings, error)
	AcceptWithToken(ctx context.Context, token, name, password string) (handlers.Reply, error)
	DeclineWithToken(ctx context.Context, token string) (handlers.Reply, error)
	SignIn(ctx context.Context, email, password string) (handlers.SignedIn, error)
	WebAccount(ctx context.Context, email, stamp string) (*handlers.Account, error)
	ChangePassword(ctx context.Context, email, stamp, current, password, confirm string) (handlers.SignedIn, handlers.Reply, error)
	Organization(ctx context.Context) (org.Settings, error)
	// PersonOf is the signed-in person across the deployment's
	// organizations: the account page's lists.
	PersonOf(ctx context.Context, email string) (*handlers.Person, error)
	Handle(ctx context.Context, req handlers.Request) handlers.Reply
	// Forgot password (forgot.go): the request, which emails a link only to
	// an active member; opening the link; choosing the new password.
	ForgotPassword(ctx context.Context, email string) (handlers.Reply, error)
	ResetLinkEmail(ctx context.Context, token string) (string, error)
	ResetPassword(ctx context.Context, token, password, confirm string) (handlers.Reply, error)
}

// Session is a signed-in browser, stored under the SHA-256 of its cookie's id.
type Session struct {
	Email string
	// Stamp is handlers.SignedIn.Stamp: the session holds only while the
	// user's password is the one it began with.
	Stamp   string
	Created time.Time
	// Version is handlers.SignedIn.Version: Create must refuse (with
	// *org.PreconditionError) once the user changed since, so that a sign-in
	// racing a deactivation or a reset opens nothing.
	Version int64
}

// Sessions stores web sessions. Each session must be findable from its
// user's email, so that a password reset or a deactivation ends it.
type Sessions interface {
	Create(ctx context.Context, idHash string, s Session, ttl time.Duration) error
	// Lookup returns nil, nil when there is no such live session.
	Lookup(ctx context.Context, idHash string) (*Session, error)
	End(ctx context.Context, idHash, email string) error
}

// Limit is one rate limit. Without Backoff: at most Max attempts under Key
// per Window. With Backoff: Max attempts are free, then each one makes the
// next wait Backoff, doubling each time up to Window; the count is forgotten
// Window after the last attempt.
type Limit struct {
	Key     string
	Max     int
	Window  time.Duration
	Backoff time.Duration
}

// Limiter counts sign-in attempts, shared by every usher replica.
type Limiter interface {
	// Attempt counts one attempt against every limit, atomically, and returns
	// 0 or how long until the caller may try again. Backoffs are measured
	// with now; an attempt a backoff refuses is not counted.
	Attempt(ctx context.Context, now time.Time, limits []Limit) (time.Duration, error)
	// Forget clears the attempts counted under key.
	Forget(ctx context.Context, key string) error
}

// Config wires the pages.
type Config struct {
	// NoEmail says this usher sends no email (no SMTP_URL): /login offers
	// no Forgot password?, and /forgot says to ask an admin instead of
	// promising a link that would never arrive.
	NoEmail  bool
	Service  Service
	Sessions Sessions
	Limiter  Limiter
	// Deliver sends the messages a page's action has for people in chat (the
	// inviter told of an answer, the user told their password changed).
	Deliver func(ctx context.Context, ds []handlers.Delivery) error
	// Secret signs CSRF tokens; at least 32 bytes, the same on every replica.
	Secret []byte
	// PublicURL is where browsers reach usher. When it is https, cookies are
	// always Secure; otherwise they are Secure unless the request arrived on
	// a loopback address (trying usher on http://localhost).
	PublicURL string
	// ClientIPHeader names the header a trusted reverse proxy puts the
	// client's address in (X-Forwarded-For: its right-most entry that is not
	// a private or loopback address, see clientAddr). Empty: the
	// connection's peer address.
	ClientIPHeader string
	Logger         *slog.Logger
	Now            func() time.Time // default time.Now
	Rand           io.Reader        // default crypto/rand

	// SessionTTL is how long a sign-in lasts (default 12h); a sign-in with a
	// temporary password lasts ChangeTTL (default 15m), time to choose a new one.
	SessionTTL time.Duration
	ChangeTTL  time.Duration
	// Sign-in attempts are limited three ways (see limit): per email and
	// client address together, PairLimit free attempts (default 5), then a
	// delay from PairBackoff (default 15s) doubling up to LimitWindow; and,
	// in fixed windows of LimitWindow (default 15 minutes), per email at a
	// much higher ceiling, EmailLimit (default 100), and per client address,
	// AddrLimit (default 100).
	PairLimit   int
	PairBackoff time.Duration
	EmailLimit  int
	AddrLimit   int
	LimitWindow time.Duration
}

// Handler serves the pages.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	pages *pages
	https bool
	cop   *http.CrossOriginProtection

	// Forgot-password requests are handled after the answer (forgot.go),
	// at most maxForgot at once.
	forgotSlots chan struct{}
	forgotWG    sync.WaitGroup
}

// MinSecret is the shortest CSRF secret New accepts.
const MinSecret = 32

// New checks cfg and builds the pages.
func New(cfg Config) (*Handler, error) {
	var problems []string
	if cfg.Service == nil {
		problems = append(problems, "no service")
	}
	if cfg.Sessions == nil {
		problems = append(problems, "no session store")
	}
	if cfg.Limiter == nil {
		problems = append(problems, "no rate limiter")
	}
	if len(cfg.Secret) < MinSecret {
		problems = append(problems, fmt.Sprintf("the CSRF secret has %d bytes, want at least %d", len(cfg.Secret), MinSecret))
	}
	if h := cfg.ClientIPHeader; h != "" && strings.ContainsAny(h, " \t:\r\n") {
		problems = append(problems, fmt.Sprintf("client IP header %q is not a header name", h))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("web: %s", strings.Join(problems, "; "))
	}
	if cfg.Deliver == nil {
		cfg.Deliver = func(context.Context, []handlers.Delivery) error { return nil }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.SessionTTL, 12*time.Hour)
	def(&cfg.ChangeTTL, 15*time.Minute)
	def(&cfg.LimitWindow, 15*time.Minute)
	def(&cfg.PairBackoff, 15*time.Second)
	if cfg.PairLimit <= 0 {
		cfg.PairLimit = 5
	}
	if cfg.EmailLimit <= 0 {
		cfg.EmailLimit = 100
	}
	if cfg.AddrLimit <= 0 {
		cfg.AddrLimit = 100
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, pages: p, https: strings.HasPrefix(strings.ToLower(cfg.PublicURL), "https://"),
		forgotSlots: make(chan struct{}, maxForgot)}
	h.cop = http.NewCrossOriginProtection()
	h.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.log.WarnContext(r.Context(), "web: cross-origin form refused", "route", r.Pattern, "origin", r.Header.Get("Origin"))
		h.message(w, r, http.StatusForbidden, "This form was sent from another site", "usher only accepts forms sent from its own pages, so nothing was changed.", "")
	}))
	return h, nil
}

// Mount adds the pages' routes to mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	route := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, h.wrap(f)) }
	route("GET /{$}", h.home)
	mux.Handle("GET /static/{file}", h.static())
	route("GET /invitations/{token}", h.invitation)
	route("POST /invitations/{token}/accept", h.accept)
	route("GET /invitations/{token}/decline", h.declineForm)
	route("POST /invitations/{token}/decline", h.decline)
	route("GET /login", h.loginForm)
	route("POST /login", h.login)
	route("POST /logout", h.logout)
	route("GET /account", h.signedIn(h.account))
	route("POST /account/invitations/{id}/accept", h.signedIn(h.respond))
	route("GET /account/invitations/{id}/decline", h.signedIn(h.respondDeclineForm))
	route("POST /account/invitations/{id}/decline", h.signedIn(h.respond))
	route("GET /account/password", h.signedIn(h.passwordForm))
	route("POST /account/password", h.signedIn(h.changePassword))
	route("GET /forgot", h.forgotForm)
	route("POST /forgot", h.forgot)
	route("GET /reset", h.resetForm)
	route("POST /reset", h.reset)
	h.mountExport(route) // export.go
}

// maxForm bounds a form's body; usher's forms are a few hundred bytes.
const maxForm = 16 << 10

// wrap adds what every page needs: security headers, no caching (pages carry
// tokens and personal data), a bounded body, and cross-origin protection.
func (h *Handler) wrap(f http.HandlerFunc) http.Handler {
	inner := h.cop.Handler(f)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		inner.ServeHTTP(w, r)
	})
}

// csp allows nothing but the page's own stylesheet, images and forms: no
// script runs on these pages at all.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	// The invitation link's token is in the URL: no page ever sends a Referer.
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// deliver hands a reply's messages for people to the chat platform. The page
// does not wait on a browser that went away, nor fail because chat is slow.
func (h *Handler) deliver(r *http.Request, ds []handlers.Delivery) {
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if err := h.cfg.Deliver(ctx, ds); err != nil {
		h.log.ErrorContext(ctx, "web: delivering messages failed", "route", r.Pattern, "count", len(ds), "err", err)
	}
}

// unavailable reports a storage outage, which pages answer with 503.
func unavailable(err error) bool { return org.ErrorCode(err) == org.CodeUnavailable }

// userError returns err's user-facing part, if it has one.
func userError(err error) (*org.Error, bool) {
	var e *org.Error
	ok := errors.As(err, &e)
	return e, ok
}

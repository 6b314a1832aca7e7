package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Cookie names. On https they carry the __Host- prefix, which browsers
// accept only from a secure origin, for the whole host (no Domain, Path=/):
// a sibling subdomain cannot plant one.
const (
	sessionCookie = "usher_session"
	browserCookie = "usher_csrf"
	hostPrefix    = "__Host-"
	// browserCookieAge keeps the CSRF cookie across browser restarts, so a
	// form left open for a while still submits.
	browserCookieAge = 30 * 24 * 60 * 60
)

// secure reports whether cookies for r must be Secure: always when usher's
// public URL is https, else unless the request came to a loopback address
// (http://localhost while trying usher out).
func (h *Handler) secure(r *http.Request) bool {
	if h.https {
		return true
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return !ap.Addr().IsLoopback()
		}
	}
	host := r.Host
	if hst, _, err := net.SplitHostPort(host); err == nil {
		host = hst
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err != nil || !ip.IsLoopback()
}

func (h *Handler) cookieName(r *http.Request, base string) string {
	if h.secure(r) {
		return hostPrefix + base
	}
	return base
}

// setCookie sets (maxAge > 0) or clears (maxAge < 0) one of usher's cookies.
func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: h.cookieName(r, base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(h.cookieName(r, base))
	if err != nil || !secret.ValidToken(c.Value) {
		return ""
	}
	return c.Value
}

// browserID returns the browser's CSRF cookie, giving it one if it has none.
// Call it before writing the page's body.
func (h *Handler) browserID(w http.ResponseWriter, r *http.Request) string {
	if id := h.cookie(r, browserCookie); id != "" {
		return id
	}
	id, err := secret.NewToken(h.cfg.Rand)
	if err != nil {
		return "" // the form will fail its check and say so
	}
	h.setCookie(w, r, browserCookie, string(id), browserCookieAge)
	// Later reads in this request (the token for the page) see it too.
	r.AddCookie(&http.Cookie{Name: h.cookieName(r, browserCookie), Value: string(id)})
	return string(id)
}

// csrfToken is the token a form carries: an HMAC of the browser's cookie,
// bound to the session (bind, its id hash) once signed in, so that neither a
// token from another browser nor one from before signing in passes.
func (h *Handler) csrfToken(browser, bind string) string {
	m := hmac.New(sha256.New, h.cfg.Secret)
	m.Write([]byte("usher csrf\x00" + browser + "\x00" + bind))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// formToken gives a page its form's CSRF token (and the browser its cookie).
func (h *Handler) formToken(w http.ResponseWriter, r *http.Request, bind string) string {
	id := h.browserID(w, r)
	if id == "" {
		return ""
	}
	return h.csrfToken(id, bind)
}

// checkForm parses a posted form and checks its CSRF token. On failure it
// answers 403 and logs why (never the token), and returns false.
func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request, bind string) bool {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.message(w, r, http.StatusRequestEntityTooLarge, "That form was too large", "Nothing was changed.", "")
			return false
		}
		h.message(w, r, http.StatusBadRequest, "That form could not be read", "Nothing was changed. Go back, reload the page and try again.", "")
		return false
	}
	browser := h.cookie(r, browserCookie)
	got := r.PostForm.Get("csrf")
	reason := ""
	switch {
	case browser == "":
		reason = "no browser cookie"
	case got == "":
		reason = "no token"
	case !hmac.Equal([]byte(got), []byte(h.csrfToken(browser, bind))):
		reason = "token mismatch"
	}
	if reason == "" {
		return true
	}
	h.log.WarnContext(r.Context(), "web: form refused", "route", r.Pattern, "reason", reason)
	h.message(w, r, http.StatusForbidden, "This form has expired",
		"usher couldn't confirm that this form came from its own page in this browser, so nothing was changed.",
		"Go back, reload the page and try again. usher needs cookies to be allowed.")
	return false
}

// visit is a signed-in request: its session and the account it belongs to,
// checked against the user's current state.
type visit struct {
	idHash  string
	session *Session
	account *handlers.Account
}

// signedIn runs next for a request with a live session. Without one it sends
// the browser to the sign-in page; a user who must change their password may
// see nothing but the change-password page.
func (h *Handler) signedIn(next func(http.ResponseWriter, *http.Request, *visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := h.current(w, r)
		if !ok {
			return
		}
		if v.account.User.MustChangePassword && r.URL.Path != "/account/password" {
			http.Redirect(w, r, "/account/password", http.StatusSeeOther)
			return
		}
		next(w, r, v)
	}
}

// current finds the request's session; when there is none (or it ended) it
// answers the request and returns false.
func (h *Handler) current(w http.ResponseWriter, r *http.Request) (*visit, bool) {
	id := h.cookie(r, sessionCookie)
	if id == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, false
	}
	idHash := secret.Token(id).Hash()
	ses, err := h.cfg.Sessions.Lookup(r.Context(), idHash)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	if ses == nil {
		h.setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/login?ended=1", http.StatusSeeOther)
		return nil, false
	}
	acct, err := h.cfg.Service.WebAccount(r.Context(), ses.Email, ses.Stamp)
	if errors.Is(err, handlers.ErrSignedOut) {
		// Deactivated, or the password was reset or changed: this session
		// is over even if deleting it with the others raced its creation.
		if err := h.cfg.Sessions.End(r.Context(), idHash, ses.Email); err != nil {
			h.log.WarnContext(r.Context(), "web: ending a stale session failed", "err", err)
		}
		h.setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/login?ended=1", http.StatusSeeOther)
		return nil, false
	}
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	return &visit{idHash: idHash, session: ses, account: acct}, true
}

// clientAddr is the address sign-in attempts are counted under: the
// connection's peer or, behind a reverse proxy, the client's address in the
// header it sets (ClientIPHeader). A list header (X-Forwarded-For: every
// proxy appends the address it received from) is read from the right, past
// the entries that are private or loopback addresses (the proxies of the
// deployment itself, a Kubernetes ingress behind a load balancer): the first
// public address is the one the outermost proxy saw, which the client cannot
// choose, unlike the entries left of it. When every entry is private (a
// client inside the network), the right-most one, which the nearest proxy
// set. IPv6 addresses count per /64, which one host often holds entirely.
func (h *Handler) clientAddr(r *http.Request) string {
	var a netip.Addr
	if vs := r.Header.Values(h.cfg.ClientIPHeader); h.cfg.ClientIPHeader != "" && len(vs) > 0 {
		a = fromProxy(vs)
	} else {
		a = parseAddr(r.RemoteAddr)
	}
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// fromProxy picks the client's address from a proxy header's values (see
// clientAddr); the zero Addr when there is none.
func fromProxy(values []string) netip.Addr {
	var entries []string
	for _, v := range values {
		entries = append(entries, strings.Split(v, ",")...)
	}
	var nearest netip.Addr
	for i := len(entries) - 1; i >= 0; i-- {
		a := parseAddr(strings.TrimSpace(entries[i]))
		if !a.IsValid() {
			// Garbage is no proxy of ours: whatever is left of it, the
			// client may have written.
			break
		}
		if !nearest.IsValid() {
			nearest = a
		}
		if !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			return a
		}
	}
	return nearest
}

// parseAddr reads an address with or without a port, brackets or zone.
func parseAddr(raw string) netip.Addr {
	a, err := netip.ParseAddr(strings.Trim(raw, "[]"))
	if err != nil {
		ap, err2 := netip.ParseAddrPort(raw)
		if err2 != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone("")
}

// emailKey is the rate-limit key of what someone typed as their email.
func emailKey(typed string) string {
	e, err := org.NormalizeEmail(typed)
	if err != nil {
		e = strings.ToLower(strings.TrimSpace(typed))
	}
	if len(e) > 254 {
		e = e[:254]
	}
	return "email:" + e
}

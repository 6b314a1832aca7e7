package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// --- The invitation link ---------------------------------------------------

type invitationData struct {
	ID         string
	Token      string
	Email      string
	Inviter    string
	Role       org.Role
	RoleHelp   string
	Workspaces org.Grants
	Note       string
	Expires    string
	ExpiresISO string
	ExpiresIn  string
	Name       string // what was typed, shown again after a problem
	// OrgName and OrgID are the invitation's organization, on the account page.
	OrgName string
	OrgID   string
	// Action and Back are the decline confirmation's form target and way back.
	Action string
	Back   string
}

func (h *Handler) invitationData(token string, inv *org.Invitation) invitationData {
	return invitationData{
		// Shown as the inviter typed them; the accept form names the
		// invitation by its token, never by this address.
		ID: inv.ID, Token: token, Email: inv.Display(), Inviter: inv.InviterDisplay(), Role: inv.Role, RoleHelp: roleHelp(inv.Role),
		Workspaces: inv.Workspaces.ForRole(inv.Role), Note: inv.Note,
		Expires: when(inv.Expires), ExpiresISO: inv.Expires.UTC().Format(time.RFC3339), ExpiresIn: until(h.cfg.Now(), inv.Expires),
		Action: "/invitations/" + token + "/decline", Back: "/invitations/" + token,
	}
}

// invitationError answers a link that opens nothing with one neutral page:
// unknown, used, revoked and expired links look alike (and the log says
// nothing of the token).
func (h *Handler) invitationError(w http.ResponseWriter, r *http.Request, err error) {
	if org.ErrorCode(err) == org.CodeNotFound {
		h.render(w, r, http.StatusNotFound, "invalid", view{Title: "This invitation link is no longer valid"})
		return
	}
	h.fail(w, r, err)
}

// invitation shows an invitation with the form to accept it. Opening the
// link never uses it up.
func (h *Handler) invitation(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	inv, set, err := h.cfg.Service.InvitationByToken(r.Context(), token)
	if err != nil {
		h.invitationError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "invitation", view{Title: "Invitation to " + set.Name, Org: set.Name,
		CSRF: h.formToken(w, r, ""), Data: h.invitationData(token, inv)})
}

// accept creates the invitee's account with the name and password they chose,
// through the same transition as the chat Accept.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if !h.checkForm(w, r, "") {
		return
	}
	inv, set, err := h.cfg.Service.InvitationByToken(r.Context(), token)
	if err != nil {
		h.invitationError(w, r, err)
		return
	}
	data := h.invitationData(token, inv)
	data.Name = r.PostForm.Get("name")
	password, confirm := r.PostForm.Get("password"), r.PostForm.Get("confirm")
	again := func(p *problem) {
		h.render(w, r, http.StatusUnprocessableEntity, "invitation", view{Title: "Invitation to " + set.Name, Org: set.Name,
			CSRF: h.formToken(w, r, ""), Problem: p, Data: data})
	}
	name, err := handlers.NormalizeDisplayName(data.Name)
	if e, ok := userError(err); ok {
		again(problemOf("name", e))
		return
	}
	if err := org.CheckNewPassword(password, confirm, inv.Email); err != nil {
		e, _ := userError(err)
		again(problemOf(passwordField(password, confirm, inv.Email), e))
		return
	}
	reply, err := h.cfg.Service.AcceptWithToken(r.Context(), token, name, password)
	if e, ok := userError(err); ok && e.Code == org.CodeInvalid {
		again(problemOf("password", e))
		return
	}
	if errors.Is(err, secret.ErrBusy) {
		// The form stays filled in (but for the passwords): sending it
		// again in a few seconds is all it takes.
		h.busy(w, r)
		h.render(w, r, http.StatusServiceUnavailable, "invitation", view{Title: "Invitation to " + set.Name, Org: set.Name,
			CSRF: h.formToken(w, r, ""), Problem: busyProblem(), Data: data})
		return
	}
	if err != nil {
		h.invitationError(w, r, err)
		return
	}
	h.deliver(r, reply.Deliveries)
	h.log.InfoContext(r.Context(), "web: invitation accepted", "invitation", inv.ID)
	// Straight to signing in, with the email filled in: the browser's
	// password manager offers the password just chosen.
	// An account that already existed kept its password (settle's tone is
	// info then), so the page does not speak of the one just typed.
	notice := reply.Text
	if reply.Tone != handlers.ToneSuccess && reply.Footer != "" {
		notice += " " + reply.Footer
	}
	h.render(w, r, http.StatusOK, "login", view{Title: "Sign in", Org: set.Name, CSRF: h.formToken(w, r, ""),
		Notice: notice, Data: loginData{Email: inv.Display(), Joined: reply.Tone == handlers.ToneSuccess}})
}

// passwordField names the input a password problem concerns: the
// confirmation when the password itself is fine but the two differ.
func passwordField(password, confirm, email string) string {
	if password != confirm && org.CheckNewPassword(password, password, email) == nil {
		return "confirm"
	}
	return "password"
}

// declineForm asks for confirmation before declining.
func (h *Handler) declineForm(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	inv, set, err := h.cfg.Service.InvitationByToken(r.Context(), token)
	if err != nil {
		h.invitationError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "decline", view{Title: "Decline the invitation?", Org: set.Name,
		CSRF: h.formToken(w, r, ""), Data: h.invitationData(token, inv)})
}

// decline declines with the link; the inviter is told in chat.
func (h *Handler) decline(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r, "") {
		return
	}
	reply, err := h.cfg.Service.DeclineWithToken(r.Context(), r.PathValue("token"))
	if err != nil {
		h.invitationError(w, r, err)
		return
	}
	h.deliver(r, reply.Deliveries)
	h.log.InfoContext(r.Context(), "web: invitation declined")
	h.render(w, r, http.StatusOK, "message", view{Title: "You declined the invitation",
		Data: messageData{Text: reply.Text, Hint: "You can close this page.", NoLink: true}})
}

// --- Signing in and out ------------------------------------------------------

type loginData struct {
	Email  string
	Joined bool // just accepted an invitation
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Sign in", CSRF: h.formToken(w, r, ""), Data: loginData{}}
	switch {
	case r.URL.Query().Has("ended"):
		v.Notice = "Your session ended. Please sign in again."
	case r.URL.Query().Has("bye"):
		v.Notice = "You signed out."
	}
	h.render(w, r, http.StatusOK, "login", v)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r, "") {
		return
	}
	email, password := strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("password")
	again := func(status int, p *problem) {
		h.render(w, r, status, "login", view{Title: "Sign in", CSRF: h.formToken(w, r, ""), Problem: p, Data: loginData{Email: email}})
	}
	if email == "" {
		again(http.StatusUnprocessableEntity, &problem{Field: "email", Message: "Enter your email address."})
		return
	}
	if password == "" {
		again(http.StatusUnprocessableEntity, &problem{Field: "password", Message: "Enter your password."})
		return
	}
	key := emailKey(email)
	if wait, err := h.limit(w, r, key); err != nil {
		h.fail(w, r, err)
		return
	} else if wait != "" {
		again(http.StatusTooManyRequests, &problem{Message: "Too many sign-in attempts. Try again in " + wait + ".",
			Hint: "usher limits attempts to protect your account."})
		return
	}
	who, err := h.cfg.Service.SignIn(r.Context(), email, password)
	if errors.Is(err, handlers.ErrSignIn) || errors.Is(err, handlers.ErrTemporaryPasswordExpired) {
		e, _ := userError(err)
		h.log.InfoContext(r.Context(), "web: sign-in refused", "addr", h.clientAddr(r))
		again(http.StatusUnauthorized, problemOf("", e))
		return
	}
	if errors.Is(err, secret.ErrBusy) {
		h.busy(w, r)
		again(http.StatusServiceUnavailable, busyProblem())
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Only this address's count for the email: the email's ceiling runs out
	// on its own, so that the owner signing in does not reset what someone
	// guessing from many addresses has used up.
	if err := h.cfg.Limiter.Forget(r.Context(), h.pairKey(r, key)); err != nil {
		h.log.WarnContext(r.Context(), "web: clearing sign-in attempts failed", "err", err)
	}
	if !h.startSession(w, r, who) {
		return
	}
	next := "/account"
	if who.MustChangePassword {
		next = "/account/password"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// limit counts a sign-in attempt (or a current-password check). Failing
// sign-ins for someone's email must not lock them out, so the tight limit is
// per email and client address together: PairLimit free attempts, then a
// delay that doubles with each attempt. The email alone has a much higher
// ceiling (guessing from many addresses), and the address alone its own
// (one address trying many emails). It returns "" to go on, or how long to
// wait ("12 minutes"), having set Retry-After.
func (h *Handler) limit(w http.ResponseWriter, r *http.Request, emailKey string) (string, error) {
	addr := h.clientAddr(r)
	wait, err := h.cfg.Limiter.Attempt(r.Context(), h.cfg.Now(), h.limits(r, "", emailKey))
	if err != nil || wait <= 0 {
		return "", err
	}
	h.log.WarnContext(r.Context(), "web: sign-in attempts limited", "route", r.Pattern, "addr", addr, "wait", wait.Round(time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	if wait < time.Minute {
		return plural(int((wait+time.Second-1)/time.Second), "second"), nil
	}
	return plural(int((wait+time.Minute-1)/time.Minute), "minute"), nil
}

// limits are the three limits of an attempt for emailKey from r's client
// address; prefix keeps another kind of attempt (a forgot-password request)
// in counters of its own, limited alike.
func (h *Handler) limits(r *http.Request, prefix, emailKey string) []Limit {
	return []Limit{
		{Key: prefix + h.pairKey(r, emailKey), Max: h.cfg.PairLimit, Window: h.cfg.LimitWindow, Backoff: h.cfg.PairBackoff},
		{Key: prefix + emailKey, Max: h.cfg.EmailLimit, Window: h.cfg.LimitWindow},
		{Key: prefix + "ip:" + h.clientAddr(r), Max: h.cfg.AddrLimit, Window: h.cfg.LimitWindow},
	}
}

// pairKey is the rate-limit key of an email tried from r's client address.
func (h *Handler) pairKey(r *http.Request, emailKey string) string {
	return "pair:" + strings.TrimPrefix(emailKey, "email:") + "|" + h.clientAddr(r)
}

// startSession opens a session for who in this browser (replacing any it
// had). On failure it answers the request and returns false.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, who handlers.SignedIn) bool {
	if old := h.cookie(r, sessionCookie); old != "" {
		if err := h.cfg.Sessions.End(r.Context(), secret.Token(old).Hash(), who.Email); err != nil {
			h.log.WarnContext(r.Context(), "web: ending the previous session failed", "err", err)
		}
	}
	id, err := secret.NewToken(h.cfg.Rand)
	if err != nil {
		h.fail(w, r, err)
		return false
	}
	ttl := h.cfg.SessionTTL
	if who.MustChangePassword {
		ttl = h.cfg.ChangeTTL
	}
	err = h.cfg.Sessions.Create(r.Context(), id.Hash(), Session{Email: who.Email, Stamp: who.Stamp, Created: h.cfg.Now(), Version: who.Version}, ttl)
	var stale *org.PreconditionError
	if errors.As(err, &stale) {
		h.log.InfoContext(r.Context(), "web: the account changed during sign-in", "what", stale.What)
		h.message(w, r, http.StatusConflict, "Your account changed while you were signing in",
			"An admin changed your account at that very moment, so you are not signed in.", "Please sign in again.")
		return false
	}
	if err != nil {
		h.fail(w, r, err)
		return false
	}
	h.setCookie(w, r, sessionCookie, string(id), int(ttl/time.Second))
	return true
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	id := h.cookie(r, sessionCookie)
	if id == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	idHash := secret.Token(id).Hash()
	ses, err := h.cfg.Sessions.Lookup(r.Context(), idHash)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if ses != nil {
		if !h.checkForm(w, r, idHash) {
			return
		}
		if err := h.cfg.Sessions.End(r.Context(), idHash, ses.Email); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login?bye=1", http.StatusSeeOther)
}

// --- The account page ---------------------------------------------------------

type accountData struct {
	User       *org.User
	RoleHelp   string
	Workspaces org.Grants
	// Orgs are the person's organizations; Open their open invitations in
	// every one, each with its organization (OrgName, OrgID).
	Orgs []handlers.Membership
	Open []invitationData
}

var notices = map[string]string{
	"password": "Your password is changed. You were signed out everywhere else.",
	"accepted": "You accepted the invitation.",
	"declined": "You declined the invitation.",
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request, v *visit) {
	a := v.account
	p, err := h.cfg.Service.PersonOf(r.Context(), a.User.Email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	data := accountData{User: a.User, RoleHelp: roleHelp(a.User.Role), Workspaces: a.User.Workspaces, Orgs: p.Orgs}
	for _, o := range p.Invitations {
		data.Open = append(data.Open, h.openData(o))
	}
	h.render(w, r, http.StatusOK, "account", view{Title: "Your account", Org: a.Org.Name, User: a.User,
		CSRF: h.formToken(w, r, v.idHash), Notice: notices[r.URL.Query().Get("done")], Data: data})
}

// openData is an open invitation as the account page lists it: its
// organization named, and its forms naming it too, so that an invitation of
// another organization is answered there.
func (h *Handler) openData(o handlers.OpenInvitation) invitationData {
	d := h.invitationData("", o.Invitation)
	d.OrgName, d.OrgID = o.Settings.Name, string(o.Org)
	d.Action, d.Back = "/account/invitations/"+o.Invitation.ID+"/decline", "/account"
	if d.OrgID != "" {
		d.Action += "?org=" + url.QueryEscape(d.OrgID)
	}
	return d
}

var invitationID = regexp.MustCompile(`^[a-z0-9]{1,32}$`)

// respondDeclineForm confirms declining an invitation listed on the account page.
func (h *Handler) respondDeclineForm(w http.ResponseWriter, r *http.Request, v *visit) {
	a := v.account
	p, err := h.cfg.Service.PersonOf(r.Context(), a.User.Email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	want := r.URL.Query().Get("org")
	for _, o := range p.Invitations {
		if o.Invitation.ID == r.PathValue("id") && string(o.Org) == want {
			d := h.openData(o)
			h.render(w, r, http.StatusOK, "decline", view{Title: "Decline the invitation?", Org: o.Settings.Name, User: a.User,
				CSRF: h.formToken(w, r, v.idHash), Data: d})
			return
		}
	}
	h.message(w, r, http.StatusNotFound, "No such invitation", "You have no open invitation with that id.", "")
}

// respond accepts or declines an invitation from the account page: the chat
// command itself, run as the signed-in user, so it is authorized the same way.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, v *visit) {
	if !h.checkForm(w, r, v.idHash) {
		return
	}
	id := r.PathValue("id")
	if !invitationID.MatchString(id) {
		h.message(w, r, http.StatusNotFound, "No such invitation", "You have no open invitation with that id.", "")
		return
	}
	verb := "accept"
	if strings.HasSuffix(r.URL.Path, "/decline") {
		verb = "decline"
	}
	// The organization the invitation is in, which the bell's forms name;
	// the chat command answers it there, as the same person (handlers' bell).
	text := verb + " " + id
	if o := r.URL.Query().Get("org"); o != "" {
		if org.ID(o).Validate() != nil {
			h.message(w, r, http.StatusNotFound, "No such invitation", "You have no open invitation with that id.", "")
			return
		}
		text += " --org " + o
	}
	u := v.account.User
	reply := h.cfg.Service.Handle(r.Context(), handlers.Request{
		Actor: org.Identity{Platform: "web", Email: u.Email, Name: u.Name},
		Text:  text,
	})
	h.deliver(r, reply.Deliveries)
	if reply.Code != "" {
		text, hint, _ := strings.Cut(reply.Text, "\n")
		status := http.StatusConflict
		if reply.Code == org.CodeUnavailable {
			status = http.StatusServiceUnavailable
		}
		h.render(w, r, status, "message", view{Title: "That didn't work", Org: v.account.Org.Name, User: u,
			CSRF: h.formToken(w, r, v.idHash), Data: messageData{Text: text, Hint: hint, Ref: reply.Ref}})
		return
	}
	http.Redirect(w, r, "/account?done="+verb+"ed", http.StatusSeeOther)
}

// --- Changing the password ---------------------------------------------------

type passwordData struct {
	Email string
	Must  bool // signed in with a temporary password
}

func (h *Handler) passwordForm(w http.ResponseWriter, r *http.Request, v *visit) {
	h.renderPassword(w, r, v, http.StatusOK, nil)
}

func (h *Handler) renderPassword(w http.ResponseWriter, r *http.Request, v *visit, status int, p *problem) {
	u := v.account.User
	title := "Change your password"
	if u.MustChangePassword {
		title = "Choose a new password"
	}
	h.render(w, r, status, "password", view{Title: title, Org: v.account.Org.Name, User: u,
		CSRF: h.formToken(w, r, v.idHash), Problem: p, Data: passwordData{Email: u.Display(), Must: u.MustChangePassword}})
}

func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, v *visit) {
	if !h.checkForm(w, r, v.idHash) {
		return
	}
	u := v.account.User
	current, password, confirm := r.PostForm.Get("current"), r.PostForm.Get("password"), r.PostForm.Get("confirm")
	key := emailKey(u.Email)
	if !u.MustChangePassword {
		if current == "" {
			h.renderPassword(w, r, v, http.StatusUnprocessableEntity, &problem{Field: "current", Message: "Enter your current password."})
			return
		}
		// Guessing the current password from a stolen session is as limited
		// as guessing it at the sign-in page.
		if wait, err := h.limit(w, r, key); err != nil {
			h.fail(w, r, err)
			return
		} else if wait != "" {
			h.renderPassword(w, r, v, http.StatusTooManyRequests, &problem{Message: "Too many attempts. Try again in " + wait + "."})
			return
		}
	}
	who, reply, err := h.cfg.Service.ChangePassword(r.Context(), u.Email, v.session.Stamp, current, password, confirm)
	switch e, ok := userError(err); {
	case err == nil:
	case errors.Is(err, handlers.ErrSignedOut):
		h.setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/login?ended=1", http.StatusSeeOther)
		return
	case errors.Is(err, handlers.ErrCurrentPassword):
		h.renderPassword(w, r, v, http.StatusUnprocessableEntity, problemOf("current", e))
		return
	case ok && e.Code == org.CodeInvalid:
		h.renderPassword(w, r, v, http.StatusUnprocessableEntity, problemOf(passwordField(password, confirm, u.Email), e))
		return
	case errors.Is(err, secret.ErrBusy):
		h.busy(w, r)
		h.renderPassword(w, r, v, http.StatusServiceUnavailable, busyProblem())
		return
	default:
		h.fail(w, r, err)
		return
	}
	if !u.MustChangePassword {
		if err := h.cfg.Limiter.Forget(r.Context(), h.pairKey(r, key)); err != nil {
			h.log.WarnContext(r.Context(), "web: clearing attempts failed", "err", err)
		}
	}
	h.deliver(r, reply.Deliveries)
	h.log.InfoContext(r.Context(), "web: password changed")
	// The change ended every session of the user; this browser gets a new one.
	if !h.startSession(w, r, who) {
		return
	}
	http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
}

// --- Words ---------------------------------------------------------------------

func roleHelp(r org.Role) string {
	switch r {
	case org.RoleAdmin:
		return "can invite people, manage members and change the organization's settings"
	case org.RoleMember:
		return "can work in their workspaces"
	case org.RoleViewer:
		return "can read in their workspaces"
	}
	return ""
}

// when shows a time for people: in UTC, since a page without script does not
// know the reader's time zone.
func when(t time.Time) string { return t.UTC().Format("Mon Jan 2, 2006 at 15:04 UTC") }

// until says how far away t is, roughly.
func until(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "now"
	case d < time.Hour:
		return "in " + plural(int((d+time.Minute-1)/time.Minute), "minute")
	case d < 48*time.Hour:
		return "in " + plural(int(d/time.Hour), "hour")
	}
	return "in " + plural(int((d+12*time.Hour)/(24*time.Hour)), "day")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

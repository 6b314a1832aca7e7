package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Forgot password: /forgot asks for an address and answers every request
// with the same page, then has the link emailed (handlers.ForgotPassword);
// /reset?token=… shows the password form for a live link and sets it.
//
// The answer must not tell who has an account, by its words nor by its
// timing: whether the address is known, deactivated or rate limited, the
// request is answered at once, after the same rate-limit check, and the
// lookup and the email happen afterwards, off the request.

// ForgotSent is the one answer to a forgot-password request.
const ForgotSent = "If an account exists for that address, we've emailed a link; it works once within 30 minutes."

// maxForgot bounds the forgot-password requests handled at once after
// their answer; more are dropped (and logged): each is a few Redis round
// trips and an email, and the rate limits keep a person's own few.
const maxForgot = 16

// forgotTimeout bounds handling one request after its answer.
const forgotTimeout = 30 * time.Second

type forgotData struct{ Email string }

func (h *Handler) forgotForm(w http.ResponseWriter, r *http.Request) {
	if h.cfg.NoEmail {
		h.render(w, r, http.StatusNotFound, "forgot", view{Title: "Forgot your password?", Data: forgotData{}})
		return
	}
	h.render(w, r, http.StatusOK, "forgot", view{Title: "Forgot your password?", CSRF: h.formToken(w, r, ""), Data: forgotData{}})
}

func (h *Handler) forgot(w http.ResponseWriter, r *http.Request) {
	if h.cfg.NoEmail {
		h.render(w, r, http.StatusNotFound, "forgot", view{Title: "Forgot your password?", Data: forgotData{}})
		return
	}
	if !h.checkForm(w, r, "") {
		return
	}
	typed := strings.TrimSpace(r.PostForm.Get("email"))
	again := func(p *problem) {
		h.render(w, r, http.StatusUnprocessableEntity, "forgot", view{Title: "Forgot your password?", CSRF: h.formToken(w, r, ""),
			Problem: p, Data: forgotData{Email: typed}})
	}
	if typed == "" {
		again(&problem{Field: "email", Message: "Enter your email address."})
		return
	}
	// The address's shape only: the same for everyone, known or not.
	if _, err := org.NormalizeEmail(typed); err != nil {
		msg := "That is not an email address."
		if e, ok := userError(err); ok {
			msg = e.Message
		}
		again(&problem{Field: "email", Message: msg, Hint: "Type it as name@example.com."})
		return
	}
	// Limited as sign-ins are, in counters of its own: someone who failed
	// to sign in a few times is who needs this page next.
	wait, err := h.cfg.Limiter.Attempt(r.Context(), h.cfg.Now(), h.limits(r, "forgot-", emailKey(typed)))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if wait > 0 {
		// No Retry-After: the answer is the one every request gets.
		h.log.WarnContext(r.Context(), "web: forgot-password requests limited", "addr", h.clientAddr(r), "wait", wait.Round(time.Second))
	} else {
		h.sendResetLink(r, typed)
	}
	h.render(w, r, http.StatusOK, "message", view{Title: "Check your email", Data: messageData{Text: ForgotSent,
		Hint: "Nothing there after a few minutes? Check the address and your spam folder, then ask again."}})
}

// sendResetLink has the link for typed emailed, off the request (see the
// top of this file). A failure is logged, never shown.
func (h *Handler) sendResetLink(r *http.Request, typed string) {
	select {
	case h.forgotSlots <- struct{}{}:
	default:
		h.log.WarnContext(r.Context(), "web: too many forgot-password requests at once; one dropped", "addr", h.clientAddr(r))
		return
	}
	h.forgotWG.Add(1)
	ctx := context.WithoutCancel(r.Context())
	go func() {
		defer h.forgotWG.Done()
		defer func() { <-h.forgotSlots }()
		ctx, cancel := context.WithTimeout(ctx, forgotTimeout)
		defer cancel()
		reply, err := h.cfg.Service.ForgotPassword(ctx, typed)
		if err != nil {
			h.log.ErrorContext(ctx, "web: forgot-password request failed", "err", err)
			return
		}
		if len(reply.Deliveries) == 0 {
			return
		}
		if err := h.cfg.Deliver(ctx, reply.Deliveries); err != nil {
			h.log.ErrorContext(ctx, "web: emailing a reset link failed", "err", err)
		}
	}()
}

// Wait returns once the forgot-password requests still being handled after
// their answer are done: their links handed to Deliver. Call it after the
// server stopped taking requests.
func (h *Handler) Wait() { h.forgotWG.Wait() }

type resetData struct {
	Token string
	Email string
}

// resetInvalid answers a reset link that opens nothing: unknown, used,
// replaced and expired look alike.
func (h *Handler) resetInvalid(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, handlers.ErrInvalidResetLink) {
		h.render(w, r, http.StatusNotFound, "resetinvalid", view{Title: "This password reset link is no longer valid"})
		return
	}
	h.fail(w, r, err)
}

// resetForm shows the password form for a live link; the token moves into
// the form (every page is sent with Referrer-Policy: no-referrer). Opening
// the link never uses it up.
func (h *Handler) resetForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	email, err := h.cfg.Service.ResetLinkEmail(r.Context(), token)
	if err != nil {
		h.resetInvalid(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "reset", view{Title: "Choose a new password", CSRF: h.formToken(w, r, ""),
		Data: resetData{Token: token, Email: email}})
}

// reset sets the new password: every session of the person ends (this
// browser's too), and the sign-in form follows.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(w, r, "") {
		return
	}
	token, password, confirm := r.PostForm.Get("token"), r.PostForm.Get("password"), r.PostForm.Get("confirm")
	email, err := h.cfg.Service.ResetLinkEmail(r.Context(), token)
	if err != nil {
		h.resetInvalid(w, r, err)
		return
	}
	again := func(status int, p *problem) {
		h.render(w, r, status, "reset", view{Title: "Choose a new password", CSRF: h.formToken(w, r, ""), Problem: p,
			Data: resetData{Token: token, Email: email}})
	}
	reply, err := h.cfg.Service.ResetPassword(r.Context(), token, password, confirm)
	switch e, ok := userError(err); {
	case err == nil:
	case errors.Is(err, handlers.ErrInvalidResetLink):
		h.resetInvalid(w, r, err)
		return
	case ok && e.Code == org.CodeInvalid:
		again(http.StatusUnprocessableEntity, problemOf(passwordField(password, confirm, email), e))
		return
	case errors.Is(err, secret.ErrBusy):
		h.busy(w, r)
		again(http.StatusServiceUnavailable, busyProblem())
		return
	default:
		h.fail(w, r, err)
		return
	}
	h.deliver(r, reply.Deliveries)
	h.log.InfoContext(r.Context(), "web: password reset with an emailed link")
	h.setCookie(w, r, sessionCookie, "", -1)
	h.render(w, r, http.StatusOK, "login", view{Title: "Sign in", CSRF: h.formToken(w, r, ""), Notice: reply.Text,
		Data: loginData{Email: email}})
}

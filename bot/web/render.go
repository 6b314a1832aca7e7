package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

var (
	//go:embed templates/*.html
	templateFS embed.FS
	//go:embed static/*
	staticFS embed.FS
)

// pages holds the parsed templates and the static assets.
type pages struct {
	t      map[string]*template.Template
	assets map[string]asset
}

type asset struct {
	body    []byte
	ctype   string
	version string // a content hash, so an asset's URL changes with it
}

func loadPages() (*pages, error) {
	p := &pages{t: map[string]*template.Template{}, assets: map[string]asset{}}
	files, err := fs.Glob(staticFS, "static/*")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := staticFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		p.assets[path.Base(f)] = asset{body: b, ctype: mime.TypeByExtension(path.Ext(f)), version: hex.EncodeToString(sum[:6])}
	}
	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			a, ok := p.assets[name]
			if !ok {
				return "", fmt.Errorf("no asset %q", name)
			}
			return "/static/" + name + "?v=" + a.version, nil
		},
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web templates: %w", err)
		}
		p.t[name] = t
	}
	return p, nil
}

// static serves the embedded stylesheet and icon. Their URLs carry a content
// hash, so browsers may keep them for a long time.
func (h *Handler) static() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := h.pages.assets[r.PathValue("file")]
		securityHeaders(w.Header())
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", a.ctype)
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("ETag", `"`+a.version+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

// view is what every page template gets.
type view struct {
	Title  string
	Org    string
	CSRF   string    // the token of every form on the page
	User   *org.User // signed in: the header offers the account and Sign out
	Notice string    // a success message
	// Problem is what was wrong with the form just sent; Field names the
	// input it concerns ("" for the form as a whole).
	Problem *problem
	Data    any

	noOrg bool // don't read the organization's name (it is what failed)
	// NoEmail: this usher sends no email (Config.NoEmail), so there is no
	// Forgot password? to offer.
	NoEmail bool
}

type problem struct {
	Field   string
	Message string
	Hint    string
}

// On reports whether the problem concerns the input with id field.
func (p *problem) On(field string) bool { return p != nil && p.Field == field }

func problemOf(field string, e *org.Error) *problem {
	return &problem{Field: field, Message: e.Message, Hint: e.Hint}
}

// render writes a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	t, ok := h.pages.t[name]
	if !ok {
		panic("web: no template " + name)
	}
	v.NoEmail = h.cfg.NoEmail
	if v.Org == "" && !v.noOrg {
		if set, err := h.cfg.Service.Organization(r.Context()); err == nil {
			v.Org = set.Name
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.ErrorContext(r.Context(), "web: rendering a page failed", "page", name, "err", err)
		http.Error(w, "usher could not show this page.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message shows a page with one message and a way on.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, title, text, hint string) {
	h.render(w, r, status, "message", view{Title: title, Data: messageData{Text: text, Hint: hint}})
}

type messageData struct {
	Text   string
	Hint   string
	Ref    string
	NoLink bool // the page is an end: no way on to sign in
}

// fail answers an error that ends the request: an outage with 503 and "try
// again", a user-facing error with its message, anything else with a
// reference the operator finds in the log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, secret.ErrBusy) {
		h.busy(w, r)
		h.render(w, r, http.StatusServiceUnavailable, "message", view{Title: "usher is busy",
			noOrg: true, Data: messageData{Text: secret.ErrBusy.Message, Hint: secret.ErrBusy.Hint}})
		return
	}
	if unavailable(err) {
		h.log.WarnContext(r.Context(), "web: storage unavailable", "route", r.Pattern, "err", err)
		w.Header().Set("Retry-After", "30")
		// The error's own words: a change that may have gone through
		// (org.ErrMaybeApplied) must not be called "nothing was changed".
		e, _ := userError(err)
		h.render(w, r, http.StatusServiceUnavailable, "message", view{Title: "usher is unavailable",
			noOrg: true, Data: messageData{Text: e.Message, Hint: e.Hint}})
		return
	}
	if e, ok := userError(err); ok {
		status := http.StatusConflict
		switch e.Code {
		case org.CodeNotFound:
			status = http.StatusNotFound
		case org.CodeForbidden, org.CodeDeactivated, org.CodeNotMember:
			status = http.StatusForbidden
		case org.CodeInvalid:
			status = http.StatusUnprocessableEntity
		}
		h.message(w, r, status, "That didn't work", e.Message, e.Hint)
		return
	}
	ref, _ := secret.NewID(h.cfg.Rand)
	h.log.ErrorContext(r.Context(), "web: request failed", "ref", ref, "route", r.Pattern, "err", err)
	h.render(w, r, http.StatusInternalServerError, "message", view{Title: "Something went wrong",
		Data: messageData{Text: "Something went wrong on usher's side, and nothing was changed.",
			Hint: "Try again; if it keeps failing, give this reference to whoever runs usher.", Ref: ref}})
}

// busy answers a request refused because too many password hashes were
// running (a burst of sign-ins): nothing was hashed or changed, so the
// browser can simply send it again. The caller renders the page, with 503.
func (h *Handler) busy(w http.ResponseWriter, r *http.Request) {
	h.log.WarnContext(r.Context(), "web: password hashing busy", "route", r.Pattern, "addr", h.clientAddr(r))
	w.Header().Set("Retry-After", "5")
}

func busyProblem() *problem {
	return &problem{Message: secret.ErrBusy.Message, Hint: secret.ErrBusy.Hint}
}

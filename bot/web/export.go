package web

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/secret"
)

// Exporter is what the export download needs of usher's use cases
// (handlers/export.go); a Service without it serves no exports.
type Exporter interface {
	Export(ctx context.Context, token, viewer string) (*handlers.File, error)
}

// exportCSRF binds the download form's token to the export route.
const exportCSRF = "export"

// mountExport adds the export download: GET shows a page with one button,
// POST uses the link up and sends the CSV. The link is single-use, and
// chat platforms fetch the links posted in messages to preview them: a
// GET that downloaded would spend the link before the admin clicks it.
func (h *Handler) mountExport(route func(string, http.HandlerFunc)) {
	route("GET /export/{token}", h.exportPage)
	route("POST /export/{token}", h.exportDownload)
}

func (h *Handler) exportPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "export", view{Title: "Download an export", CSRF: h.formToken(w, r, exportCSRF)})
}

func (h *Handler) exportDownload(w http.ResponseWriter, r *http.Request) {
	ex, ok := h.cfg.Service.(Exporter)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if !h.checkForm(w, r, exportCSRF) {
		return
	}
	viewer, err := h.viewer(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f, err := ex.Export(r.Context(), r.PathValue("token"), viewer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", f.Type)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	w.Header().Set("Content-Length", strconv.Itoa(len(f.Data)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(f.Data); err != nil {
		h.log.WarnContext(r.Context(), "web: export not fully sent", "err", fmt.Errorf("write: %w", err))
	}
}

// viewer is who is signed in on this browser, "" for nobody.
func (h *Handler) viewer(r *http.Request) (string, error) {
	id := h.cookie(r, sessionCookie)
	if id == "" {
		return "", nil
	}
	ses, err := h.cfg.Sessions.Lookup(r.Context(), secret.Token(id).Hash())
	if err != nil || ses == nil {
		return "", err
	}
	return ses.Email, nil
}

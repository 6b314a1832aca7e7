package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/usher-chat/usher/handlers/command"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Exports: `members --export` and `audit --export` hand an admin a CSV. A
// Slack file upload would need the files:write scope (usher could then post
// files anywhere it is invited); instead the admin gets, privately, a link
// to usher's own web (GET /export/TOKEN) that works once, for
// ExportLifetime, for them alone, and makes the CSV when it is downloaded,
// after checking that they are still an active admin. In the shell the CSV
// is made at once and written to a file (bot/shell).

// ExportKind is what an export holds.
type ExportKind string

const (
	ExportMembers ExportKind = "members"
	ExportAudit   ExportKind = "audit"
)

// ExportLifetime is how long an export link works.
const ExportLifetime = 10 * time.Minute

// auditExportLimit bounds the newest audit entries an export holds.
const auditExportLimit = 10_000

// ExportLinks stores export links by the hash of their secret, expiring.
// TakeExport forgets the link as it reads it (single use), atomically, and
// reports found=false for a link unknown, used or expired.
type ExportLinks interface {
	PutExport(ctx context.Context, tokenHash, email, kind string, ttl time.Duration) error
	TakeExport(ctx context.Context, tokenHash string) (email, kind string, found bool, err error)
}

// ErrInvalidExport is every dead export link's answer.
var ErrInvalidExport = &org.Error{Code: org.CodeNotFound,
	Message: "This export link is no longer valid: it works once, for 10 minutes, for the admin who asked for it.",
	Hint:    "Ask for a new one in chat, e.g. members --export."}

var errNoWeb = org.Errorf(org.CodeConflict, "Exports are downloaded from usher's web pages, and this usher has no public web address (USHER_PUBLIC_URL is not set).").
	WithHint("Ask whoever runs usher to set USHER_PUBLIC_URL, or export from a terminal with usher shell.")

// startExport answers `members --export` / `audit --export`: a private
// link in chat, the file itself in the shell.
func (s *Service) startExport(ctx context.Context, c *call, kind ExportKind) (Reply, error) {
	if c.cmd.Has("page") || c.cmd.Has("search") {
		return Reply{}, org.Errorf(org.CodeInvalid, "--export exports everything; it takes no --page or --search.")
	}
	snap, err := s.load(ctx, c, org.Query{})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActExport); err != nil {
		return Reply{}, err
	}
	if c.req.Actor.Platform == "shell" {
		f, rows, err := s.exportFile(ctx, c, kind)
		if err != nil {
			return Reply{}, err
		}
		return Reply{File: f, Message: Message{Tone: ToneSuccess, Text: fmt.Sprintf("Exported %s as %s.", plural(rows, "row", "rows"), f.Name)}}, nil
	}
	if s.exports == nil {
		return Reply{}, errNoWeb
	}
	token, err := secret.NewToken(s.rand)
	if err != nil {
		return Reply{}, err
	}
	if err := s.exports.PutExport(ctx, token.Hash(), c.email, string(kind), ExportLifetime); err != nil {
		return Reply{}, fmt.Errorf("%s export: %w", kind, err)
	}
	link := s.publicURL + "/export/" + string(token)
	if s.deploy != nil {
		link = s.publicURL + "/export/" + s.deploy.LinkTag() + linkSep + string(token)
	}
	return Reply{Message: Message{Tone: ToneSuccess, Title: "Export",
		Text:   fmt.Sprintf("Download the %s of %s as a CSV:\n%s", kind, snap.Settings.Name, link),
		Footer: fmt.Sprintf("The link works once, for you alone, until %s; the file is made when you open it.", c.now.Add(ExportLifetime).Format("15:04 MST"))}}, nil
}

// Export is the download behind an export link (/export/TOKEN on the web),
// in the organization the link's tag names: the link is used up, the person
// must still be an active admin, and the export is audited. viewer is who is
// signed in on the web ("" for nobody): someone else than the admin who
// asked gets nothing, and the link is used up all the same.
func (s *Service) Export(ctx context.Context, token, viewer string) (*File, error) {
	t, tok, _, err := s.linkTarget(ctx, token)
	if errors.Is(err, ErrInvalidLink) {
		return nil, ErrInvalidExport
	}
	if err != nil {
		return nil, err
	}
	if t.exports == nil {
		return nil, ErrInvalidExport
	}
	email, kind, found, err := t.exports.TakeExport(ctx, tok.Hash())
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if !found || (kind != string(ExportMembers) && kind != string(ExportAudit)) {
		return nil, ErrInvalidExport
	}
	if viewer != "" && !org.SameEmail(viewer, email) {
		s.log.WarnContext(ctx, "export link opened by someone else than the admin who asked", "asked_by", email, "viewer", viewer)
		return nil, ErrInvalidExport
	}
	c := &call{email: email, req: Request{Actor: org.Identity{Platform: "web", Email: email}},
		cmd: command.Command{Verb: kind + " --export"}}
	for attempt := 1; ; attempt++ {
		c.now, c.attempt = t.Now(), attempt
		f, _, err := t.exportFile(ctx, c, ExportKind(kind))
		var stale *org.PreconditionError
		if errors.As(err, &stale) && attempt < maxAttempts {
			continue
		}
		return f, err
	}
}

// exportFile makes the CSV for c's actor, who must be an active admin, and
// audits it in a commit guarded by the actor's version: an admin demoted or
// deactivated meanwhile gets nothing.
func (s *Service) exportFile(ctx context.Context, c *call, kind ExportKind) (*File, int, error) {
	q := org.Query{AllUsers: true}
	if kind == ExportAudit {
		q = org.Query{AuditLimit: auditExportLimit}
	}
	snap, err := s.load(ctx, c, q)
	if err != nil {
		return nil, 0, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActExport); err != nil {
		return nil, 0, err
	}
	var records [][]string
	if kind == ExportMembers {
		records = append(records, []string{"email", "name", "role", "status", "workspaces", "created"})
		for _, u := range sortedUsers(snap.AllUsers) {
			records = append(records, []string{u.Display(), u.Name, string(u.Role), string(u.Status), u.Workspaces.Encode(), stamp(u.Created)})
		}
	} else {
		records = append(records, []string{"at", "actor", "via", "action", "target", "before", "after", "detail"})
		for _, e := range snap.Audit {
			records = append(records, []string{stamp(e.At), e.Actor, e.Via, e.Action, e.Target, e.Before, e.After, e.Detail})
		}
	}
	data, err := writeCSV(records)
	if err != nil {
		return nil, 0, fmt.Errorf("%s export: %w", kind, err)
	}
	rows := len(records) - 1
	err = s.commit(ctx, c, snap, org.Change{Audit: []org.AuditEntry{{Action: string(kind) + ".export",
		Detail: fmt.Sprintf("%s as CSV via %s", plural(rows, "row", "rows"), c.req.Actor.Platform)}}})
	if err != nil {
		return nil, 0, err
	}
	name := fmt.Sprintf("%s-%s-%s.csv", kind, fileWord(snap.Settings.Name), c.now.UTC().Format("20060102-1504"))
	return &File{Name: name, Type: "text/csv; charset=utf-8", Data: data}, rows, nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// writeCSV writes records, defusing cells a spreadsheet would run as a
// formula (OWASP "CSV injection"): those starting with = + - @ tab or CR
// get a leading apostrophe.
func writeCSV(records [][]string) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	for _, rec := range records {
		safe := make([]string, len(rec))
		for i, cell := range rec {
			safe[i] = defuse(cell)
		}
		if err := w.Write(safe); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

func defuse(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// fileWord makes an organization's name safe in a file name.
func fileWord(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	if w := strings.Trim(b.String(), "-"); w != "" {
		return w
	}
	return "org"
}

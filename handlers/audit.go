package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// auditWindow bounds how many of the newest entries audit reads, pages and
// searches: one XREVRANGE of at most this many (~300 bytes each).
const auditWindow = 1000

// audit shows the audit entries, newest first, optionally by or about one
// user, within a recent window and matching a search, a page at a time
// (AuditPerPage); --export hands admins them as a CSV instead (export.go).
func (s *Service) audit(ctx context.Context, c *call) (Reply, error) {
	f, err := readAuditFilter(c)
	if err != nil {
		return Reply{}, err
	}
	p, err := readPager(c, AuditPerPage)
	if err != nil {
		return Reply{}, err
	}
	if c.cmd.Has("export") {
		return s.startExport(ctx, c, ExportAudit)
	}
	snap, err := s.load(ctx, c, org.Query{AuditLimit: auditWindow})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActReadAudit); err != nil {
		return Reply{}, err
	}
	r := Reply{Message: Message{Title: "Audit log"}}
	var rows []Item
	for _, e := range f.entries(c.now, snap.Audit) {
		if p.match(e.Actor, e.Target, e.Action, e.Detail) {
			rows = append(rows, Item{Text: auditLine(e)})
		}
	}
	if !paged(&r, c, p, rows) {
		return p.pastEnd(c, r.Title, "entry", "entries", len(rows)), nil
	}
	if len(rows) == 0 {
		r.Text = "No audit entries match" + p.matching() + "."
	} else {
		r.Text = p.head(len(rows)) + plural(len(rows), "entry", "entries") + p.matching() + ", newest first:"
	}
	if len(snap.Audit) == auditWindow {
		r.Footer = fmt.Sprintf("Only the newest %d entries are listed and searched here.", auditWindow)
	}
	return r, nil
}

// auditFilter is audit's --user and --since.
type auditFilter struct {
	who   string
	since time.Duration
}

func readAuditFilter(c *call) (auditFilter, error) {
	var f auditFilter
	var err error
	if v := c.cmd.Flag("user"); v != "" {
		if f.who, err = target(v); err != nil {
			return f, err
		}
	}
	if v := c.cmd.Flag("since"); v != "" {
		if f.since, err = org.ParseDuration(v); err != nil || f.since <= 0 {
			return f, org.Errorf(org.CodeInvalid, "--since %s is not a duration.", v).WithHint("Write it like 24h, 7d or 1d12h.")
		}
	}
	return f, nil
}

// entries keeps the entries (newest first) the filter asks for.
func (f auditFilter) entries(now time.Time, all []org.AuditEntry) []org.AuditEntry {
	var out []org.AuditEntry
	for _, e := range all {
		if f.since > 0 && e.At.Before(now.Add(-f.since)) {
			break // newest first: everything after is older
		}
		if f.who != "" && !org.SameEmail(e.Actor, f.who) && !org.SameEmail(e.Target, f.who) { // entries from before the identity rule keep their spelling
			continue
		}
		out = append(out, e)
	}
	return out
}

func auditLine(e org.AuditEntry) string {
	line := fmt.Sprintf("%s %s %s %s", e.At.UTC().Format("2006-01-02 15:04"), e.Actor, e.Action, e.Target)
	if e.Before != "" || e.After != "" {
		line += fmt.Sprintf(": %s -> %s", orDash(e.Before), orDash(e.After))
	}
	if e.Detail != "" {
		line += " (" + e.Detail + ")"
	}
	return line
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

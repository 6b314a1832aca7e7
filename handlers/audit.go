package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// auditShown bounds how many entries one reply shows; chat messages are small.
const auditShown = 50

// audit shows the newest audit entries, optionally by or about one user and
// within a recent window.
func (s *Service) audit(ctx context.Context, c *call) (Reply, error) {
	var who string
	var since time.Duration
	var err error
	if v := c.cmd.Flag("user"); v != "" {
		if who, err = target(v); err != nil {
			return Reply{}, err
		}
	}
	if v := c.cmd.Flag("since"); v != "" {
		if since, err = org.ParseDuration(v); err != nil || since <= 0 {
			return Reply{}, org.Errorf(org.CodeInvalid, "--since %s is not a duration.", v).WithHint("Write it like 24h, 7d or 1d12h.")
		}
	}
	snap, err := s.load(ctx, c, org.Query{AuditLimit: 1000})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActReadAudit); err != nil {
		return Reply{}, err
	}
	r := Reply{Message: Message{Title: "Audit log"}}
	matched := 0
	for _, e := range snap.Audit {
		if since > 0 && e.At.Before(c.now.Add(-since)) {
			break // newest first: everything after is older
		}
		if who != "" && !org.SameEmail(e.Actor, who) && !org.SameEmail(e.Target, who) { // entries from before the identity rule keep their spelling
			continue
		}
		matched++
		if len(r.Items) < auditShown {
			r.Items = append(r.Items, Item{Text: auditLine(e)})
		}
	}
	switch {
	case matched == 0:
		r.Text = "No audit entries match."
	case matched > auditShown:
		r.Text = fmt.Sprintf("%d entries match; the newest %d:", matched, auditShown)
	default:
		r.Text = plural(matched, "entry", "entries") + ", newest first:"
	}
	return r, nil
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

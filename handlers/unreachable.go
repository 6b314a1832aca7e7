package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/usher-chat/usher/handlers/org"
)

// The people of a bulk invitation no platform reaches (not in chat, and no
// email) are not told to its sender one notice each: 500 of them would be
// 500 messages, a second apart, each a chat.postMessage out of the
// workspace's budget. Each is counted and listed in the bulk's progress
// record instead (in the step that records its delivery), and the progress
// message offers "Show their links": `invitations --unreachable ID`, a page
// at a time, each pending invitation with a new link, as `link` makes one.

// UnreachablePerPage is how many people one page of invitations
// --unreachable shows: each row is a divider and a section (no buttons), so
// 3 + 15*2 blocks, and 15 links rotated per page, one commit each.
const UnreachablePerPage = 15

// unreachableFlag is the invitations flag that lists a bulk's unreachable
// people; the progress message's button adds it.
const unreachableFlag = "unreachable"

// UnreachableCommand is the command that lists the people of bulk
// invitation progress no platform reached.
func UnreachableCommand(progress string) string {
	return "invitations --" + unreachableFlag + " " + progress
}

// unreachable answers invitations --unreachable ID. Admins get a page of the
// bulk's unreachable people, each pending invitation with a fresh link (its
// previous link dies, audited invitation.link, as the link command does);
// the bulk's sender, when not an admin, gets the same page without links (a
// non-admin cannot get a link back after sending). Anyone else is refused,
// whether or not the bulk exists.
func (s *Service) unreachable(ctx context.Context, c *call) (Reply, error) {
	id := strings.ToLower(strings.TrimSpace(c.cmd.Flag(unreachableFlag)))
	for _, f := range []string{"all", "mine", "search"} {
		if c.cmd.Has(f) {
			return Reply{}, org.Errorf(org.CodeInvalid, "--%s lists the people of one bulk invitation; it takes no --%s.", unreachableFlag, f).
				WithHint("For example: %s --page 2", UnreachableCommand(cmp.Or(id, "ID")))
		}
	}
	if !validProgressID(id) {
		return Reply{}, org.Errorf(org.CodeInvalid, "--%s needs the id of a bulk invitation, not %s.", unreachableFlag, quote(id)).
			WithHint("The progress message's Show their links button names it.")
	}
	p, err := readPager(c, UnreachablePerPage)
	if err != nil {
		return Reply{}, err
	}
	if s.progress == nil {
		return Reply{}, org.Errorf(org.CodeNotFound, "There is no bulk invitation %s.", id)
	}
	from := (p.page - 1) * p.size
	pg, found, err := s.progress.ProgressUnreachable(ctx, id, from, from+p.size)
	if err != nil {
		return Reply{}, fmt.Errorf("invitations --unreachable %s: %w", id, err)
	}
	snap, err := s.load(ctx, c, org.Query{Invitations: pg.Invitations})
	if err != nil {
		return Reply{}, err
	}
	if err := org.Authorize(snap.Actor, snap.Settings, org.ActListInvitations); err != nil {
		return Reply{}, err
	}
	links := org.Authorize(snap.Actor, snap.Settings, org.ActShowLink) == nil
	if !links && (!found || !strings.EqualFold(pg.State.Sender, c.email)) {
		// One answer whether the bulk is someone else's or none at all.
		return Reply{}, org.Errorf(org.CodeForbidden, "Only admins can see the links of a bulk invitation's people; you can list those of your own bulk invitations.")
	}
	if !found {
		return Reply{}, org.Errorf(org.CodeNotFound, "There is no bulk invitation %s (its list is kept for 7 days after its last delivery).", id).
			WithHint("List pending invitations with: invitations")
	}
	const title = "Not in chat"
	n := pg.Listed
	if p.past(n) {
		return p.pastEnd(c, title, "person", "people", n), nil
	}
	r := Reply{Message: Message{Title: title, Tone: ToneInfo}}
	var stopped error // the store failed: the rest of the page gets no link
	rotated := 0
	for _, iid := range pg.Invitations {
		inv := snap.Invitations[iid]
		if inv == nil {
			r.Items = append(r.Items, Item{Text: fmt.Sprintf("Invitation %s is no longer kept.", iid)})
			continue
		}
		it := Item{Fields: []Field{{Label: "ID", Value: inv.ID}}}
		grant := describeGrant(inv.Role, inv.Workspaces)
		switch {
		case inv.Status != org.InvitationPending:
			it.Text = fmt.Sprintf("%s as %s — %s: no link to show.", inv.Display(), grant, statusWord(inv.Status))
		case inv.ExpiredAt(c.now):
			it.Text = fmt.Sprintf("%s as %s — expired %s: no link to show. Send a new one with: invite %s", inv.Display(), grant, org.Ago(c.now, inv.Expires), inv.Display())
		case !links:
			it.Text = fmt.Sprintf("%s as %s — pending, expires %s. An admin can show the link (link %s) for you to forward.", inv.Display(), grant, org.In(c.now, inv.Expires), inv.ID)
		case stopped != nil:
			it.Text = fmt.Sprintf("%s as %s — pending; no new link made (usher couldn't save one just now).", inv.Display(), grant)
		default:
			token, err := s.rotate(ctx, c, snap, inv, "invitation.link")
			var moved *org.PreconditionError
			switch {
			case err == nil:
				rotated++
				it.Text = fmt.Sprintf("%s as %s — forward them this link (it works once and expires %s):\n%s", inv.Display(), grant, inv.Expires.Format("Jan 2 15:04 MST"), s.link(token))
			case errors.As(err, &moved) || org.ErrorCode(err) != "" && org.ErrorCode(err) != org.CodeUnavailable:
				// It changed a moment ago (accepted, revoked): that one only.
				it.Text = fmt.Sprintf("%s as %s — changed just now; see it with: link %s", inv.Display(), grant, inv.ID)
			default:
				// Links already made on this page are shown; the rest are
				// left as they were (their previous links still work).
				s.log.WarnContext(ctx, "invitations --unreachable: a link could not be rotated", "progress", id, "invitation", inv.ID, "err", err)
				stopped = err
				it.Text = fmt.Sprintf("%s as %s — pending; no new link made (usher couldn't save one just now).", inv.Display(), grant)
			}
		}
		r.Items = append(r.Items, it)
	}
	r.Buttons = p.nav(c, n)
	who := plural(n, "person", "people")
	switch {
	case links:
		r.Text = fmt.Sprintf("%s%s of bulk invitation %s not in chat; each pending one has a new link (the previous link no longer works):", p.head(n), who, id)
		r.Footer = "Forward each link only to its invitee. Showing a page again makes new links."
	default:
		r.Text = fmt.Sprintf("%s%s of your bulk invitation %s not in chat:", p.head(n), who, id)
		r.Footer = "Only admins can show links again; ask one to forward them."
	}
	if stopped != nil {
		r.Tone = ToneWarning
		r.Footer = fmt.Sprintf("usher couldn't save new links just now: %d shown; the others still have their previous links. Show this page again in a moment.", rotated)
	}
	return r, nil
}

// validProgressID reports whether s may be a progress record's id
// (secret.NewID: 8 letters and digits), before it goes into a Redis key.
func validProgressID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// statusWord says what became of an invitation no longer pending.
func statusWord(st org.InvitationStatus) string {
	switch st {
	case org.InvitationAccepted:
		return "accepted (a member now)"
	case org.InvitationDeclined:
		return "declined"
	case org.InvitationRevoked:
		return "revoked"
	case org.InvitationExpired:
		return "expired"
	}
	return string(st)
}

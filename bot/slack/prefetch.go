package slack

import (
	"context"
	"strings"
	"time"

	"github.com/usher-chat/usher/bot/deliver"
	"github.com/usher-chat/usher/bot/outbox"
	"github.com/usher-chat/usher/handlers/org"
)

// A claim of the outbox holds up to 32 messages (outbox.Worker.Batch);
// found and paced one by one each costs two Redis round trips before its
// post (the directory's look-up, the rate slot), more than the post itself
// costs this process. Prefetch does both for the whole claim in two round
// trips: the look-ups in one pipeline, the slots in one script call. What
// it found waits in the batch for Find and Post; what it did not, they do
// as before.

// dirFound is a stashed directory entry: email in workspace ws.
type dirFound struct {
	org       org.ID
	ws, email string
}

// slotTaken is a stashed rate slot: a post to channel by method in ws.
type slotTaken struct {
	org                 org.ID
	ws, method, channel string
}

// Prefetch finds the batch's recipients in the directory and takes the
// slots of their posts (deliver.Prefetcher).
func (d *DM) Prefetch(ctx context.Context, orgID org.ID, wants []deliver.Want) {
	b := outbox.BatchOf(ctx)
	if b == nil || orgID == "" {
		return
	}
	type post struct{ ws, user string }
	var posts []post
	var emails []string
	for _, w := range wants {
		switch {
		case w.Hint.ReplyURL != "":
			// Shown where they typed: no post, no look-up.
		case w.Hint.UserID != "":
			posts = append(posts, post{w.Hint.Workspace, w.Hint.UserID})
		default:
			emails = append(emails, w.Email)
		}
	}
	if len(emails) > 0 && d.dir != nil {
		ws, err := d.workspaces(ctx, orgID)
		// The first workspace only: the person is nearly always there, and
		// Find looks further by itself.
		if err == nil && len(ws) > 0 {
			es, err := d.dir.LookupMany(ctx, orgID, ws[0], emails)
			if err != nil {
				d.log.DebugContext(ctx, "slack: batch look-up failed; each message looks itself up", "err", err)
			}
			for i, e := range es {
				b.Stash(dirFound{orgID, ws[0], strings.ToLower(emails[i])}, e)
				if e.UserID != "" {
					posts = append(posts, post{ws[0], e.UserID})
				}
			}
		}
	}
	p := d.pace
	if p.budgets == nil || len(posts) < 2 {
		return
	}
	calls := make([][]Budget, len(posts))
	for i, x := range posts {
		calls[i] = []Budget{p.limits.method(x.ws, postMethod), p.limits.channel(x.ws, x.user)}
	}
	rs, err := p.budgets.ReserveMany(ctx, orgID, calls, p.limits.MaxWait)
	if err != nil {
		d.log.DebugContext(ctx, "slack: batch rate slots failed; each post takes its own", "err", err)
		return
	}
	now := time.Now()
	for i, r := range rs {
		if r.Reserved {
			b.Stash(slotTaken{orgID, posts[i].ws, postMethod, posts[i].user}, now.Add(r.Wait))
		}
	}
}

// postMethod is the Web API method a delivery posts with.
const postMethod = "chat.postMessage"

// workspaces are the organization's Slack workspaces, in the order Find
// looks in them.
func (d *DM) workspaces(ctx context.Context, orgID org.ID) ([]string, error) {
	if d.workspacesOf == nil {
		return []string{""}, nil
	}
	return d.workspacesOf(ctx, orgID)
}

// prefetched is the directory's entry for email that Prefetch stashed.
func prefetched(ctx context.Context, orgID org.ID, ws, email string) (DirEntry, bool) {
	v, ok := outbox.BatchOf(ctx).Stashed(dirFound{orgID, ws, strings.ToLower(email)})
	if !ok {
		return DirEntry{}, false
	}
	return v.(DirEntry), true
}

// slotFor is the rate slot Prefetch took for a post, when it did.
func slotFor(ctx context.Context, orgID org.ID, ws, method, channel string) (time.Time, bool) {
	v, ok := outbox.BatchOf(ctx).Stashed(slotTaken{orgID, ws, method, channel})
	if !ok {
		return time.Time{}, false
	}
	return v.(time.Time), true
}

package deliver

import (
	"context"
	"sync"
	"time"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
)

// Progress is what the router needs of the use cases to keep a bulk
// invitation's progress message up to date (handlers/progress.go): the
// counts and the decision to update live there and in the store, shared by
// every replica; the router only posts, counts each settled invitation and
// edits the message on the platform that posted it.
type Progress interface {
	RecordProgress(ctx context.Context, progress, invitationID, where string, outcome org.ProgressOutcome) error
	AnchorProgress(ctx context.Context, id string, a org.ProgressAnchor) error
	ClaimProgress(ctx context.Context, id string, every time.Duration) (*handlers.ProgressUpdate, time.Duration, error)
	ProgressShown(ctx context.Context, u *handlers.ProgressUpdate, every time.Duration) (time.Duration, error)
}

// defaultProgressEvery is how often a progress message is edited at most
// (the final count is shown at once): Slack's chat.update is a Tier 3
// method, ~50 calls a minute per workspace, shared with every other edit.
const defaultProgressEvery = 3 * time.Second

// progressTimeout bounds one update made off a delivery's path.
const progressTimeout = 10 * time.Second

// updater edits progress messages, throttled: every delivery that settles
// pokes it; the store says whether an update is due, and when not yet, one
// timer per message (per process) asks again when it may be. Without a
// queue (the shell) it runs inline and sets no timers: the final update is
// always due at once, so it is never lost.
type updater struct {
	r      *Router
	p      Progress
	every  time.Duration
	inline bool

	mu     sync.Mutex
	timers map[string]*time.Timer // an update asked for later
	busy   map[string]bool        // an update being asked for now
	dirty  map[string]bool        // poked while busy: ask again after
}

func newUpdater(r *Router, p Progress, every time.Duration, inline bool) *updater {
	if every <= 0 {
		every = defaultProgressEvery
	}
	return &updater{r: r, p: p, every: every, inline: inline, timers: map[string]*time.Timer{}, busy: map[string]bool{}, dirty: map[string]bool{}}
}

// anchored remembers where progress message id went, then pokes it.
func (u *updater) anchored(ctx context.Context, id string, at Posted) {
	a := org.ProgressAnchor{Platform: at.Platform, Channel: at.Channel, Message: at.ID, UserID: at.UserID, Workspace: at.Workspace}
	if err := u.p.AnchorProgress(ctx, id, a); err != nil {
		u.r.log.WarnContext(ctx, "deliver: could not remember the progress message", "progress", id, "err", err)
		return
	}
	u.poke(ctx, id)
}

// poke says something of progress id changed.
func (u *updater) poke(ctx context.Context, id string) {
	if u.inline {
		u.run(ctx, id)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, waiting := u.timers[id]; waiting {
		return // the timer will show it, and anything else that settles by then
	}
	if u.busy[id] {
		// What the run under way read may predate this: it asks once more
		// (a count that became final is then never left unshown).
		u.dirty[id] = true
		return
	}
	u.busy[id] = true
	go func() {
		for {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), progressTimeout)
			u.run(ctx, id)
			cancel()
			u.mu.Lock()
			_, waiting := u.timers[id]
			again := u.dirty[id] && !waiting
			delete(u.dirty, id)
			if !again {
				delete(u.busy, id)
				u.mu.Unlock()
				return
			}
			u.mu.Unlock()
		}
	}()
}

// run makes the update when it is due, else has a timer ask again.
func (u *updater) run(ctx context.Context, id string) {
	up, wait, err := u.p.ClaimProgress(ctx, id, u.every)
	if err != nil {
		u.r.log.WarnContext(ctx, "deliver: could not read a progress message's state", "progress", id, "err", err)
		wait = u.every
	}
	if up != nil {
		at := Posted{Platform: up.Anchor.Platform, Channel: up.Anchor.Channel, ID: up.Anchor.Message, UserID: up.Anchor.UserID, Workspace: up.Anchor.Workspace}
		if err := u.r.Update(ctx, at, up.Message); err != nil {
			// Shown is still reported: the lease goes back and the next
			// settled invitation (or the timer) tries again.
			u.r.log.WarnContext(ctx, "deliver: could not update a progress message", "progress", id, "err", err)
			up.Final, up.Settled = false, -1
		}
		if wait, err = u.p.ProgressShown(ctx, up, u.every); err != nil {
			u.r.log.WarnContext(ctx, "deliver: could not record a progress update", "progress", id, "err", err)
			wait = u.every
		}
	}
	if wait > 0 {
		u.later(id, wait)
	}
}

func (u *updater) later(id string, wait time.Duration) {
	if u.inline {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.timers[id]; ok {
		return
	}
	u.timers[id] = time.AfterFunc(wait, func() {
		u.mu.Lock()
		delete(u.timers, id)
		u.mu.Unlock()
		u.poke(context.Background(), id)
	})
}

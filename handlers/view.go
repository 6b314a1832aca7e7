package handlers

import (
	"sync"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// views remembers, per acting person, the part of a snapshot that rarely
// changes (the actor, settings, workspaces and the chat link), so that a busy
// inviter's next invitation is decided without a read: one round trip instead
// of two. A remembered view is never trusted on its own. The commit decided on
// it pins the actor's version and the settings revision, and names what was
// not read (the invitee has no account, no open invitation, the quota has
// room); when any of that moved, the store refuses the commit and the command
// runs again on a fresh read, which also refreshes the view. A refusal is
// never answered from a view either: the command reads again first (invite).
type views struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	m  map[string]view
}

type view struct {
	snap *org.Snapshot
	at   time.Time
	// identity is the chat identity (Identity.Key) snap.IdentityUser was
	// read for: the same person acting from elsewhere reads again.
	identity string
}

// viewTTL bounds how long a view is used at all. Correctness does not depend
// on it (the commit's pins do); it keeps an idle inviter's view from being
// held for ever and a changed setting from costing a retry much later.
const viewTTL = time.Minute

// maxViews bounds the memory: beyond it the whole map is dropped (the next
// command of each person reads again).
const maxViews = 10_000

func newViews() *views { return &views{ttl: viewTTL, max: maxViews, m: map[string]view{}} }

// get returns a copy of email's view for deciding at now as identity, with
// the per-invitee parts empty, or nil.
func (v *views) get(email, identity string, now time.Time) *org.Snapshot {
	v.mu.Lock()
	e, ok := v.m[email]
	v.mu.Unlock()
	if !ok || e.identity != identity || now.Sub(e.at) > v.ttl || now.Before(e.at) {
		return nil
	}
	snap := *e.snap
	snap.Users, snap.Open = map[string]*org.User{}, map[string]*org.Invitation{}
	return &snap
}

// put remembers what a full read of email's command returned. The snapshot
// is not changed afterwards (commands copy before they modify), so sharing
// its pointers between goroutines is safe.
func (v *views) put(email, identity string, snap *org.Snapshot, now time.Time) {
	if snap.Actor == nil {
		return
	}
	keep := &org.Snapshot{Settings: snap.Settings, Actor: snap.Actor, IdentityUser: snap.IdentityUser,
		Workspaces: snap.Workspaces, Revision: snap.Revision}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.m) >= v.max {
		clear(v.m)
	}
	v.m[email] = view{snap: keep, at: now, identity: identity}
}

// linked records that a commit decided on email's view linked its chat
// identity, so that the next commits do not write the link again.
func (v *views) linked(email, identity string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[email]
	if !ok || e.identity != identity || e.snap.IdentityUser == email {
		return
	}
	snap := *e.snap // shared with commands under way: copy, never modify
	snap.IdentityUser = email
	e.snap = &snap
	v.m[email] = e
}

// forget drops email's view: a commit decided on it was refused.
func (v *views) forget(email string) {
	v.mu.Lock()
	delete(v.m, email)
	v.mu.Unlock()
}

package storage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// Commit applies ch atomically with one round trip, which it may share with
// other commits under way at the same moment (group.go).
func (s *Store) Commit(ctx context.Context, ch org.Change) error {
	rung, err := s.commitGrouped(ctx, ch)
	if err != nil {
		return err
	}
	if !rung {
		s.ringFor(ctx, ch) // fleet_ring.go; else the rings rode with the call (commit_riders.go)
	}
	return nil
}

// build compiles ch into o, one entity at a time (commit_*.go), each with
// its guards next to its writes. apply.lua checks every guard of a change
// before it makes any of the change's writes, wherever they sit in the
// list; the order of the calls below is still the order guards are checked
// in (the first to fail names the refusal: a stale pin before an invariant)
// and writes are made in. It reports false when ch changes nothing.
func (s *Store) build(o *ops, ch org.Change) bool {
	k := s.keys
	first := o.n

	// go-redis re-sends a command whose reply timed out; a commit that already
	// ran would then be refused by its own guards and look like a conflict.
	// Each commit carries an id: a re-sent one finds it and reports success
	// without writing again. It must be the first op: the guards after it
	// would fail on the state it wrote.
	o.once(k.commit(commitID()), commitIDLifetime)
	// What the decision was read from.
	pinActor(o, k, &ch)
	pinRevision(o, k, &ch)
	// The state, then what it says.
	commitUsers(o, k, &ch)
	commitInvitations(o, k, ch.Invitations)
	commitSettings(o, k, &ch)
	commitDigest(o, k, ch.Digest)
	commitQuota(o, k, ch.Quota)
	commitLinks(o, k, ch.Links)
	commitSessions(o, k, ch.EndSessions)
	for i := range ch.Progress {
		commitProgress(o, k, &ch.Progress[i])
	}
	commitAudit(o, k, ch.Audit)
	commitMessages(o, k, ch.Messages, s.seal)
	return o.n > first+1 // more than the commit id
}

// apply runs changes in one script call and returns each one's outcome.
func (s *Store) apply(ctx context.Context, changes []org.Change) []error {
	errs, _ := s.applyRinging(ctx, changes)
	return errs
}

// applyRinging is apply, and reports whether the fleet's rings for the
// changes went with the call (commit_riders.go): else Commit rings.
func (s *Store) applyRinging(ctx context.Context, changes []org.Change) ([]error, bool) {
	errs := make([]error, len(changes))
	var o ops
	var run []int // indexes of the changes that change something
	for i, ch := range changes {
		m := o.mark()
		if len(run) > 0 {
			o.sep()
		}
		if !s.build(&o, ch) {
			o.reset(m) // nothing to change: take its ops back out
			continue
		}
		run = append(run, i)
	}
	if len(run) == 0 {
		return errs, false
	}
	r := s.ridersOf(changes, run)
	if !s.riding() {
		if len(r.people) > 0 {
			if err := s.People().Note(ctx, s.keys.org, r.people...); err != nil {
				for _, i := range run {
					errs[i] = fmt.Errorf("person index: %w", err)
				}
				return errs, false
			}
		}
		r = riders{} // the rings go after the call (Commit)
	}
	start := time.Now()
	res, err := s.runApply(ctx, o.keys, o.args, r).Slice()
	if err == nil && len(res) != len(run) {
		err = fmt.Errorf("%d results for %d changes", len(res), len(run))
	}
	if err != nil && unavailable(err) {
		// Sent, perhaps applied, perhaps still to apply: find out (commit_transport.go).
		for j, e := range s.settle(ctx, o.ids, err, time.Since(start)) {
			errs[run[j]] = e
		}
		return errs, false
	}
	for j, i := range run {
		if err != nil {
			errs[i] = wrap("commit", err)
			continue
		}
		errs[i] = o.outcome(res[j])
	}
	return errs, err == nil && len(r.rings) > 0
}

// outcome reads one change's result from apply.lua: {'ok'}, {'ok', 'again'}
// or {'fail', op, actual}, op being the failed guard's number.
func (o *ops) outcome(v any) error {
	res := asList(v)
	if len(res) == 0 || asString(res[0]) == "ok" {
		return nil
	}
	if len(res) < 3 {
		return fmt.Errorf("commit: unexpected reply %q", res)
	}
	op := asInt(res[1])
	g := o.guardAt(int(op))
	if g == nil {
		return fmt.Errorf("commit: op %d failed, which is no guard of this call (reply %q)", op, res)
	}
	return g.refuse(g.subject, asString(res[2]))
}

// stale refuses a change computed from state that has moved since it was
// read: handlers re-read and decide again. what names the state in the log.
func stale(what, actual string) error { return &org.PreconditionError{What: what, Actual: actual} }

// commitIDLifetime is how long a commit's id is kept: far longer than any
// client retry of the same call.
const commitIDLifetime = 30 * time.Second

func commitID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

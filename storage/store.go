// Package storage is usher's Redis implementation of the handlers' Store port.
// A command reads everything it needs with one call of lua/read.lua and applies
// its decision with one call of lua/apply.lua, which checks the decision's
// preconditions and writes the change with its audit entry atomically.
package storage

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

var (
	//go:embed lua/ops.lua
	opsSource string
	//go:embed lua/read.lua
	readSource string
	//go:embed lua/apply.lua
	applySource string

	readScript  = redis.NewScript(opsSource + readSource)
	applyScript = redis.NewScript(applySource)
)

// AuditMaxLen bounds the audit stream (approximately, MAXLEN ~) so that a
// busy organization cannot grow Redis without limit; at ~300 bytes an entry
// this keeps years of a large organization's history under 300 MB.
const AuditMaxLen = 1_000_000

// Store keeps one organization's state in Redis.
type Store struct {
	rdb   redis.UniversalClient
	keys  keys
	seal  sealer    // seal.go: queued messages (Change.Messages)
	group committer // group.go
	// minReplicas and waitTimeout: see RequireReplicas (ready.go).
	minReplicas int
	waitTimeout time.Duration
}

// New returns a store for organization id on rdb. Call LoadScripts once at
// start so that the first command does not pay an extra round trip.
func New(rdb redis.UniversalClient, id org.ID) (*Store, error) {
	k, err := newKeys(id)
	if err != nil {
		return nil, err
	}
	return &Store{rdb: rdb, keys: k, seal: newSealer(nil, k)}, nil
}

// Org is the organization this store keeps.
func (s *Store) Org() org.ID { return s.keys.org }

// SealWith sets the key queued messages are sealed with (NewSealKey), which
// must be the outbox's (Outbox.SealWith); without it, a key of this
// process's own.
func (s *Store) SealWith(key cipher.AEAD) { s.seal = newSealer(key, s.keys) }

// LoadScripts loads the Lua scripts into Redis (every shard, on a cluster).
func (s *Store) LoadScripts(ctx context.Context) error {
	return loadScripts(ctx, s.rdb, "load scripts", readScript, applyScript, claimScript)
}

// loadScripts loads Lua scripts so that their first use costs no extra round
// trip (EVALSHA would fail with NOSCRIPT and go-redis retry with EVAL).
func loadScripts(ctx context.Context, rdb redis.UniversalClient, what string, scripts ...*redis.Script) error {
	for _, sc := range scripts {
		if err := sc.Load(ctx, rdb).Err(); err != nil {
			return wrap(what, err)
		}
	}
	return nil
}

// UserCount is how many people the organization has (active or not): what
// `usher org delete` refuses to drop without --confirm.
func (s *Store) UserCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, s.keys.users()).Result()
	return n, wrap("count users", err)
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return wrap("ping", s.rdb.Ping(ctx).Err()) }

// ops collects a script's operations (lua/ops.lua), naming each key by its
// index in KEYS, flat: name, key index, argument count, arguments.
type ops struct {
	keys []string
	args []any
	n    int // operations
}

// sep separates one change from the next (apply.lua applies each on its own).
func (o *ops) sep() {
	o.args = append(o.args, "|", 0, 0)
	o.n++
}

func (o *ops) add(op, key string, args ...string) {
	i := slices.Index(o.keys, key) + 1 // a handful of keys: a scan beats a map
	if i == 0 {
		o.keys = append(o.keys, key)
		i = len(o.keys)
	}
	if o.args == nil {
		o.args = make([]any, 0, 128) // a typical commit's size: grown once, not six times
	}
	o.args = append(o.args, op, i, len(args))
	for _, a := range args {
		o.args = append(o.args, a)
	}
	o.n++
}

// Load answers q in one round trip.
func (s *Store) Load(ctx context.Context, q org.Query) (*org.Snapshot, error) {
	k := s.keys
	var o ops
	var fill []func(snap *org.Snapshot, v any) error
	read := func(f func(*org.Snapshot, any) error, op, key string, args ...string) {
		o.add(op, key, args...)
		fill = append(fill, f)
	}
	snap := &org.Snapshot{}

	read(func(sn *org.Snapshot, v any) error {
		m := asMap(v)
		sn.Settings = org.SettingsFrom(m)
		if r := m[revisionField]; r != "" {
			rev, err := strconv.ParseInt(r, 10, 64)
			if err != nil {
				return fmt.Errorf("settings revision %q: %w", r, err)
			}
			sn.Revision = rev
		}
		return nil
	}, "hgetall", k.settings())
	if q.Actor != "" {
		read(func(sn *org.Snapshot, v any) (err error) {
			sn.Actor, err = decodeUser(asMap(v))
			return err
		}, "hgetall", k.user(q.Actor))
	}
	if q.Identity != "" {
		read(func(sn *org.Snapshot, v any) error { sn.IdentityUser = asString(v); return nil }, "hget", k.chat(), q.Identity)
	}
	if len(q.Users) > 0 {
		snap.Users = map[string]*org.User{}
	}
	for _, email := range q.Users {
		read(func(sn *org.Snapshot, v any) error {
			u, err := decodeUser(asMap(v))
			if u != nil {
				sn.Users[email] = u
			}
			return err
		}, "hgetall", k.user(email))
	}
	if q.AllUsers {
		// Lists never need password hashes: read only what a list shows.
		read(func(sn *org.Snapshot, v any) error {
			for _, h := range asList(v) {
				u, err := decodeUser(zip(listedUserFields, asList(h)))
				if err != nil {
					return err
				}
				if u != nil {
					sn.AllUsers = append(sn.AllUsers, u)
				}
			}
			return nil
		}, "zfields", k.users(), append([]string{k.userPrefix(), "0", "-1"}, listedUserFields...)...)
	}
	if q.Workspaces {
		read(func(sn *org.Snapshot, v any) error { sn.Workspaces = decodeWorkspaces(asMap(v)); return nil }, "hgetall", k.workspaces())
	}
	if q.Admins {
		read(func(sn *org.Snapshot, v any) error { sn.Admins = asStrings(v); return nil }, "smembers", k.admins())
	}
	one := func(dst **org.Invitation) func(*org.Snapshot, any) error {
		return func(_ *org.Snapshot, v any) (err error) {
			*dst, err = decodeInvitation(asMap(v))
			return err
		}
	}
	many := func(dst *[]*org.Invitation) func(*org.Snapshot, any) error {
		return func(_ *org.Snapshot, v any) error {
			for _, h := range asList(v) {
				inv, err := decodeInvitation(asMap(h))
				if err != nil {
					return err
				}
				if inv != nil {
					*dst = append(*dst, inv)
				}
			}
			return nil
		}
	}
	readScheduled(k, q, read) // Invitations, Digest: schedule.go
	if q.Invitation != "" {
		read(one(&snap.Invitation), "hgetall", k.inv(q.Invitation))
	} else if q.TokenHash != "" {
		read(one(&snap.Invitation), "href", k.tokens(), tokenField(q.TokenHash), k.invPrefix())
	}
	if len(q.OpenFor) > 0 {
		snap.Open = map[string]*org.Invitation{}
	}
	for _, email := range q.OpenFor {
		read(func(sn *org.Snapshot, v any) error {
			inv, err := decodeInvitation(asMap(v))
			if inv != nil {
				sn.Open[email] = inv
			}
			return err
		}, "href", k.openIndex(), ek(email), k.invPrefix())
	}
	limit := strconv.Itoa(listLimit - 1)
	if q.Pending {
		read(many(&snap.Pending), "zhashes", k.pending(), k.invPrefix(), "0", limit)
		read(func(sn *org.Snapshot, v any) error { sn.PendingTotal = int(asInt(v)); return nil }, "zcard", k.pending())
	} else if q.PendingBy != "" {
		read(many(&snap.Pending), "zhashes", k.by(q.PendingBy), k.invPrefix(), "0", limit)
		read(func(sn *org.Snapshot, v any) error { sn.PendingTotal = int(asInt(v)); return nil }, "zcard", k.by(q.PendingBy))
	}
	if q.Requests {
		read(many(&snap.Requests), "zhashes", k.requests(), k.invPrefix(), "0", limit)
	}
	if q.QuotaOf != "" {
		read(func(sn *org.Snapshot, v any) error { sn.Quota = int(asInt(v)); return nil }, "get", k.quota(q.QuotaOf, q.QuotaDay))
	}
	if q.AuditLimit > 0 {
		read(func(sn *org.Snapshot, v any) error {
			for _, e := range asList(v) {
				entry := asList(e)
				if len(entry) == 2 {
					sn.Audit = append(sn.Audit, decodeAudit(asMap(entry[1])))
				}
			}
			return nil
		}, "xrevrange", k.audit(), strconv.Itoa(q.AuditLimit))
	}

	res, err := readScript.Run(ctx, s.rdb, o.keys, o.args...).Slice()
	if err != nil {
		return nil, wrap("load", err)
	}
	if len(res) != len(fill) {
		return nil, fmt.Errorf("load: %d results for %d reads", len(res), len(fill))
	}
	for i, f := range fill {
		if err := f(snap, res[i]); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
	}
	return snap, nil
}

// listedUserFields are the user fields a list of users reads.
var listedUserFields = []string{"email", "sp", "name", "role", "status", "ws", "created", "updated", "ver"}

// listLimit caps how many invitations one list reads; the total is reported
// separately so that a reply can say "and 1,234 more".
const listLimit = 200

// Commit applies ch atomically with one round trip, which it may share with
// other commits under way at the same moment (group.go).
func (s *Store) Commit(ctx context.Context, ch org.Change) error {
	return s.group.commit(ctx, s, ch)
}

// build appends ch's ops to o. It reports false when ch changes nothing.
func (s *Store) build(o *ops, ch org.Change) bool {
	k := s.keys
	first := o.n

	// go-redis re-sends a command whose reply timed out; a commit that already
	// ran would then be refused by its own guards and look like a conflict.
	// Each commit carries an id: a re-sent one finds it and reports success
	// without writing again. It must be the first op: the guards after it
	// would fail on the state it wrote.
	o.add("once", k.commit(commitID()), strconv.FormatInt(commitIDLifetime.Milliseconds(), 10))
	if ch.Actor != "" && ch.ActorVersion > 0 {
		o.add("hfeq", k.user(ch.Actor), "ver", strconv.FormatInt(ch.ActorVersion, 10), "actor "+ch.Actor)
	}
	if ch.PinRevision {
		rev := ""
		if ch.Revision > 0 {
			rev = strconv.FormatInt(ch.Revision, 10)
		}
		o.add("hfeq", k.settings(), revisionField, rev, "settings revision")
	}
	for _, email := range ch.NoUsers {
		o.add("absent", k.user(email), "user "+email)
	}
	for _, w := range ch.Users {
		u := w.User
		key := k.user(u.Email)
		if w.Version == 0 {
			o.add("absent", key, "user "+u.Email)
		} else {
			o.add("hfeq", key, "ver", strconv.FormatInt(w.Version, 10), "user "+u.Email)
		}
		if !u.IsActiveAdmin() {
			o.add("lastadmin", k.admins(), ek(u.Email), lastAdminLabel+u.Email)
		}
	}
	for _, w := range ch.Invitations {
		inv := w.Invitation
		key := k.inv(inv.ID)
		if w.Expect == "" {
			o.add("absent", key, "invitation "+inv.ID)
		} else {
			o.add("hfeq", key, "status", string(w.Expect), "invitation "+inv.ID+" status")
			o.add("hfeq", key, "ver", strconv.FormatInt(w.Version, 10), "invitation "+inv.ID)
		}
		if inv.Status.Open() {
			if closed := closedOpen(ch.Invitations, inv.Email); closed != "" {
				o.add("hptr", k.openIndex(), ek(inv.Email), inv.ID, openLabel+inv.Email, closed)
			} else {
				o.add("hptr", k.openIndex(), ek(inv.Email), inv.ID, openLabel+inv.Email)
			}
		}
	}
	if ch.Workspace != nil {
		o.add("hfabsent", k.workspaces(), ch.Workspace.Name, workspaceLabel+ch.Workspace.Name)
	}
	if d := ch.Digest; d != nil {
		o.add("hfeq", k.digest(), "next", msOrEmpty(d.ExpectNext), "digest")
	}
	if q := ch.Quota; q != nil && q.Limit > 0 {
		o.add("quota", k.quota(q.Email, q.Day), strconv.Itoa(q.N), strconv.Itoa(q.Limit), quotaLabel)
	}

	// Writes. Versions move only in the copies that are written.
	for _, w := range ch.Users {
		u := w.User.Clone()
		u.Version = w.Version + 1
		key := k.user(u.Email)
		o.add("hset", key, userFields(u)...)
		o.add("zadd", k.users(), "0", ek(u.Email))
		if u.IsActiveAdmin() {
			o.add("sadd", k.admins(), ek(u.Email))
		} else {
			o.add("srem", k.admins(), ek(u.Email))
		}
	}
	for _, w := range ch.Invitations {
		inv := w.Invitation.Clone()
		inv.Version = w.Version + 1
		oldToken := inv.TokenHash
		if w.NewTokenHash != "" {
			inv.TokenHash = w.NewTokenHash
		}
		id := inv.ID
		o.add("hset", k.inv(id), invitationFields(inv)...)
		switch inv.Status {
		case org.InvitationPending:
			o.add("zadd", k.pending(), ms(inv.Created), id)
			o.add("zadd", k.by(inv.Inviter), ms(inv.Created), id)
			if w.Expect == org.InvitationRequested { // an approved request
				o.add("zrem", k.requests(), id)
			}
			o.add("hset", k.openIndex(), ek(inv.Email), id)
			o.add("zadd", k.due(), ms(inv.NextDue()), dueInvitation(id))
		case org.InvitationRequested:
			o.add("zadd", k.requests(), ms(inv.Created), id)
			o.add("hset", k.openIndex(), ek(inv.Email), id)
		default: // terminal: out of every index of open work, and the link dies
			o.add("zrem", k.pending(), id)
			o.add("zrem", k.by(inv.Inviter), id)
			o.add("zrem", k.requests(), id)
			o.add("zrem", k.due(), dueInvitation(id))
			o.add("hdelifeq", k.openIndex(), ek(inv.Email), id)
			if oldToken != "" {
				o.add("hdel", k.tokens(), tokenField(oldToken))
			}
			if inv.TokenHash != oldToken && inv.TokenHash != "" {
				o.add("hdel", k.tokens(), tokenField(inv.TokenHash))
			}
		}
		if w.NewTokenHash != "" && inv.Status == org.InvitationPending {
			// The link's secret, by its hash: one field of one hash rather
			// than a key each (memory: docs/reminders.md). It dies with the
			// invitation's next terminal write; until then expiry is checked
			// on every read of it.
			if oldToken != "" {
				o.add("hdel", k.tokens(), tokenField(oldToken))
			}
			o.add("hset", k.tokens(), tokenField(w.NewTokenHash), id)
		}
	}
	if ws := ch.Workspace; ws != nil {
		o.add("hset", k.workspaces(), ws.Name, ws.Creator+"|"+ms(ws.Created))
	}
	if len(ch.Settings) > 0 {
		args := make([]string, 0, 2*len(ch.Settings))
		for key, v := range ch.Settings {
			args = append(args, key, v)
		}
		o.add("hset", k.settings(), args...)
	}
	if len(ch.Settings) > 0 || ch.Workspace != nil {
		o.add("hincrby", k.settings(), revisionField, "1")
	}
	if d := ch.Digest; d != nil {
		writeDigest(o, k, d)
	}
	if q := ch.Quota; q != nil && q.N > 0 {
		o.add("incrby", k.quota(q.Email, q.Day), strconv.Itoa(q.N), strconv.FormatInt((48*time.Hour).Milliseconds(), 10))
	}
	for _, l := range ch.Links {
		o.add("hset", k.chat(), l.Identity, ek(l.Email))
	}
	for _, email := range ch.EndSessions {
		o.add("delmembers", k.sessions(email), k.sessionPrefix())
	}
	for _, e := range ch.Audit {
		o.add("xadd", k.audit(), append([]string{strconv.Itoa(AuditMaxLen)}, auditFields(e)...)...)
	}
	for _, m := range ch.Messages {
		// The commit's id already keeps a re-sent commit from queuing twice.
		// outbox2, never the legacy stream: old replicas must not claim it (outbox.go).
		o.add("xaddq", k.outbox2(), jobFields(Job{Platform: m.Platform, Channel: m.Channel, Payload: m.Payload}, s.seal)...)
	}
	return o.n > first+1 // more than the commit id
}

// closedOpen is the id of an open invitation for email that ws closes (an
// expired one replaced by a new invitation in the same change), or "". The
// open index may still point at it: its own write is guarded by its status
// and version, and takes it out of the index.
func closedOpen(ws []org.InvitationWrite, email string) string {
	for _, w := range ws {
		if ek(w.Invitation.Email) == ek(email) && w.Expect.Open() && !w.Invitation.Status.Open() {
			return w.Invitation.ID
		}
	}
	return ""
}

// apply runs changes in one script call and returns each one's outcome.
func (s *Store) apply(ctx context.Context, changes []org.Change) []error {
	errs := make([]error, len(changes))
	var o ops
	var run []int // indexes of the changes that change something
	for i, ch := range changes {
		args, n := len(o.args), o.n
		if len(run) > 0 {
			o.sep()
		}
		if !s.build(&o, ch) {
			o.args, o.n = o.args[:args], n // nothing to change: take its ops back out
			continue
		}
		run = append(run, i)
	}
	if len(run) == 0 {
		return errs
	}
	start := time.Now()
	res, err := s.runApply(ctx, o.keys, o.args).Slice()
	if err == nil && len(res) != len(run) {
		err = fmt.Errorf("%d results for %d changes", len(res), len(run))
	}
	if err != nil && unavailable(err) {
		// Sent, perhaps applied, perhaps still to apply: find out (ready.go).
		for j, e := range s.settle(ctx, o.commitIDs(), err, time.Since(start)) {
			errs[run[j]] = e
		}
		return errs
	}
	for j, i := range run {
		if err != nil {
			errs[i] = wrap("commit", err)
			continue
		}
		errs[i] = outcome(res[j])
	}
	return errs
}

// outcome reads one change's result from apply.lua.
func outcome(v any) error {
	res := asStrings(v)
	if len(res) == 0 || res[0] == "ok" {
		return nil
	}
	if len(res) < 3 {
		return fmt.Errorf("commit: unexpected reply %q", res)
	}
	return refusal(res[1], res[2])
}

// revisionField is the settings hash's field that counts changes to the
// settings and workspaces (org.Snapshot.Revision); no setting has this key.
const revisionField = "rev"

const (
	lastAdminLabel = "last-admin:"
	openLabel      = "open:"
	workspaceLabel = "workspace:"
	quotaLabel     = "quota"
)

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

// refusal turns a failed guard into the error the handlers expect: invariants
// become user-facing errors, stale reads become *org.PreconditionError.
func refusal(label, actual string) error {
	switch {
	case strings.HasPrefix(label, lastAdminLabel):
		return org.LastAdminError(strings.TrimPrefix(label, lastAdminLabel))
	case strings.HasPrefix(label, workspaceLabel):
		return org.Errorf(org.CodeConflict, "Workspace %s already exists.", strings.TrimPrefix(label, workspaceLabel))
	case label == quotaLabel:
		return org.Errorf(org.CodeLimit, "You have reached today's invitation limit (%s sent).", actual).
			WithHint("Try again tomorrow, or ask an admin.")
	}
	return &org.PreconditionError{What: label, Actual: actual}
}

// wrap adds context and marks connection failures as org.ErrUnavailable, so
// the user is told to try again rather than shown an internal error.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w", what, errors.Join(org.ErrUnavailable, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

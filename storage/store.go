// Package storage is usher's Redis implementation of the handlers' Store port.
// A command reads everything it needs with one call of lua/read.lua and applies
// its decision with one call of lua/apply.lua, which checks the decision's
// preconditions and writes the change with its audit entry atomically.
package storage

import (
	"context"
	"crypto/cipher"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
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
	// minReplicas and waitTimeout: see RequireReplicas (commit_transport.go).
	minReplicas int
	waitTimeout time.Duration
	// fleet, when set (UseFleet), is rung after a commit that wrote due
	// work or queued messages (fleet_ring.go).
	fleet *Fleet
	// indexPeople: see IndexPeople.
	indexPeople bool
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

// UseFleet makes the store ring f, the deployment's due-organizations index
// (fleet.go), after each commit that wrote due work or queued messages: one
// more round trip for those commits. Every Store of a deployment served by
// the fleet loops must have it (what a Store without it commits is found
// only by the next Reconcile); a deployment served by the single-
// organization Runner and Worker leaves it unset and pays nothing.
func (s *Store) UseFleet(f *Fleet) { s.fleet = f }

// IndexPeople makes every commit note, in the deployment's person index
// (people.go), whom it makes an invitee or a member, before or with the
// commit itself (commit_riders.go). Every Store of a deployment with more
// than one organization must have it; For's stores inherit it.
func (s *Store) IndexPeople() { s.indexPeople = true }

// Org is the organization this store keeps.
func (s *Store) Org() org.ID { return s.keys.org }

// For is the store of organization id on the same Redis, with s's seal key,
// durability and fleet index: one deployment's organizations are stored alike.
func (s *Store) For(id org.ID) (*Store, error) {
	k, err := newKeys(id)
	if err != nil {
		return nil, err
	}
	return &Store{rdb: s.rdb, keys: k, seal: sealer{aead: s.seal.aead, org: []byte(k.prefix)},
		minReplicas: s.minReplicas, waitTimeout: s.waitTimeout, fleet: s.fleet, indexPeople: s.indexPeople}, nil
}

// SealWith sets the key queued messages are sealed with (NewSealKey), which
// must be the outbox's (Outbox.SealWith); without it, a key of this
// process's own.
func (s *Store) SealWith(key cipher.AEAD) { s.seal = newSealer(key, s.keys) }

// LoadScripts loads the Lua scripts into Redis (every shard, on a cluster).
func (s *Store) LoadScripts(ctx context.Context) error {
	return loadScripts(ctx, s.rdb, "load scripts", readScript, applyScript, claimScript, fleetRing, fleetNextSchedule)
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
	if (q.AllAccess || q.AccessTo != "") && !q.AllUsers {
		read(usersInto(accessUserFields, allUsers), "zaccess", k.users(), k.userPrefix(), q.AccessTo, k.wsIndexed(), k.wsMembersPrefix()+q.AccessTo)
	}
	if q.AllUsers {
		// Lists never need password hashes: read only what a list shows.
		read(usersInto(listedUserFields, allUsers), "zfields", k.users(), append([]string{k.userPrefix(), "0", "-1"}, listedUserFields...)...)
	}
	if p := q.UserPage; p != nil && p.Count > 0 {
		// One window of the users index (email order) and its size, in the
		// same round trip: a provider's import reads a page, not everyone.
		read(usersInto(listedUserFields, func(sn *org.Snapshot) *[]*org.User { return &sn.Page }), "zfields", k.users(), append([]string{k.userPrefix(), strconv.Itoa(p.Offset), strconv.Itoa(p.Offset + p.Count - 1)}, listedUserFields...)...)
	}
	if q.UserPage != nil {
		read(func(sn *org.Snapshot, v any) error { sn.UserTotal = int(asInt(v)); return nil }, "zcard", k.users())
	}
	if q.ExternalID != "" {
		read(func(sn *org.Snapshot, v any) (err error) {
			sn.External, err = decodeUser(asMap(v))
			return err
		}, "href", k.externalIDs(), q.ExternalID, k.userPrefix())
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
	if q.Whole {
		limit = "-1"
	}
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
var listedUserFields = []string{"email", "sp", "name", "role", "status", "ws", "created", "updated", "ver", "xid"}

// accessUserFields are what a workspace's member list reads of each user.
var accessUserFields = []string{"email", "sp", "ws"}

// listLimit caps how many invitations one list reads; the total is reported
// separately so that a reply can say "and 1,234 more".
const listLimit = 200

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

// usersInto decodes a list of users read as values of fields into the
// snapshot's list that into names.
func usersInto(fields []string, into func(*org.Snapshot) *[]*org.User) func(sn *org.Snapshot, v any) error {
	return func(sn *org.Snapshot, v any) error {
		list := into(sn)
		for _, h := range asList(v) {
			u, err := decodeUser(zip(fields, asList(h)))
			if err != nil {
				return err
			}
			if u != nil {
				*list = append(*list, u)
			}
		}
		return nil
	}
}

func allUsers(sn *org.Snapshot) *[]*org.User { return &sn.AllUsers }

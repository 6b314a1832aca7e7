package storage

import (
	"context"
	_ "embed"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// TeamsState keeps the Teams adapter's state (bot/teams.State): conversation
// references, the identity cache and unreachable marks. Values are the
// adapter's own JSON; every key has a TTL.
type TeamsState struct {
	rdb  redis.UniversalClient
	keys keys
	// RefTTL is how long a reference (and the email index) lives after the
	// user's last activity; default 180 days.
	RefTTL time.Duration
	marks  marker // mark.go
}

// NewTeamsState returns the Teams state of organization id.
func NewTeamsState(rdb redis.UniversalClient, id org.ID) (*TeamsState, error) {
	k, err := newKeys(id)
	if err != nil {
		return nil, err
	}
	return &TeamsState{rdb: rdb, keys: k, RefTTL: 180 * 24 * time.Hour, marks: marker{maxCalls: markCalls}}, nil
}

// Org is the organization whose Teams state this is.
func (t *TeamsState) Org() org.ID { return t.keys.org }

// unreachableTTL bounds an unreachable mark: a user who unblocks the bot
// without writing to it becomes reachable again after this.
const unreachableTTL = 90 * 24 * time.Hour

// SaveReference stores a reference and clears the unreachable mark, in one
// transaction; the email index is renewed with it.
func (t *TeamsState) SaveReference(ctx context.Context, aad string, ref []byte) error {
	_, err := t.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, t.keys.teamsRef(aad), ref, t.RefTTL)
		p.Del(ctx, t.keys.teamsUnreachable(aad))
		return nil
	})
	return wrap("teams save reference", err)
}

// Reference returns a stored reference, nil if none.
func (t *TeamsState) Reference(ctx context.Context, aad string) ([]byte, error) {
	return t.get(ctx, "teams reference", t.keys.teamsRef(aad))
}

// SaveProfile caches a profile for ttl and indexes aad by email.
func (t *TeamsState) SaveProfile(ctx context.Context, aad, email string, profile []byte, ttl time.Duration) error {
	_, err := t.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, t.keys.teamsProfile(aad), profile, ttl)
		p.Set(ctx, t.keys.teamsEmail(strings.ToLower(email)), aad, t.RefTTL)
		return nil
	})
	return wrap("teams save profile", err)
}

// Profile returns a cached profile, nil if none.
func (t *TeamsState) Profile(ctx context.Context, aad string) ([]byte, error) {
	return t.get(ctx, "teams profile", t.keys.teamsProfile(aad))
}

// UserByEmail returns the object id of the Teams user with email, "" if unknown.
func (t *TeamsState) UserByEmail(ctx context.Context, email string) (string, error) {
	b, err := t.get(ctx, "teams user by email", t.keys.teamsEmail(strings.ToLower(email)))
	return string(b), err
}

var (
	//go:embed lua/teams_recipient.lua
	teamsRecipientSource string
	teamsRecipientScript = redis.NewScript(teamsRecipientSource)
)

// Recipient is a delivery's look-up in one round trip: the object id of the
// user with email (aad instead, when the origin knows it; "" when nobody
// has that email), whether they are marked unreachable, and their stored
// reference (nil when none).
func (t *TeamsState) Recipient(ctx context.Context, email, aad string) (string, bool, []byte, error) {
	key := t.keys.teamsEmail(strings.ToLower(email))
	if aad != "" {
		key = t.keys.teamsRef(aad)
	}
	res, err := teamsRecipientScript.Run(ctx, t.rdb, []string{key}, aad, t.keys.teamsRef(""), t.keys.teamsUnreachable("")).Slice()
	if err != nil {
		return "", false, nil, wrap("teams recipient", err)
	}
	id, _ := res[0].(string)
	un, _ := res[1].(int64)
	var ref []byte
	if len(res) > 2 {
		if r, ok := res[2].(string); ok {
			ref = []byte(r)
		}
	}
	return id, un == 1, ref, nil
}

// teamsSeen is the mark of an activity already handled,
// usher:{org}:teams:seen:HASH (kept here, next to its only user).
func (k keys) teamsSeen(id string) string { return k.prefix + "teams:seen:" + id }

// FirstSeen marks an activity (by a hash of its conversation and activity
// id) for ttl and reports whether it was not marked yet: the replay guard.
func (t *TeamsState) FirstSeen(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if id == "" || len(id) > 200 {
		return false, errors.New("teams seen: bad id")
	}
	ok, err := markOnce(ctx, &t.marks, t.rdb, t.keys.teamsSeen(id), ttl)
	if err != nil {
		return false, wrap("teams seen", err)
	}
	return ok, nil
}

// Forget drops an activity's mark, so that the channel's retry of an
// activity that could not be applied is applied rather than refused as a
// replay.
func (t *TeamsState) Forget(ctx context.Context, id string) error {
	return wrap("teams seen", t.rdb.Del(ctx, t.keys.teamsSeen(id)).Err())
}

// MarkUnreachable remembers that usher cannot write to the user.
func (t *TeamsState) MarkUnreachable(ctx context.Context, aad, reason string) error {
	return wrap("teams mark unreachable", t.rdb.Set(ctx, t.keys.teamsUnreachable(aad), reason, unreachableTTL).Err())
}

// Unreachable reports whether the user is marked unreachable.
func (t *TeamsState) Unreachable(ctx context.Context, aad string) (bool, error) {
	n, err := t.rdb.Exists(ctx, t.keys.teamsUnreachable(aad)).Result()
	return n > 0, wrap("teams unreachable", err)
}

func (t *TeamsState) get(ctx context.Context, op, key string) ([]byte, error) {
	b, err := t.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	return b, nil
}

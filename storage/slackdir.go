package storage

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

var (
	//go:embed lua/slackdir_put.lua
	slackDirPutSource string
	slackDirPut       = redis.NewScript(slackDirPutSource)
)

// SlackDirectory is every organization's directory of its Slack users by
// workspace (bot/slack.Directory): email -> user id, built from users.list
// and kept fresh by team_join and user_change, so that finding the person
// an invitation is for costs one Redis round trip instead of a
// users.lookupByEmail. Under usher:{org}:slackdir:WS (hash), :ids (the
// reverse), :meta (built, the build lock) and usher:{org}:slackdir:WS:miss:EMAIL
// (a short-lived "not in this workspace" from users.lookupByEmail).
type SlackDirectory struct {
	rdb redis.UniversalClient
}

// NewSlackDirectory returns the Slack directories of every organization on rdb.
func NewSlackDirectory(rdb redis.UniversalClient) *SlackDirectory { return &SlackDirectory{rdb: rdb} }

// Setup loads the script.
func (d *SlackDirectory) Setup(ctx context.Context) error {
	return loadScripts(ctx, d.rdb, "slack directory setup", slackDirPut)
}

// SlackDirUser is one Slack user as the directory takes it. It is an
// unnamed struct type, the same type as bot/slack.DirUser.
type SlackDirUser = struct {
	ID, Email string
	// Reachable: a person usher may write to (not deleted, not a bot).
	Reachable bool
}

// SlackDirEntry is what one look-up says. It is an unnamed struct type, the
// same type as bot/slack.DirEntry.
type SlackDirEntry = struct {
	// UserID is the person's, when the directory has them.
	UserID string
	// Missing: users.lookupByEmail said lately that nobody has the address.
	Missing bool
	// Built is when users.list last went through the whole workspace
	// (zero: never); Building, that a replica is doing it now.
	Built    time.Time
	Building bool
	// Failed is when the last build failed (zero: it did not).
	Failed time.Time
	// Since is when the running build started; Until, when its lock ends
	// (a builder that died holds it until then).
	Since, Until time.Time
}

func (d *SlackDirectory) keys(orgID org.ID, workspace string) (keys, string, error) {
	k, err := newKeys(orgID)
	if err != nil {
		return k, "", err
	}
	if workspace == "" {
		workspace = "-" // the default token's workspace
	}
	if !slackWorkspacePattern.MatchString(workspace) {
		return k, "", fmt.Errorf("slack directory: bad workspace %q", workspace)
	}
	return k, workspace, nil
}

// slackWorkspacePattern is a Slack team or enterprise id (or "-").
var slackWorkspacePattern = regexp.MustCompile(`^(-|[A-Z0-9]{1,32})$`)

// Lookup reads what the directory knows of email in one round trip.
func (d *SlackDirectory) Lookup(ctx context.Context, orgID org.ID, workspace, email string) (SlackDirEntry, error) {
	es, err := d.LookupMany(ctx, orgID, workspace, []string{email})
	if err != nil {
		return SlackDirEntry{}, err
	}
	return es[0], nil
}

// LookupMany is Lookup for many addresses in one round trip (a batch of
// deliveries finds its recipients at once).
func (d *SlackDirectory) LookupMany(ctx context.Context, orgID org.ID, workspace string, emails []string) ([]SlackDirEntry, error) {
	k, ws, err := d.keys(orgID, workspace)
	if err != nil {
		return nil, err
	}
	fields := make([]string, len(emails))
	for i, e := range emails {
		fields[i] = ek(e)
	}
	p := d.rdb.Pipeline()
	ids := p.HMGet(ctx, k.slackDir(ws), fields...)
	misses := make([]*redis.IntCmd, len(fields))
	for i, e := range fields {
		misses[i] = p.Exists(ctx, k.slackDirMiss(ws, e))
	}
	meta := p.HMGet(ctx, k.slackDirMeta(ws), "built", "lock_until", "failed", "lock_since")
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap("slack directory lookup", err)
	}
	var common SlackDirEntry
	if vs := meta.Val(); len(vs) == 4 {
		if ms, ok := msField(vs[0]); ok {
			common.Built = time.UnixMilli(ms)
		}
		if ms, ok := msField(vs[1]); ok {
			common.Building = ms > time.Now().UnixMilli()
			if common.Building {
				common.Until = time.UnixMilli(ms)
			}
		}
		if ms, ok := msField(vs[2]); ok {
			common.Failed = time.UnixMilli(ms)
		}
		if ms, ok := msField(vs[3]); ok && common.Building {
			common.Since = time.UnixMilli(ms)
		}
	}
	out := make([]SlackDirEntry, len(fields))
	vals := ids.Val()
	for i := range out {
		out[i] = common
		if i < len(vals) {
			out[i].UserID, _ = vals[i].(string)
		}
		out[i].Missing = misses[i].Val() > 0
	}
	return out, nil
}

// Put applies users (a users.list page, an event) to the directory.
func (d *SlackDirectory) Put(ctx context.Context, orgID org.ID, workspace string, users []SlackDirUser) error {
	k, ws, err := d.keys(orgID, workspace)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		return nil
	}
	args := make([]any, 0, 3*len(users))
	for _, u := range users {
		if u.ID == "" {
			continue
		}
		r := "0"
		if u.Reachable {
			r = "1"
		}
		e := ""
		if u.Email != "" {
			e = ek(u.Email)
		}
		args = append(args, u.ID, e, r)
	}
	err = slackDirPut.Run(ctx, d.rdb, []string{k.slackDir(ws), k.slackDirIDs(ws), k.slackDirMeta(ws)}, args...).Err()
	return wrap("slack directory put", err)
}

// Miss remembers for ttl that nobody in the workspace has email.
func (d *SlackDirectory) Miss(ctx context.Context, orgID org.ID, workspace, email string, ttl time.Duration) error {
	k, ws, err := d.keys(orgID, workspace)
	if err != nil {
		return err
	}
	return wrap("slack directory miss", d.rdb.Set(ctx, k.slackDirMiss(ws, ek(email)), "1", ttl).Err())
}

// Lock takes the workspace's build for ttl (one replica lists the users;
// the others keep answering from what is there); it reports whether this
// caller has it. Calling it again with the same owner extends it.
func (d *SlackDirectory) Lock(ctx context.Context, orgID org.ID, workspace, owner string, ttl time.Duration) (bool, error) {
	k, ws, err := d.keys(orgID, workspace)
	if err != nil {
		return false, err
	}
	key := k.slackDirMeta(ws)
	var got bool
	err = d.rdb.Watch(ctx, func(tx *redis.Tx) error {
		cur, err := tx.HGet(ctx, key, "lock").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		lockUntil, _ := tx.HGet(ctx, key, "lock_until").Int64()
		if cur != "" && cur != owner && lockUntil > time.Now().UnixMilli() {
			got = false
			return nil
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, key, "lock", owner, "lock_until", time.Now().Add(ttl).UnixMilli())
			if cur != owner {
				p.HSet(ctx, key, "lock_since", time.Now().UnixMilli())
			}
			return nil
		})
		got = err == nil
		return err
	}, key)
	if errors.Is(err, redis.TxFailedErr) {
		return false, nil
	}
	return got, wrap("slack directory lock", err)
}

// Built ends a build by owner: the directory went through the whole
// workspace at at (zero: the build failed, and only the lock goes).
func (d *SlackDirectory) Built(ctx context.Context, orgID org.ID, workspace, owner string, at time.Time) error {
	k, ws, err := d.keys(orgID, workspace)
	if err != nil {
		return err
	}
	key := k.slackDirMeta(ws)
	err = d.rdb.Watch(ctx, func(tx *redis.Tx) error {
		cur, err := tx.HGet(ctx, key, "lock").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if at.IsZero() {
				p.HSet(ctx, key, "failed", time.Now().UnixMilli())
			} else {
				p.HSet(ctx, key, "built", at.UnixMilli())
				p.HDel(ctx, key, "failed")
			}
			if cur == owner {
				p.HDel(ctx, key, "lock", "lock_until", "lock_since")
			}
			return nil
		})
		return err
	}, key)
	return wrap("slack directory built", err)
}

func msField(v any) (int64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	return ms, err == nil
}

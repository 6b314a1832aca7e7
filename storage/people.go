package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// The person index and link tags: what lets one person, known by their
// email, act across the deployment's organizations.
//
//	usher:{person:H}:orgs   set  ids of the organizations where the person is a member
//	                             (any status) or has had an invitation; a superset
//	usher:{_directory}:tags hash invitation link tag -> organization id
//
// H is the SHA-256 (hex, 32 digits) of the person's identity (org.EmailKey):
// each person has a hash tag of their own, so under Redis Cluster a person's
// keys are in one slot and no script touches two people, nor a person and an
// organization. No organization id can be "person:...": ':' is not in an
// org.ID. The email itself stays out of the key (a '{' or '}' in it would
// move the hash tag).
//
// The index is written by the organization's commit that makes someone a
// member or an invitee (Store.IndexPeople), ahead of it: in the script
// call's round trip on one server, in a round trip before it on a cluster
// (another slot), never in the script itself (commit_riders.go). A crash
// between the two leaves an entry too many, which readers drop:
// every entry is checked against the organization's own state. An entry is
// never removed by readers either, as a removal could race with a new
// invitation and leave an entry missing, the one thing the index must not.
// Data from before the index existed is indexed by Reindex.
const directoryTags = directoryPrefix + "tags"

func personPrefix(email string) string {
	sum := sha256.Sum256([]byte(org.EmailKey(email)))
	return "usher:{person:" + hex.EncodeToString(sum[:16]) + "}:"
}

func personOrgs(email string) string { return personPrefix(email) + "orgs" }

// People is the deployment's person index.
type People struct{ rdb redis.UniversalClient }

// NewPeople returns the person index on rdb.
func NewPeople(rdb redis.UniversalClient) *People { return &People{rdb: rdb} }

// Note records that each email is a member or invitee of organization id.
// One pipeline: every person is a key (and a slot) of their own.
func (p *People) Note(ctx context.Context, id org.ID, emails ...string) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if len(emails) == 0 {
		return nil
	}
	_, err := p.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for _, e := range emails {
			pl.SAdd(ctx, personOrgs(e), string(id))
		}
		return nil
	})
	return wrap("note people in "+string(id), err)
}

// Orgs lists, sorted, the organizations the index names for email. Ids that
// are not valid (a corrupted entry) are left out.
func (p *People) Orgs(ctx context.Context, email string) ([]org.ID, error) {
	ms, err := p.rdb.SMembers(ctx, personOrgs(email)).Result()
	if err != nil {
		return nil, wrap("person's organizations", err)
	}
	slices.Sort(ms)
	ids := make([]org.ID, 0, len(ms))
	for _, m := range ms {
		if id := org.ID(m); id.Validate() == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Reindex notes every user and every open invitation of st's organization
// in the person index (`usher org reindex`): the repair for data written
// before the index existed, or by a version that did not write it. It is
// idempotent and reads the organization in pages, so it may run live.
func (p *People) Reindex(ctx context.Context, st *Store) (int, error) {
	k := st.keys
	var emails []string
	users, err := st.rdb.ZRange(ctx, k.users(), 0, -1).Result()
	if err != nil {
		return 0, wrap("reindex users of "+string(k.org), err)
	}
	emails = append(emails, users...)
	iter := st.rdb.HScan(ctx, k.openIndex(), 0, "", 1000).Iterator()
	for i := 0; iter.Next(ctx); i++ {
		if i%2 == 0 {
			emails = append(emails, iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		return 0, wrap("reindex invitations of "+string(k.org), err)
	}
	for len(emails) > 0 {
		n := min(len(emails), 500)
		if err := p.Note(ctx, k.org, emails[:n]...); err != nil {
			return 0, err
		}
		emails = emails[n:]
	}
	return len(users), nil
}

// errTagTaken: two organizations whose tags collide (about 2^-36 for two
// given ones at 72 bits; see handlers' link tags) cannot both route by it.
var errTagTaken = errors.New("link tag already registered to another organization")

// RegisterTag maps an invitation link tag to organization id; registering
// it again for the same organization is a no-op, and a tag another
// organization holds is refused. One key: one slot.
func (d *Directory) RegisterTag(ctx context.Context, tag string, id org.ID) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if tag == "" {
		return errors.New("register link tag: empty tag")
	}
	// A tag, once set, never changes (HSETNX, and nothing deletes it), so
	// the owner read after it is the one that stays: no script needed.
	var get *redis.StringCmd
	_, err := d.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, directoryTags, tag, string(id))
		get = p.HGet(ctx, directoryTags, tag)
		return nil
	})
	if err != nil {
		return wrap("register link tag of "+string(id), err)
	}
	owner := get.Val()
	if owner != string(id) {
		return fmt.Errorf("register link tag of %s: %w (%s)", id, errTagTaken, owner)
	}
	return nil
}

// ResolveTag finds the organization an invitation link tag belongs to.
func (d *Directory) ResolveTag(ctx context.Context, tag string) (org.ID, bool, error) {
	v, err := d.rdb.HGet(ctx, directoryTags, tag).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, wrap("resolve link tag", err)
	}
	return org.ID(v), org.ID(v).Validate() == nil, nil
}

// People is the person index of the deployment s is in (the same Redis).
func (s *Store) People() *People { return NewPeople(s.rdb) }

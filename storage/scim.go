package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// SCIM bearer tokens live in the directory's slot, since a request names no
// organization: its token is what finds it.
//
//	usher:{_directory}:scim:token:HASH  hash  one token, by the SHA-256 (hex) of its secret: org, id, name, created (ms)
//	usher:{_directory}:scim:org:ORG     hash  token id -> HASH, the tokens of organization ORG (revoke, list)
//
// The secret itself is never stored: only its hash, which is all a lookup needs.

// SCIMToken is one provider credential.
type SCIMToken struct {
	ID      string
	Org     org.ID
	Name    string // the provider, e.g. "okta": the actor of its changes
	Created time.Time
}

// SCIMTokens stores provider credentials.
type SCIMTokens struct{ rdb redis.UniversalClient }

// NewSCIMTokens opens the credentials on rdb.
func NewSCIMTokens(rdb redis.UniversalClient) *SCIMTokens { return &SCIMTokens{rdb: rdb} }

func scimTokenKey(hash string) string { return directoryPrefix + "scim:token:" + hash }
func scimOrgKey(id org.ID) string     { return directoryPrefix + "scim:org:" + string(id) }

// Create stores t under the hash of its secret; both keys in one MULTI.
func (s *SCIMTokens) Create(ctx context.Context, t SCIMToken, hash string) error {
	if err := t.Org.Validate(); err != nil {
		return err
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, scimTokenKey(hash), "org", string(t.Org), "id", t.ID, "name", t.Name, "created", ms(t.Created))
		p.HSet(ctx, scimOrgKey(t.Org), t.ID, hash)
		return nil
	})
	return wrap("create scim token", err)
}

// Lookup is the token whose secret hashes to hash, nil when none.
func (s *SCIMTokens) Lookup(ctx context.Context, hash string) (*SCIMToken, error) {
	h, err := s.rdb.HGetAll(ctx, scimTokenKey(hash)).Result()
	if err != nil {
		return nil, wrap("scim token", err)
	}
	if len(h) == 0 {
		return nil, nil
	}
	id, err := org.ParseID(h["org"])
	if err != nil {
		return nil, fmt.Errorf("scim token %s: %w", h["id"], err)
	}
	return &SCIMToken{ID: h["id"], Org: id, Name: h["name"], Created: fromMS(h["created"])}, nil
}

// List is organization id's tokens, oldest first.
func (s *SCIMTokens) List(ctx context.Context, id org.ID) ([]SCIMToken, error) {
	ids, err := s.rdb.HGetAll(ctx, scimOrgKey(id)).Result()
	if err != nil {
		return nil, wrap("scim tokens", err)
	}
	var out []SCIMToken
	for _, hash := range ids {
		t, err := s.Lookup(ctx, hash)
		if err != nil {
			return nil, err
		}
		if t != nil {
			out = append(out, *t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// ErrNoSCIMToken is Revoke's answer for an id the organization has no token by.
var ErrNoSCIMToken = errors.New("no such scim token")

// Revoke deletes organization id's token tokenID, or every token of it when
// tokenID is "", and says how many went.
func (s *SCIMTokens) Revoke(ctx context.Context, id org.ID, tokenID string) (int, error) {
	all, err := s.rdb.HGetAll(ctx, scimOrgKey(id)).Result()
	if err != nil {
		return 0, wrap("scim tokens", err)
	}
	if tokenID != "" {
		hash, ok := all[tokenID]
		if !ok {
			return 0, ErrNoSCIMToken
		}
		all = map[string]string{tokenID: hash}
	}
	if len(all) == 0 {
		return 0, nil
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for tid, hash := range all {
			p.Del(ctx, scimTokenKey(hash))
			p.HDel(ctx, scimOrgKey(id), tid)
		}
		return nil
	})
	return len(all), wrap("revoke scim token", err)
}

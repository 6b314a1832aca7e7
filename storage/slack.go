package storage

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// SlackState is the Slack adapter's small expiring state (bot/slack.State):
// cached identities, click de-duplication marks and response_url use counts,
// under usher:{org}:slack:KIND:ID, every key with a TTL.
type SlackState struct {
	rdb   redis.UniversalClient
	keys  keys
	marks marker // mark.go
}

// NewSlackState returns the Slack state of organization id.
func NewSlackState(rdb redis.UniversalClient, id org.ID) (*SlackState, error) {
	k, err := newKeys(id)
	if err != nil {
		return nil, err
	}
	return &SlackState{rdb: rdb, keys: k, marks: marker{maxCalls: markCalls}}, nil
}

// Org is the organization whose Slack state this is.
func (s *SlackState) Org() org.ID { return s.keys.org }

var slackKindPattern = regexp.MustCompile(`^[a-z]{1,16}$`)

func (s *SlackState) key(kind, id string) (string, error) {
	if !slackKindPattern.MatchString(kind) || id == "" || len(id) > 200 {
		return "", fmt.Errorf("slack state: bad key %q/%q", kind, id)
	}
	return s.keys.slack(kind, id), nil
}

// Get reads a value; found is false when there is none (or it expired).
func (s *SlackState) Get(ctx context.Context, kind, id string) ([]byte, bool, error) {
	k, err := s.key(kind, id)
	if err != nil {
		return nil, false, err
	}
	v, err := s.rdb.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, wrap("slack state get", err)
	}
	return v, true, nil
}

// Set stores a value for ttl.
func (s *SlackState) Set(ctx context.Context, kind, id string, v []byte, ttl time.Duration) error {
	k, err := s.key(kind, id)
	if err != nil {
		return err
	}
	return wrap("slack state set", s.rdb.Set(ctx, k, v, ttl).Err())
}

// SetNX marks (kind, id) for ttl; it reports whether the mark is new.
func (s *SlackState) SetNX(ctx context.Context, kind, id string, ttl time.Duration) (bool, error) {
	k, err := s.key(kind, id)
	if err != nil {
		return false, err
	}
	ok, err := markOnce(ctx, &s.marks, s.rdb, k, ttl)
	if err != nil {
		return false, wrap("slack state setnx", err)
	}
	return ok, nil
}

// Forget removes the mark or value of (kind, id), so that the next SetNX of
// it is new again (a delivery whose work failed, to be redone on its retry).
func (s *SlackState) Forget(ctx context.Context, kind, id string) error {
	k, err := s.key(kind, id)
	if err != nil {
		return err
	}
	return wrap("slack state forget", s.rdb.Del(ctx, k).Err())
}

// Incr counts a use of (kind, id); the count expires ttl after the first use.
func (s *SlackState) Incr(ctx context.Context, kind, id string, ttl time.Duration) (int64, error) {
	k, err := s.key(kind, id)
	if err != nil {
		return 0, err
	}
	var n *redis.IntCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.Incr(ctx, k)
		p.ExpireNX(ctx, k, ttl)
		return nil
	})
	if err != nil {
		return 0, wrap("slack state incr", err)
	}
	return n.Val(), nil
}

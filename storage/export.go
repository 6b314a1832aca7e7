package storage

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Export links (handlers/export.go): one string key per link, under the
// SHA-256 of its secret, holding "kind email" and expiring with the link.
// GETDEL reads and forgets it in one step, so a link works once even when
// two downloads race.

// PutExport stores an export link for ttl.
func (s *Store) PutExport(ctx context.Context, tokenHash, email, kind string, ttl time.Duration) error {
	return wrap("store export link", s.rdb.Set(ctx, s.keys.export(tokenHash), kind+" "+email, ttl).Err())
}

// TakeExport reads an export link and forgets it.
func (s *Store) TakeExport(ctx context.Context, tokenHash string) (email, kind string, found bool, err error) {
	v, err := s.rdb.GetDel(ctx, s.keys.export(tokenHash)).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, wrap("take export link", err)
	}
	kind, email, ok := strings.Cut(v, " ")
	return email, kind, ok, nil
}

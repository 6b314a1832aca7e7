package storage

import (
	"context"
	_ "embed"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Forgot-password links, in the people's slot ({_people}, login.go) with
// the credential they reset, so that using one up, setting the password and
// ending the sessions is one script:
//
//	usher:{_people}:reset:HASH        string email; HASH: SHA-256 (hex) of the link's secret, expires (30 min)
//	usher:{_people}:reset_of:EMAIL    string HASH of the person's one live link, expires with it
//
// Only the hash is stored: a read of Redis hands out no working link.

var (
	//go:embed lua/reset_issue.lua
	resetIssueSource string
	//go:embed lua/reset_use.lua
	resetUseSource string

	resetIssue = redis.NewScript(resetIssueSource)
	resetUse   = redis.NewScript(resetUseSource)
)

func resetKey(hash string) string    { return peoplePrefix + "reset:" + hash }
func resetOfKey(email string) string { return peoplePrefix + "reset_of:" + ek(email) }

// IssueReset stores a forgot-password link for email, by its secret's hash,
// for ttl; the person's previous link stops working in the same step.
func (l *Logins) IssueReset(ctx context.Context, email, hash string, ttl time.Duration) error {
	if email == "" || len(hash) != 64 || ttl < time.Second {
		return errors.New("issue reset link: email, hash and ttl are required")
	}
	err := resetIssue.Run(ctx, l.rdb, []string{resetKey(hash), resetOfKey(email)},
		email, hash, strconv.FormatInt(ttl.Milliseconds(), 10), peoplePrefix+"reset:").Err()
	return wrap("issue reset link", err)
}

// ResetEmail is the email a live forgot-password link with hash was issued
// for; "" when there is none (unknown, used, replaced or expired).
func (l *Logins) ResetEmail(ctx context.Context, hash string) (string, error) {
	if len(hash) != 64 {
		return "", nil
	}
	v, err := l.rdb.Get(ctx, resetKey(hash)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, wrap("read reset link", err)
}

// UseReset uses up the link with hash, issued for email, and makes
// passwordHash the person's password (not temporary), ending every web
// session of theirs, in one step. false: the link was not live any more
// (used by a concurrent submit, replaced, expired); nothing was written.
func (l *Logins) UseReset(ctx context.Context, hash, email, passwordHash string) (bool, error) {
	if len(hash) != 64 || email == "" || passwordHash == "" {
		return false, errors.New("use reset link: hash, email and password hash are required")
	}
	res, err := resetUse.Run(ctx, l.rdb, []string{resetKey(hash), resetOfKey(email), peopleKeys.user(email), peopleKeys.sessions(email)},
		email, passwordHash, peopleKeys.sessionPrefix(), hash).StringSlice()
	if err != nil {
		return false, wrap("use reset link", err)
	}
	return len(res) > 0 && res[0] == "ok", nil
}

package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Token rotation: a bot token that expires soon is refreshed before use.
// Slack's refresh token is single-use, so two replicas refreshing at once
// would leave one with a spent token: the refresh runs under a lock per
// installation (usher:slackinstall:E|T:refresh, a random owner, 15 s), and
// whoever holds it re-reads the record before spending the refresh token;
// the others wait for the record to change.
const refreshLockTTL = 15 * time.Second

// Refreshed is what Slack's refresh (oauth.v2.access, grant_type
// refresh_token) answered (bot/slack.Refreshed has the same fields).
type Refreshed struct {
	BotToken, RefreshToken string
	ExpiresIn              time.Duration
}

// ErrRefreshRevoked is what a refresh func returns (wrapped) when Slack
// refused the refresh token for good (invalid_refresh_token): retrying
// cannot help, only a reinstall.
var ErrRefreshRevoked = errors.New("slack refused the refresh token")

// ErrBroken is what Fresh returns, once across replicas, when it has just
// marked an installation broken: whoever gets it tells the organization's
// admins. Afterwards Fresh returns the broken record and no error.
var ErrBroken = errors.New("slack installation broken: its refresh token was refused; it must be installed again")

var unlockIfOwner = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Fresh is Find with the bot token refreshed when it expires within
// `within` of now (only installations with a refresh token rotate).
func (s *SlackInstalls) Fresh(ctx context.Context, enterprise, team string, within time.Duration, now func() time.Time,
	refresh func(ctx context.Context, refreshToken string) (Refreshed, error)) (SlackInstallation, bool, error) {
	inst, ok, err := s.Find(ctx, enterprise, team)
	if err != nil || !ok || inst.Broken != "" || !expiring(inst, within, now()) {
		return inst, ok, err
	}
	key := installKey(inst.Enterprise, inst.Team)
	lock := key + ":refresh"
	b := make([]byte, 16)
	rand.Read(b)
	owner := hex.EncodeToString(b)
	deadline := now().Add(refreshLockTTL)
	for {
		got, err := s.rdb.SetNX(ctx, lock, owner, refreshLockTTL).Result()
		if err != nil {
			return SlackInstallation{}, false, fmt.Errorf("slack installation %s: refresh lock: %w", key, err)
		}
		if got {
			defer unlockIfOwner.Run(context.WithoutCancel(ctx), s.rdb, []string{lock}, owner)
			// Another replica may have refreshed between our read and the lock.
			cur, ok, err := s.get(ctx, key)
			if err != nil || !ok || cur.Broken != "" || !expiring(cur, within, now()) {
				return cur, ok, err
			}
			// Once Slack has spent the refresh token its answer must be kept,
			// whatever happens to the request that asked.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			r, err := refresh(rctx, cur.RefreshToken)
			if errors.Is(err, ErrRefreshRevoked) {
				// The tokens are dead: keep no copy of them, and say why.
				cur.BotToken, cur.RefreshToken = "", ""
				cur.Broken, cur.BrokenSince = err.Error(), now().UTC()
				kept, rerr := s.replace(rctx, key, cur)
				if rerr != nil || !kept {
					return SlackInstallation{}, false, rerr
				}
				return cur, true, fmt.Errorf("slack installation %s: %w", key, ErrBroken)
			}
			if err != nil {
				return SlackInstallation{}, false, fmt.Errorf("slack installation %s: refresh: %w", key, err)
			}
			cur.BotToken, cur.RefreshToken, cur.Expires = r.BotToken, r.RefreshToken, now().Add(r.ExpiresIn).UTC()
			kept, err := s.replace(rctx, key, cur)
			if err != nil || !kept {
				return SlackInstallation{}, false, err
			}
			return cur, true, nil
		}
		select {
		case <-ctx.Done():
			return SlackInstallation{}, false, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		cur, ok, err := s.get(ctx, key)
		if err != nil || !ok || cur.Broken != "" || !expiring(cur, within, now()) {
			return cur, ok, err
		}
		if now().After(deadline) {
			return SlackInstallation{}, false, fmt.Errorf("slack installation %s: %w", key, errRefreshStuck)
		}
	}
}

var errRefreshStuck = errors.New("another replica's token refresh did not finish in time")

func expiring(inst SlackInstallation, within time.Duration, now time.Time) bool {
	return inst.RefreshToken != "" && !inst.Expires.IsZero() && inst.Expires.Sub(now) < within
}

// replace writes a refreshed record only if the installation is still
// there: an uninstall during the refresh is not undone.
func (s *SlackInstalls) replace(ctx context.Context, key string, inst SlackInstallation) (kept bool, err error) {
	b, err := s.encode(key, inst)
	if err != nil {
		return false, err
	}
	kept, err = s.rdb.SetXX(ctx, key, b, 0).Result()
	if err != nil {
		return false, fmt.Errorf("slack installation %s: %w", key, err)
	}
	if kept {
		return true, s.index(ctx, key, inst)
	}
	return false, nil
}

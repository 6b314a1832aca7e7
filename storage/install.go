package storage

import (
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// Slack's "Add to Slack" installs belong to no organization until the
// installation is linked to one, and a request must find its workspace's
// installation before it is routed, so they are edge keys (edge.go):
//
//	usher:slackinstall:ENTERPRISE|TEAM   string  JSON of one installation, its tokens sealed:
//	                                             "|T" a workspace, "E|" an org-wide install
//	usher:slackinstall:E|:revoked        set     workspaces of enterprise E an org-wide install no
//	                                             longer reaches (team_access_revoked, app_uninstalled_team)
//	usher:slackoauth:HASH                string  an OAuth state not yet spent (SHA-256 of it), 10 minutes
//	usher:slackinstall:gridteams         hash    workspace -> its enterprise, for the workspaces an
//	                                             org-wide install was granted (team_access_granted):
//	                                             a delivery knows only the workspace
//	usher:slackinstall:expiring          zset    record key -> its rotating token's expiry (unix s),
//	                                             for the sweep that refreshes tokens no request uses
//
// A state is kept only as its hash: whoever reads Redis cannot finish
// someone's install with it.
const (
	slackInstallPrefix = "usher:slackinstall:"
	slackOAuthPrefix   = "usher:slackoauth:"
)

// SlackInstallation is one install of the app: a workspace's, or a whole
// enterprise's (Team empty). bot/slack.Installation has the same fields,
// so the two convert into each other.
type SlackInstallation struct {
	Enterprise string    `json:"enterprise,omitempty"`
	Team       string    `json:"team,omitempty"`
	TeamName   string    `json:"team_name,omitempty"`
	BotUserID  string    `json:"bot_user_id"`
	AppID      string    `json:"app_id"`
	Scopes     []string  `json:"scopes"`
	Installer  string    `json:"installer"`
	Installed  time.Time `json:"installed"`
	Org        org.ID    `json:"org,omitempty"`
	// The tokens are never stored as they are: storedInstallation holds
	// them sealed.
	BotToken     string    `json:"-"`
	RefreshToken string    `json:"-"`
	Expires      time.Time `json:"expires,omitzero"`
	// Broken says why the installation's tokens stopped working (Slack
	// refused the refresh token: invalid_refresh_token), since Since; the
	// record stays until a reinstall replaces it, so requests are told what
	// happened rather than "not installed".
	Broken      string    `json:"broken,omitempty"`
	BrokenSince time.Time `json:"broken_since,omitzero"`
}

// storedInstallation is a record as Redis holds it.
type storedInstallation struct {
	SlackInstallation
	SealedBot     string `json:"bot_token"`
	SealedRefresh string `json:"refresh_token,omitempty"`
}

// SlackInstalls is the deployment's installation store.
type SlackInstalls struct {
	rdb  redis.UniversalClient
	aead cipher.AEAD
}

// NewSlackInstalls is the installation store on rdb; key seals the tokens
// (NewSealKey: the same on every replica). A nil key seals for this process
// only, as an outbox without one does.
func NewSlackInstalls(rdb redis.UniversalClient, key cipher.AEAD) *SlackInstalls {
	if key == nil {
		key = processSealKey()
	}
	return &SlackInstalls{rdb: rdb, aead: key}
}

func installKey(enterprise, team string) string {
	if team != "" {
		return slackInstallPrefix + "|" + team
	}
	return slackInstallPrefix + enterprise + "|"
}

// sealerFor binds a record's tokens to its key: a sealed token copied into
// another workspace's record does not open there.
func (s *SlackInstalls) sealerFor(key string) sealer { return sealer{aead: s.aead, org: []byte(key)} }

// Save writes inst, replacing the installation of its workspace (a
// reinstall brings new tokens).
func (s *SlackInstalls) Save(ctx context.Context, inst SlackInstallation) error {
	if inst.Team == "" && inst.Enterprise == "" {
		return errors.New("slack installation: no team and no enterprise")
	}
	if inst.BotToken == "" {
		return errors.New("slack installation: no bot token")
	}
	key := installKey(inst.Enterprise, inst.Team)
	b, err := s.encode(key, inst)
	if err != nil {
		return err
	}
	if err := s.rdb.Set(ctx, key, b, 0).Err(); err != nil {
		return fmt.Errorf("slack installation %s: %w", key, err)
	}
	return s.index(ctx, key, inst)
}

// expiringKey indexes rotating tokens by expiry, so the sweep reads only
// those about to expire (another slot under Cluster: written after the
// record; an entry for a record that is gone is dropped by the sweep).
const expiringKey = slackInstallPrefix + "expiring"

func (s *SlackInstalls) index(ctx context.Context, key string, inst SlackInstallation) error {
	var err error
	if inst.RefreshToken != "" && !inst.Expires.IsZero() && inst.Broken == "" {
		err = s.rdb.ZAdd(ctx, expiringKey, redis.Z{Score: float64(inst.Expires.Unix()), Member: key}).Err()
	} else {
		err = s.rdb.ZRem(ctx, expiringKey, key).Err()
	}
	if err != nil {
		return fmt.Errorf("slack installation %s: expiry index: %w", key, err)
	}
	return nil
}

// Expiring lists the installations whose rotating token expires before
// `before`, as (enterprise, team) pairs, at most limit of them, soonest first.
func (s *SlackInstalls) Expiring(ctx context.Context, before time.Time, limit int) ([][2]string, error) {
	keys, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: expiringKey, Start: "-inf", Stop: before.Unix(), ByScore: true, Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("slack installations expiring: %w", err)
	}
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		ent, team, ok := strings.Cut(strings.TrimPrefix(k, slackInstallPrefix), "|")
		if !ok {
			continue
		}
		out = append(out, [2]string{ent, team})
	}
	return out, nil
}

// Unindex drops a record from the expiry index (the sweep found it gone).
func (s *SlackInstalls) Unindex(ctx context.Context, enterprise, team string) error {
	return s.rdb.ZRem(ctx, expiringKey, installKey(enterprise, team)).Err()
}

const gridTeamsKey = slackInstallPrefix + "gridteams"

// Find is the installation serving a request from team (of enterprise):
// the workspace's own, else its enterprise's org-wide install. With no
// enterprise given, a workspace granted to an org-wide install finds it.
func (s *SlackInstalls) Find(ctx context.Context, enterprise, team string) (SlackInstallation, bool, error) {
	if team != "" {
		if inst, ok, err := s.get(ctx, installKey("", team)); ok || err != nil {
			return inst, ok, err
		}
		if enterprise == "" {
			ent, err := s.rdb.HGet(ctx, gridTeamsKey, team).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return SlackInstallation{}, false, fmt.Errorf("slack installation: %w", err)
			}
			enterprise = ent
		}
	}
	if enterprise != "" {
		if team != "" {
			out, err := s.rdb.SIsMember(ctx, revokedKey(enterprise), team).Result()
			if err != nil {
				return SlackInstallation{}, false, fmt.Errorf("slack installation: %w", err)
			}
			if out {
				return SlackInstallation{}, false, nil
			}
		}
		return s.get(ctx, installKey(enterprise, ""))
	}
	return SlackInstallation{}, false, nil
}

func revokedKey(enterprise string) string { return installKey(enterprise, "") + ":revoked" }

// RevokeTeams records that enterprise's org-wide install no longer reaches
// teams; GrantTeams undoes it. Both are idempotent and need no record.
func (s *SlackInstalls) RevokeTeams(ctx context.Context, enterprise string, teams []string) error {
	if enterprise == "" || len(teams) == 0 {
		return nil
	}
	if err := s.rdb.SAdd(ctx, revokedKey(enterprise), toAny(teams)...).Err(); err != nil {
		return fmt.Errorf("slack installation: revoke teams: %w", err)
	}
	return nil
}

// GrantTeams: see RevokeTeams.
func (s *SlackInstalls) GrantTeams(ctx context.Context, enterprise string, teams []string) error {
	if enterprise == "" || len(teams) == 0 {
		return nil
	}
	if err := s.rdb.SRem(ctx, revokedKey(enterprise), toAny(teams)...).Err(); err != nil {
		return fmt.Errorf("slack installation: grant teams: %w", err)
	}
	pairs := make([]any, 0, 2*len(teams))
	for _, t := range teams {
		pairs = append(pairs, t, enterprise)
	}
	if err := s.rdb.HSet(ctx, gridTeamsKey, pairs...).Err(); err != nil {
		return fmt.Errorf("slack installation: grant teams: %w", err)
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, v := range ss {
		out[i] = v
	}
	return out
}

func (s *SlackInstalls) get(ctx context.Context, key string) (SlackInstallation, bool, error) {
	b, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return SlackInstallation{}, false, nil
	}
	if err != nil {
		return SlackInstallation{}, false, fmt.Errorf("slack installation %s: %w", key, err)
	}
	var rec storedInstallation
	if err := json.Unmarshal(b, &rec); err != nil {
		return SlackInstallation{}, false, fmt.Errorf("slack installation %s: %w", key, err)
	}
	inst := rec.SlackInstallation
	sl := s.sealerFor(key)
	bot, err := sl.open(rec.SealedBot)
	if err != nil {
		return SlackInstallation{}, false, fmt.Errorf("slack installation %s: bot token: %w", key, err)
	}
	inst.BotToken = string(bot)
	if rec.SealedRefresh != "" {
		r, err := sl.open(rec.SealedRefresh)
		if err != nil {
			return SlackInstallation{}, false, fmt.Errorf("slack installation %s: refresh token: %w", key, err)
		}
		inst.RefreshToken = string(r)
	}
	return inst, true, nil
}

// Remove drops the installation of (enterprise, team) exactly as given (an
// org-wide install is ("E", "")), with its tokens; removing one that is
// gone is no error, so an uninstall event handled twice, or after a
// tokens_revoked that already removed it, is harmless.
func (s *SlackInstalls) Remove(ctx context.Context, enterprise, team string) (removed bool, err error) {
	keys := []string{installKey(enterprise, team)}
	if team == "" {
		keys = append(keys, revokedKey(enterprise))
	}
	var n int64
	for _, k := range keys { // separate slots under Cluster: one DEL each
		d, err := s.rdb.Del(ctx, k).Result()
		if err != nil {
			return false, fmt.Errorf("slack installation: remove: %w", err)
		}
		if k == keys[0] {
			n = d
		}
	}
	if err := s.rdb.ZRem(ctx, expiringKey, keys[0]).Err(); err != nil {
		return false, fmt.Errorf("slack installation: remove: %w", err)
	}
	return n > 0, nil
}

// removeIfBot deletes KEYS[1] when its bot_user_id is one of ARGV: a
// tokens_revoked event names the revoked bot users, and reading the
// record then deleting it in two steps could drop a reinstall's new record.
var removeIfBot = redis.NewScript(`
local rec = redis.call('GET', KEYS[1])
if not rec then return 0 end
local ok, inst = pcall(cjson.decode, rec)
if not ok then return 0 end
for i = 1, #ARGV do
  if inst.bot_user_id == ARGV[i] then
    redis.call('DEL', KEYS[1])
    return 1
  end
end
return 0
`)

// RevokeBots drops the installation of (enterprise, team) when its bot user
// is among botUsers (a tokens_revoked event's bot ids); idempotent.
func (s *SlackInstalls) RevokeBots(ctx context.Context, enterprise, team string, botUsers []string) (removed bool, err error) {
	if len(botUsers) == 0 {
		return false, nil
	}
	key := installKey(enterprise, team)
	n, err := removeIfBot.Run(ctx, s.rdb, []string{key}, toAny(botUsers)...).Int()
	if err != nil {
		return false, fmt.Errorf("slack installation: revoke: %w", err)
	}
	if n > 0 {
		if err := s.rdb.ZRem(ctx, expiringKey, key).Err(); err != nil {
			return true, fmt.Errorf("slack installation: revoke: %w", err)
		}
	}
	return n > 0, nil
}

// StateTTL is how long an install may take between the "Add to Slack"
// click and Slack's redirect back.
const StateTTL = 10 * time.Minute

func stateKey(state string) string {
	h := sha256.Sum256([]byte(state))
	return slackOAuthPrefix + hex.EncodeToString(h[:])
}

// PutState records an OAuth state for StateTTL.
func (s *SlackInstalls) PutState(ctx context.Context, state string) error {
	if err := s.rdb.Set(ctx, stateKey(state), "1", StateTTL).Err(); err != nil {
		return fmt.Errorf("slack oauth state: %w", err)
	}
	return nil
}

// TakeState spends an OAuth state: true once, for a state put less than
// StateTTL ago (GETDEL, so two redirects racing with one state cannot both
// win).
func (s *SlackInstalls) TakeState(ctx context.Context, state string) (bool, error) {
	err := s.rdb.GetDel(ctx, stateKey(state)).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("slack oauth state: %w", err)
	}
	return true, nil
}

// encode seals inst's tokens for key and marshals the record.
func (s *SlackInstalls) encode(key string, inst SlackInstallation) ([]byte, error) {
	sl := s.sealerFor(key)
	rec := storedInstallation{SlackInstallation: inst, SealedBot: sl.seal([]byte(inst.BotToken))}
	if inst.RefreshToken != "" {
		rec.SealedRefresh = sl.seal([]byte(inst.RefreshToken))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("slack installation: %w", err)
	}
	return b, nil
}

package slack

import (
	"context"
	"errors"
	"time"

	"github.com/usher-chat/usher/handlers/org"
)

// Installation is one install of the app through "Add to Slack": a
// workspace's, or a whole enterprise's (Team empty). usher serve keeps them
// in Redis, tokens sealed (storage.SlackInstallation, the same fields).
type Installation struct {
	Enterprise   string
	Team         string
	TeamName     string
	BotUserID    string
	AppID        string
	Scopes       []string
	Installer    string
	Installed    time.Time
	Org          org.ID
	BotToken     string
	RefreshToken string
	Expires      time.Time
	// Broken says why the tokens stopped working (a refresh token Slack
	// refused), since BrokenSince: only a reinstall mends it.
	Broken      string
	BrokenSince time.Time
}

// ErrRefreshRevoked: Slack refused a refresh token for good
// (invalid_refresh_token). The store marks the installation broken.
var ErrRefreshRevoked = errors.New("slack refused the refresh token (invalid_refresh_token)")

// ErrBroken is Fresh's answer, once across replicas, when it has just
// marked the installation broken: whoever gets it tells the admins
// (Config.OnBroken). Afterwards Fresh returns the broken record, no error.
var ErrBroken = errors.New("slack installation broken: it must be installed again")

// Refreshed is Slack's answer to a token refresh.
type Refreshed struct {
	BotToken, RefreshToken string
	ExpiresIn              time.Duration
}

// Installations is the installation store and the OAuth states of
// installs under way. Every removal is idempotent.
type Installations interface {
	Save(ctx context.Context, inst Installation) error
	// Find is the installation serving a request from team (of
	// enterprise): the workspace's own, else its enterprise's.
	Find(ctx context.Context, enterprise, team string) (Installation, bool, error)
	// Fresh is Find with a rotating token expiring within `within`
	// refreshed first, once across replicas.
	Fresh(ctx context.Context, enterprise, team string, within time.Duration, now func() time.Time,
		refresh func(ctx context.Context, refreshToken string) (Refreshed, error)) (Installation, bool, error)
	Remove(ctx context.Context, enterprise, team string) (bool, error)
	RevokeBots(ctx context.Context, enterprise, team string, botUsers []string) (bool, error)
	RevokeTeams(ctx context.Context, enterprise string, teams []string) error
	GrantTeams(ctx context.Context, enterprise string, teams []string) error
	PutState(ctx context.Context, state string) error
	TakeState(ctx context.Context, state string) (bool, error)
}

// StateTTL is how long an install may take from the click to the redirect
// (the store keeps a state this long).
const StateTTL = 10 * time.Minute

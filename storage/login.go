package storage

import (
	"context"
	_ "embed"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

// The web's deployment-wide state: one credential per person, and the web
// sessions and sign-in counters, which belong to a person rather than to an
// organization since one sign-in serves all of theirs. They share one hash
// tag, {_people}, as the directory has {_directory} ('_' is in no org.ID):
// under Redis Cluster the credential, its sessions and session_create.lua's
// check of it are in one slot, never an organization's.
//
//	usher:{_people}:user:EMAIL      hash   a person's credential: email, status ("active"), hash,
//	                                       must ("1": temporary), expires (ms), ver
//	usher:{_people}:sessions:EMAIL  set    the person's web session ids
//	usher:{_people}:session:ID      hash   one web session (ID: SHA-256 of the cookie's id), expires
//	usher:{_people}:signin:WHO      string|hash sign-in attempts, as per organization before (keys.go)
//	usher:{_people}:reset:HASH      string forgot-password links (reset.go)
//
// The key is named user: so that session_create.lua, unchanged, checks the
// credential's version as it checks an organization's user's.
const peoplePrefix = "usher:{_people}:"

var peopleKeys = keys{prefix: peoplePrefix}

var (
	//go:embed lua/login_set.lua
	loginSetSource string
	loginSet       = redis.NewScript(loginSetSource)
)

// NewPersonSessions returns the web session store of the whole deployment:
// sessions of people, checked against their one credential (Logins).
func NewPersonSessions(rdb redis.UniversalClient) *Sessions {
	return &Sessions{rdb: rdb, keys: peopleKeys}
}

// Logins keeps the people's web credentials.
type Logins struct{ rdb redis.UniversalClient }

// NewLogins returns the credentials on rdb. Call LoadScripts once at start.
func NewLogins(rdb redis.UniversalClient) *Logins { return &Logins{rdb: rdb} }

// LoadScripts loads the credential script.
func (l *Logins) LoadScripts(ctx context.Context) error {
	return loadScripts(ctx, l.rdb, "load login scripts", loginSet, resetIssue, resetUse)
}

// Get reads email's credential; nil when there is none.
func (l *Logins) Get(ctx context.Context, email string) (*org.Login, error) {
	fields := []string{"email", "hash", "must", "expires", "ver"}
	v, err := l.rdb.HMGet(ctx, peopleKeys.user(email), fields...).Result()
	if err != nil {
		return nil, wrap("read login", err)
	}
	h := zip(fields, v)
	if h["ver"] == "" {
		return nil, nil
	}
	ver, _ := strconv.ParseInt(h["ver"], 10, 64)
	return &org.Login{Email: h["email"], PasswordHash: h["hash"], MustChangePassword: h["must"] == "1", PasswordExpires: fromMS(h["expires"]), Version: ver}, nil
}

// Set writes lg if the credential is still at version (0: none yet), else
// refuses with *org.PreconditionError. endSessions ends every web session
// of the person in the same step.
func (l *Logins) Set(ctx context.Context, lg org.Login, version int64, endSessions bool) error {
	must, end := "", ""
	if lg.MustChangePassword {
		must = "1"
	}
	if endSessions {
		end = "1"
	}
	res, err := loginSet.Run(ctx, l.rdb, []string{peopleKeys.user(lg.Email), peopleKeys.sessions(lg.Email)},
		strconv.FormatInt(version, 10), lg.Email, lg.PasswordHash, must, ms(lg.PasswordExpires), end, peopleKeys.sessionPrefix()).StringSlice()
	if err != nil {
		return wrap("write login", err)
	}
	if len(res) == 2 && res[0] == "stale" {
		return &org.PreconditionError{What: "login of " + lg.Email, Actual: "v" + res[1]}
	}
	return nil
}

// Logins is the credential store of the deployment s is in (the same Redis).
func (s *Store) Logins() *Logins { return NewLogins(s.rdb) }

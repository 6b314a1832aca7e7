package storage

import (
	"context"
	_ "embed"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/handlers/org"
)

var (
	//go:embed lua/session_create.lua
	sessionCreateSource string
	//go:embed lua/session_attempt.lua
	sessionAttemptSource string

	sessionCreate  = redis.NewScript(sessionCreateSource)
	sessionAttempt = redis.NewScript(sessionAttemptSource)
)

// Sessions keeps the web pages' state in Redis: sessions and sign-in attempt
// counters (bot/web's Sessions and Limiter ports). A session lives at
// session:ID, where ID is the SHA-256 of the cookie's secret, so a read of
// Redis does not hand out working cookies; it is indexed in the user's
// sessions:EMAIL set, which Store.Commit's EndSessions empties (a password
// reset or change, a deactivation).
type Sessions struct {
	rdb  redis.UniversalClient
	keys keys
}

// Session is one web session, as bot/web describes it (storage does not
// import adapters; cmd converts).
type Session struct {
	Email   string
	Stamp   string
	Created time.Time
	// Version is the user's version the sign-in verified: Create refuses,
	// with *org.PreconditionError, once the user has changed since.
	Version int64
}

// Limit is one rate limit. Without Backoff: at most Max attempts under Key
// per Window, a fixed window starting at the first attempt. With Backoff: Max
// attempts are free, then each attempt makes the next wait Backoff, doubling
// each time up to Window; the count is forgotten Window after the last
// attempt (lua/session_attempt.lua).
type Limit struct {
	Key     string // "email:bob@example.com", "ip:192.0.2.1", "pair:bob@example.com|192.0.2.1"
	Max     int
	Window  time.Duration
	Backoff time.Duration
}

// NewSessions returns the web session store of organization id. Call
// LoadScripts once at start.
func NewSessions(rdb redis.UniversalClient, id org.ID) (*Sessions, error) {
	k, err := newKeys(id)
	if err != nil {
		return nil, err
	}
	return &Sessions{rdb: rdb, keys: k}, nil
}

// Org is the organization whose web sessions these are.
func (s *Sessions) Org() org.ID { return s.keys.org }

// LoadScripts loads the session scripts into Redis.
func (s *Sessions) LoadScripts(ctx context.Context) error {
	return loadScripts(ctx, s.rdb, "load session scripts", sessionCreate, sessionAttempt)
}

// Create stores a session for ttl and indexes it under its user, in one
// atomic step that also forgets the user's sessions that expired on their
// own. It refuses with *org.PreconditionError when the user is no longer
// active at ses.Version (deactivated, reset, changed since the sign-in).
func (s *Sessions) Create(ctx context.Context, idHash string, ses Session, ttl time.Duration) error {
	if idHash == "" || ses.Email == "" || ttl < time.Millisecond {
		return errors.New("create session: id, email and ttl are required")
	}
	k := s.keys
	res, err := sessionCreate.Run(ctx, s.rdb, []string{k.session(idHash), k.sessions(ses.Email), k.user(ses.Email)},
		ses.Email, ses.Stamp, ms(ses.Created), strconv.FormatInt(ttl.Milliseconds(), 10), k.sessionPrefix(), idHash,
		strconv.FormatInt(ses.Version, 10)).StringSlice()
	if err != nil {
		return wrap("create session", err)
	}
	if len(res) == 2 && res[0] == "stale" {
		return &org.PreconditionError{What: "user " + ses.Email + " for a session", Actual: res[1]}
	}
	return nil
}

// Lookup returns the live session with id hash idHash, or nil.
func (s *Sessions) Lookup(ctx context.Context, idHash string) (*Session, error) {
	fields := []string{"email", "stamp", "created", "ver"}
	v, err := s.rdb.HMGet(ctx, s.keys.session(idHash), fields...).Result()
	if err != nil {
		return nil, wrap("look up session", err)
	}
	h := zip(fields, v)
	if h["email"] == "" {
		return nil, nil
	}
	ver, _ := strconv.ParseInt(h["ver"], 10, 64)
	return &Session{Email: h["email"], Stamp: h["stamp"], Created: fromMS(h["created"]), Version: ver}, nil
}

// End deletes one session (signing out one browser).
func (s *Sessions) End(ctx context.Context, idHash, email string) error {
	k := s.keys
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k.session(idHash))
		p.SRem(ctx, k.sessions(email), idHash)
		return nil
	})
	return wrap("end session", err)
}

// Attempt counts one attempt against every limit atomically and returns how
// long until the caller may try again: 0 while every limit holds, else the
// longest wait. now is the caller's clock, which backoffs are measured by. An
// attempt refused by a backoff is not counted.
func (s *Sessions) Attempt(ctx context.Context, now time.Time, limits []Limit) (time.Duration, error) {
	if len(limits) == 0 {
		return 0, nil
	}
	keys := make([]string, len(limits))
	args := make([]any, 0, 1+3*len(limits))
	args = append(args, now.UnixMilli())
	for i, l := range limits {
		if l.Max < 1 || l.Window < time.Millisecond || l.Backoff < 0 {
			return 0, errors.New("sign-in attempt: every limit needs a max and a window")
		}
		keys[i] = s.keys.signin(l.Key)
		args = append(args, l.Window.Milliseconds(), l.Max, l.Backoff.Milliseconds())
	}
	wait, err := sessionAttempt.Run(ctx, s.rdb, keys, args...).Int64()
	if err != nil {
		return 0, wrap("sign-in attempt", err)
	}
	return time.Duration(wait) * time.Millisecond, nil
}

// Forget clears the attempts counted under key (after a successful sign-in).
func (s *Sessions) Forget(ctx context.Context, key string) error {
	return wrap("forget sign-in attempts", s.rdb.Del(ctx, s.keys.signin(key)).Err())
}

// Package scim serves SCIM 2.0 (RFC 7643, 7644) for identity providers (Okta,
// Microsoft Entra ID) at /scim/v2/. It only translates: the protocol (routing,
// schema validation, PATCH parsing, list and error bodies) is
// github.com/elimity-com/scim's, and every change is a handlers.Service call
// with the provider as the actor, so provisioning obeys the same guards as
// chat (never the last active admin) and is audited the same way.
//
// The organization is the bearer token's: a token belongs to one, so one
// server serves every organization of the deployment.
package scim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/handlers/secret"
)

// Prefix is where the server is mounted.
const Prefix = "/scim/v2/"

// TokenPrefix starts every token usher makes, so that a secret scanner (and
// a person) can tell what leaked.
const TokenPrefix = "usher-scim-"

// Credential is what a bearer token stands for.
type Credential struct {
	ID   string
	Org  org.ID
	Name string // the provider, the actor of its changes
}

// Tokens finds the credential whose secret has hash (SHA-256, hex); nil when none.
type Tokens interface {
	Lookup(ctx context.Context, hash string) (*Credential, error)
}

// Config wires the server.
type Config struct {
	Tokens Tokens
	// Org is organization id's parts.
	Org func(ctx context.Context, id org.ID) (Org, error)
	// RoleAttribute is where a user's org role is read: "roles" (the
	// primary, else the first, roles[].value; default), "userType", or an
	// enterprise extension attribute
	// ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department").
	// Its values are admin, member or viewer, in any case.
	RoleAttribute string
	// Rate and Burst limit requests per token (per second; default 25 and 100).
	Rate  float64
	Burst int
	// BaseURL is the public URL of Prefix, for meta.location (optional).
	BaseURL string
	Logger  *slog.Logger
	Clock   func() time.Time
}

// Org is what the endpoint needs of one organization.
type Org struct {
	Service *handlers.Service
	// Outbox queues the messages a change causes in its own commit; nil
	// when the organization has no outbox worker (no chat platform), and
	// Deliver is handed them after the commit instead.
	Outbox  handlers.Outbox
	Deliver func(context.Context, []handlers.Delivery) error
}

// HashToken is the hash a token is stored and looked up by.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken makes a bearer token: TokenPrefix and 256 random bits.
func NewToken() (string, error) {
	t, err := secret.NewToken(rand.Reader)
	if err != nil {
		return "", err
	}
	return TokenPrefix + string(t), nil
}

// validToken is the shape NewToken makes, so garbage costs no round trip.
func validToken(t string) bool {
	rest, ok := strings.CutPrefix(t, TokenPrefix)
	return ok && secret.ValidToken(rest)
}

// Server is the SCIM endpoint.
type Server struct {
	cfg   Config
	log   *slog.Logger
	inner scim.Server
	role  roleAttr

	mu      sync.Mutex
	cache   map[string]cached  // token hash -> credential, for cacheTTL
	buckets map[string]*bucket // token id -> its rate limit
}

type cached struct {
	cred    *Credential
	expires time.Time
}

// cacheTTL bounds how long a revoked token may still work on a replica
// that just used it; without the cache every request would pay a round trip
// for the token before its own.
const cacheTTL = 10 * time.Second

// ctxKey carries the request's organization and provider to the resource
// handlers, which elimity/scim calls with the *http.Request.
type ctxKey struct{}

type reqState struct {
	svc     *handlers.Service
	deliver func(context.Context, []handlers.Delivery) error
	who     handlers.Provider
	org     org.ID
}

func state(r *http.Request) *reqState { return r.Context().Value(ctxKey{}).(*reqState) }

// New builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Tokens == nil || cfg.Org == nil {
		return nil, errors.New("scim: Tokens and Org are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 25
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 100
	}
	role, err := parseRoleAttr(cfg.RoleAttribute)
	if err != nil {
		return nil, err
	}
	// Entra sends booleans as strings ("active": "False"): the schema
	// validation accepts them (a process-wide switch of elimity/scim; usher
	// has one SCIM server).
	schema.SetAllowStringValues(true)
	s := &Server{cfg: cfg, log: cfg.Logger, role: role, cache: map[string]cached{}, buckets: map[string]*bucket{}}
	var opts []scim.ServerOption
	if cfg.BaseURL != "" {
		opts = append(opts, scim.WithBaseURL(strings.TrimSuffix(cfg.BaseURL, "/")))
	}
	opts = append(opts, scim.WithLogger(scimLogger{cfg.Logger}))
	s.inner, err = scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{
			DocumentationURI: optional.NewString("https://github.com/usher-chat/usher#provisioning-from-okta-and-entra-id-scim-20"),
			AuthenticationSchemes: []scim.AuthenticationScheme{{
				Type: scim.AuthenticationTypeOauthBearerToken, Name: "Bearer token", Primary: true,
				Description: "A token made with `usher scim token create ORG`.",
			}},
			MaxResults:       maxResults,
			SupportFiltering: true,
			SupportPatch:     true,
		},
		ResourceTypes: []scim.ResourceType{
			{
				ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
				Description:      optional.NewString("A member of the organization"),
				Schema:           schema.CoreUserSchema(),
				SchemaExtensions: []scim.SchemaExtension{{Schema: schema.ExtensionEnterpriseUser()}},
				Handler:          users{s},
			},
			{
				ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
				Description: optional.NewString("A workspace; its members are the users with access"),
				Schema:      schema.CoreGroupSchema(),
				Handler:     groups{s},
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	return s, nil
}

// maxFilter and maxBody bound what one request may make usher parse.
const (
	maxFilter = 1024
	maxBody   = 1 << 20
)

// maxResults caps a page (Okta asks for 100, Entra for fewer).
const maxResults = 200

// Mount serves the endpoint on mux.
func (s *Server) Mount(mux *http.ServeMux) { mux.Handle(Prefix, s) }

// ServeHTTP authenticates, limits and hands the request to elimity/scim.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The scheme is case-insensitive (RFC 9110 11.1).
	auth := r.Header.Get("Authorization")
	ok := len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ")
	token := ""
	if ok {
		token = strings.TrimSpace(auth[7:])
	}
	if !ok || !validToken(token) {
		s.unauthorized(w, "A bearer token made with `usher scim token create ORG` is required.")
		return
	}
	cred, err := s.credential(r.Context(), HashToken(token))
	if errors.Is(err, errBusyLookups) {
		w.Header().Set("Retry-After", "1")
		writeError(w, scimerr.ScimError{Status: http.StatusTooManyRequests, Detail: "Too many requests with tokens usher does not know; retry after the time in Retry-After."})
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "scim: token lookup failed", "err", err) // the token is not logged
		writeError(w, scimerr.ScimError{Status: http.StatusServiceUnavailable, Detail: "usher can't reach its database right now; try again in a minute."})
		return
	}
	if cred == nil {
		s.unauthorized(w, "This token is not valid: it was revoked or never made.")
		return
	}
	if wait := s.limit(cred.ID); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		writeError(w, scimerr.ScimError{Status: http.StatusTooManyRequests, Detail: "Too many requests with this token; slow down and retry after the time in Retry-After."})
		return
	}
	// The filter parser's time grows faster than its input (2,000 '('
	// take ~80 ms): a provider's filters are short, so longer ones are
	// refused before they are parsed. Bodies are bounded likewise.
	if len(r.URL.Query().Get("filter")) > maxFilter {
		writeError(w, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidFilter,
			Detail: fmt.Sprintf("The filter is longer than usher takes (%d characters).", maxFilter)})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	o, err := s.cfg.Org(r.Context(), cred.Org)
	if err != nil {
		s.log.ErrorContext(r.Context(), "scim: organization", "org", string(cred.Org), "err", err)
		writeError(w, scimerr.ScimErrorInternal)
		return
	}
	st := &reqState{svc: o.Service, deliver: o.Deliver, who: handlers.Provider{Name: cred.Name, TokenID: cred.ID, Outbox: o.Outbox}, org: cred.Org}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
	// elimity/scim routes on paths starting /v2.
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = strings.TrimPrefix(u.Path, "/scim")
	u.RawPath = ""
	r2.URL = &u
	s.inner.ServeHTTP(w, r2)
}

func (s *Server) unauthorized(w http.ResponseWriter, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="usher SCIM"`)
	writeError(w, scimerr.ScimError{Status: http.StatusUnauthorized, Detail: detail})
}

func writeError(w http.ResponseWriter, e scimerr.ScimError) {
	w.Header().Set("Content-Type", "application/scim+json")
	b, _ := e.MarshalJSON()
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

func (s *Server) credential(ctx context.Context, hash string) (*Credential, error) {
	now := s.cfg.Clock()
	s.mu.Lock()
	c, ok := s.cache[hash]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.cred, nil
	}
	// Tokens not in the cache cost a round trip each: a flood of made-up
	// ones (well-formed, so they pass validToken) is held to a rate of its
	// own, shared by all, before it reaches Redis. A known token is looked
	// up once per cacheTTL, so providers do not feel it.
	if wait := s.limit(lookupBucket); wait > 0 {
		return nil, errBusyLookups
	}
	cred, err := s.cfg.Tokens.Lookup(ctx, hash)
	if err != nil || cred == nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache)
	}
	s.cache[hash] = cached{cred: cred, expires: now.Add(cacheTTL)}
	s.mu.Unlock()
	return cred, nil
}

// lookupBucket is the bucket of token lookups that miss the cache (no token
// id can be empty, so it is no token's).
const lookupBucket = ""

var errBusyLookups = errors.New("too many token lookups")

// bucket is a token bucket: Rate tokens a second up to Burst.
type bucket struct {
	tokens float64
	at     time.Time
}

// limit takes one request from token id's bucket, or says how long until
// one is there. It is per replica: a provider spread over n replicas gets n
// times the rate, which bounds the load each one takes.
func (s *Server) limit(id string) time.Duration {
	now := s.cfg.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[id]
	if b == nil {
		b = &bucket{tokens: float64(s.cfg.Burst), at: now}
		s.buckets[id] = b
	}
	b.tokens = min(float64(s.cfg.Burst), b.tokens+now.Sub(b.at).Seconds()*s.cfg.Rate)
	b.at = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / s.cfg.Rate * float64(time.Second))
	}
	b.tokens--
	return 0
}

type scimLogger struct{ l *slog.Logger }

func (l scimLogger) Error(args ...any) { l.l.Error("scim", "detail", fmt.Sprint(args...)) }

// fail turns a use case's error into a SCIM error body: user-facing errors
// keep their message (and hint) as the detail, anything else is logged and
// answered with a reference.
func fail(r *http.Request, log *slog.Logger, err error) error {
	var se scimerr.ScimError
	if errors.As(err, &se) {
		return se
	}
	var ue *org.Error
	if errors.As(err, &ue) {
		detail := ue.Message
		if ue.Hint != "" {
			detail += " " + ue.Hint
		}
		switch ue.Code {
		case org.CodeInvalid:
			return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue, Detail: detail}
		case org.CodeNotFound:
			return scimerr.ScimError{Status: http.StatusNotFound, Detail: detail}
		case org.CodeConflict:
			return scimerr.ScimError{Status: http.StatusConflict, ScimType: scimerr.ScimTypeUniqueness, Detail: detail}
		case org.CodeLastAdmin:
			// 409: the request is fine, the organization's state refuses it
			// (RFC 7644 3.12 lets a service say so with 409).
			return scimerr.ScimError{Status: http.StatusConflict, Detail: detail}
		case org.CodeUnavailable:
			return scimerr.ScimError{Status: http.StatusServiceUnavailable, Detail: detail}
		default:
			return scimerr.ScimError{Status: http.StatusBadRequest, Detail: detail}
		}
	}
	ref, _ := secret.NewID(rand.Reader)
	log.ErrorContext(r.Context(), "scim request failed", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
	return scimerr.ScimError{Status: http.StatusInternalServerError, Detail: "Something went wrong on usher's side (ref " + ref + ")."}
}

// tell hands a change's messages to the organization's chat; a failure to
// tell is logged, not the provider's error (the change is made).
func tell(r *http.Request, log *slog.Logger, ds []handlers.Delivery) {
	if len(ds) == 0 {
		return
	}
	st := state(r)
	if st.deliver == nil {
		return
	}
	if err := st.deliver(r.Context(), ds); err != nil {
		log.WarnContext(r.Context(), "scim: could not tell members", "org", string(st.org), "count", len(ds), "err", err)
	}
}

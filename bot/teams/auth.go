package teams

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Bot Connector authentication (incoming requests), as the Bot Framework
// specifies it: https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication
const (
	// DefaultMetadataURL is the Bot Connector's OpenID metadata document.
	DefaultMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	// Issuer is the only issuer the Bot Connector service signs with.
	Issuer = "https://api.botframework.com"
	// Skew is the clock skew allowed on exp and nbf.
	Skew = 5 * time.Minute
)

// AuthError is a refused request: Status is 401 (who are you?) or 403 (you
// may not), Reason is safe to log (never the token).
type AuthError struct {
	Status int
	Reason string
	Err    error
}

func (e *AuthError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}
func (e *AuthError) Unwrap() error { return e.Err }

func unauthorized(reason string, err error) *AuthError {
	return &AuthError{Status: http.StatusUnauthorized, Reason: reason, Err: err}
}

// Claims are the Bot Connector token's claims, read type-safely: a claim of
// the wrong JSON type fails the decode (and so the request) instead of
// panicking.
type Claims struct {
	jwt.RegisteredClaims
	ServiceURL string `json:"serviceurl"`
}

// signingKey is one key of the JWKS with the channels it may sign for.
type signingKey struct {
	pub          *rsa.PublicKey
	endorsements []string
}

// Validator checks the Bot Connector's JWT on incoming activities. Its key
// cache is safe for concurrent use: the OpenID metadata and the JWKS are
// fetched once, refreshed when older than MaxAge, and refreshed once more
// (at most every MinRefresh) when a token names an unknown key id.
type Validator struct {
	AppID       string
	MetadataURL string // default DefaultMetadataURL
	// AllowedTenants are the Entra tenants whose users may talk to the bot.
	// "*" allows every tenant.
	AllowedTenants []string
	// TenantLinked, when set, allows a tenant AllowedTenants does not list
	// when it says the directory links the tenant to an organization (an
	// operator's `usher org link`, or an earlier install): with
	// MICROSOFT_ALLOWED_TENANTS=directory the allow-list is the directory.
	TenantLinked func(ctx context.Context, tenant string) (bool, error)
	HTTP         *http.Client     // default: 10 s timeout
	MaxAge       time.Duration    // default 24 h
	MinRefresh   time.Duration    // default 1 min: unknown-kid refreshes are rate limited
	Now          func() time.Time // default time.Now

	mu         sync.RWMutex
	keys       map[string]signingKey
	algs       []string
	fetched    time.Time // when the keys were last fetched successfully
	attempted  time.Time // when a refresh was last tried
	gen        int       // counts successful fetches
	refreshMu  sync.Mutex
	parserOnce sync.Once
	parser     *jwt.Parser
}

func (v *Validator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Validator) client() *http.Client {
	if v.HTTP != nil {
		return v.HTTP
	}
	return defaultHTTP
}

// defaultHTTP is the client for the connector, the token endpoint and the
// signing keys when none is given. It keeps more idle connections than
// net/http's default transport (2 a host): the outbox puts more connector
// calls than that in flight, and each call past the idle limit closed its
// connection when done, so a later one paid a new TLS handshake
// (TestConnectorKeepsItsConnections).
var defaultHTTP = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
}()

// Authenticate checks the Authorization header of a request carrying act.
// It returns the token's claims, or an *AuthError.
func (v *Validator) Authenticate(ctx context.Context, header string, act *Activity) (*Claims, error) {
	if v.AppID == "" {
		return nil, unauthorized("no app id configured", nil)
	}
	scheme, raw, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, unauthorized("missing Bearer token", nil)
	}
	if err := v.ensureKeys(ctx); err != nil {
		return nil, unauthorized("signing keys unavailable", err)
	}
	v.parserOnce.Do(func() {
		v.parser = jwt.NewParser(
			jwt.WithValidMethods([]string{"RS256"}),
			jwt.WithIssuer(Issuer),
			jwt.WithAudience(v.AppID),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Skew),
			jwt.WithTimeFunc(v.now),
		)
	})
	claims := &Claims{}
	_, err := v.parser.ParseWithClaims(strings.TrimSpace(raw), claims, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t, act.ChannelID)
	})
	if err != nil {
		return nil, unauthorized("invalid token", err)
	}
	if claims.ServiceURL == "" {
		return nil, unauthorized("token has no serviceurl claim", nil)
	}
	if normalizeServiceURL(claims.ServiceURL) != normalizeServiceURL(act.ServiceURL) {
		return nil, unauthorized("serviceurl claim does not match the activity's serviceUrl", nil)
	}
	if tenant := act.Tenant(); !v.tenantAllowed(tenant) {
		linked := false
		if v.TenantLinked != nil && tenant != "" {
			var err error
			if linked, err = v.TenantLinked(ctx, tenant); err != nil {
				return nil, &AuthError{Status: http.StatusServiceUnavailable, Reason: "cannot tell whether the tenant is linked", Err: err}
			}
		}
		if !linked {
			return nil, &AuthError{Status: http.StatusForbidden, Reason: fmt.Sprintf("tenant %q is not allowed", tenant)}
		}
	}
	return claims, nil
}

func (v *Validator) tenantAllowed(tenant string) bool {
	for _, t := range v.AllowedTenants {
		if t == "*" || (tenant != "" && strings.EqualFold(t, tenant)) {
			return true
		}
	}
	return false
}

// normalizeServiceURL compares service URLs without case or trailing slash.
func normalizeServiceURL(u string) string {
	return strings.TrimRight(strings.ToLower(strings.TrimSpace(u)), "/")
}

var errUnknownKey = errors.New("unknown signing key")

// keyFor returns the public key a token names, if it is endorsed for the
// activity's channel and its algorithm is advertised.
func (v *Validator) keyFor(ctx context.Context, t *jwt.Token, channelID string) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("token has no kid")
	}
	v.mu.RLock()
	k, ok := v.keys[kid]
	algs := v.algs
	v.mu.RUnlock()
	if !ok {
		// Keys rotate: refresh once (rate limited), then look again.
		if err := v.refresh(ctx, true); err != nil {
			return nil, err
		}
		v.mu.RLock()
		k, ok = v.keys[kid]
		algs = v.algs
		v.mu.RUnlock()
		if !ok {
			return nil, errUnknownKey
		}
	}
	if len(algs) > 0 && !slices.Contains(algs, t.Method.Alg()) {
		return nil, fmt.Errorf("algorithm %s is not advertised", t.Method.Alg())
	}
	if channelID == "" || !slices.Contains(k.endorsements, channelID) {
		return nil, fmt.Errorf("key is not endorsed for channel %q", channelID)
	}
	return k.pub, nil
}

// ensureKeys fetches the keys when there are none or they are older than MaxAge.
func (v *Validator) ensureKeys(ctx context.Context) error {
	maxAge := v.MaxAge
	if maxAge == 0 {
		maxAge = 24 * time.Hour
	}
	v.mu.RLock()
	fresh := v.keys != nil && v.now().Sub(v.fetched) < maxAge
	have := v.keys != nil
	v.mu.RUnlock()
	if fresh {
		return nil
	}
	err := v.refresh(ctx, false)
	if err != nil && have {
		// Stale keys beat no keys while the metadata endpoint is down; the
		// next request tries again (rate limited).
		return nil
	}
	return err
}

// refresh fetches the metadata and the JWKS. Concurrent callers wait for one
// fetch. With unknownKid set it is rate limited to one try per MinRefresh.
func (v *Validator) refresh(ctx context.Context, unknownKid bool) error {
	minRefresh := v.MinRefresh
	if minRefresh == 0 {
		minRefresh = time.Minute
	}
	v.mu.RLock()
	gen := v.gen
	v.mu.RUnlock()
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	v.mu.RLock()
	attempted, have := v.attempted, v.keys != nil
	refreshed := v.gen != gen
	v.mu.RUnlock()
	if refreshed {
		return nil // another caller refreshed while we waited
	}
	if have && v.now().Sub(attempted) < minRefresh {
		if unknownKid {
			return errUnknownKey
		}
		return nil
	}
	v.mu.Lock()
	v.attempted = v.now()
	v.mu.Unlock()
	keys, algs, err := v.fetch(ctx)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.keys, v.algs, v.fetched = keys, algs, v.now()
	v.gen++
	v.mu.Unlock()
	return nil
}

type openIDMetadata struct {
	JWKSURI string   `json:"jwks_uri"`
	Algs    []string `json:"id_token_signing_alg_values_supported"`
}

type jwks struct {
	Keys []struct {
		Kty          string   `json:"kty"`
		Use          string   `json:"use"`
		Kid          string   `json:"kid"`
		N            string   `json:"n"`
		E            string   `json:"e"`
		Endorsements []string `json:"endorsements"`
	} `json:"keys"`
}

func (v *Validator) fetch(ctx context.Context) (map[string]signingKey, []string, error) {
	url := v.MetadataURL
	if url == "" {
		url = DefaultMetadataURL
	}
	var meta openIDMetadata
	if err := getJSON(ctx, v.client(), url, &meta); err != nil {
		return nil, nil, fmt.Errorf("openid metadata: %w", err)
	}
	if meta.JWKSURI == "" {
		return nil, nil, errors.New("openid metadata has no jwks_uri")
	}
	var set jwks
	if err := getJSON(ctx, v.client(), meta.JWKSURI, &set); err != nil {
		return nil, nil, fmt.Errorf("jwks: %w", err)
	}
	keys := map[string]signingKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		pub, err := rsaKey(k.N, k.E)
		if err != nil {
			continue
		}
		keys[k.Kid] = signingKey{pub: pub, endorsements: k.Endorsements}
	}
	if len(keys) == 0 {
		return nil, nil, errors.New("jwks has no usable RSA signing keys")
	}
	// Only RS256 is accepted, and only if the metadata advertises it (or says nothing).
	algs := []string{"RS256"}
	if len(meta.Algs) > 0 && !slices.Contains(meta.Algs, "RS256") {
		return nil, nil, fmt.Errorf("metadata advertises %v, not RS256", meta.Algs)
	}
	return keys, algs, nil
}

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(n, "="))
	if err != nil {
		return nil, err
	}
	eb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e, "="))
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("bad exponent")
	}
	exp := 0
	for _, b := range eb {
		exp = exp<<8 | int(b)
	}
	if len(nb) < 256 { // at least 2048 bits
		return nil, errors.New("key too short")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: exp}, nil
}

func getJSON(ctx context.Context, c *http.Client, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return json.Unmarshal(body, into)
}

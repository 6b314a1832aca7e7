package teams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Scope is what the bot asks Entra for to call the Bot Connector.
const Scope = "https://api.botframework.com/.default"

// TokenURL is the client-credentials endpoint of a tenant; a single-tenant
// bot uses its own tenant, a multi-tenant one "botframework.com".
func TokenURL(tenant string) string {
	return "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/oauth2/v2.0/token"
}

// Tokens gets and caches the bot's access token for the Bot Connector (the
// OAuth 2 client-credentials grant). It is safe for concurrent use: one
// caller fetches, the others wait for it, and the token is renewed Early
// before it expires.
type Tokens struct {
	URL      string
	ClientID string
	Secret   string
	HTTP     *http.Client     // default: 10 s timeout
	Early    time.Duration    // default 5 min
	Now      func() time.Time // default time.Now

	mu      sync.Mutex
	token   string
	expires time.Time
}

// TokenError is a refusal from the token endpoint, with Entra's error code
// (e.g. "unauthorized_client" for AADSTS700016, an unknown app id) and
// description.
type TokenError struct {
	Status      int
	Code        string
	Description string
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token endpoint: status %d: %s: %s", e.Status, e.Code, e.Description)
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Token returns a valid access token, fetching one when needed.
func (t *Tokens) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	early := t.Early
	if early == 0 {
		early = 5 * time.Minute
	}
	if t.token != "" && t.now().Before(t.expires.Add(-early)) {
		return t.token, nil
	}
	tok, ttl, err := t.fetch(ctx)
	if err != nil {
		return "", err
	}
	t.token, t.expires = tok, t.now().Add(ttl)
	return tok, nil
}

// Invalidate forgets the cached token (after the connector answered 401).
func (t *Tokens) Invalidate() {
	t.mu.Lock()
	t.token = ""
	t.mu.Unlock()
}

func (t *Tokens) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {t.ClientID},
		"client_secret": {t.Secret},
		"scope":         {Scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := t.HTTP
	if c == nil {
		c = defaultHTTP
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("token response: %w", err)
	}
	var r struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Error       string          `json:"error"`
		Description string          `json:"error_description"`
	}
	jerr := json.Unmarshal(body, &r)
	if resp.StatusCode != http.StatusOK || r.Error != "" {
		return "", 0, &TokenError{Status: resp.StatusCode, Code: r.Error, Description: firstLine(r.Description)}
	}
	if jerr != nil {
		return "", 0, fmt.Errorf("token response: %w", jerr)
	}
	if r.AccessToken == "" {
		return "", 0, errors.New("token response has no access_token")
	}
	// expires_in is a number, though some endpoints send a string.
	secs := 0
	if err := json.Unmarshal(r.ExpiresIn, &secs); err != nil {
		var s string
		if json.Unmarshal(r.ExpiresIn, &s) == nil {
			fmt.Sscanf(s, "%d", &secs)
		}
	}
	if secs <= 0 {
		secs = 3600
	}
	return r.AccessToken, time.Duration(secs) * time.Second, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(strings.TrimSuffix(s, "\r"))
}

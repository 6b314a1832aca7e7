package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// DefaultServiceHosts are the Bot Connector hosts bearer tokens may go to:
// Teams' service URLs (public, GCC, GCC High, DoD) and the Bot Framework's.
var DefaultServiceHosts = []string{
	"smba.trafficmanager.net",
	"*.botframework.com",
	"smba.infra.gcc.teams.microsoft.com",
	"smba.infra.gov.teams.microsoft.us",
	"smba.infra.dod.teams.microsoft.us",
}

// Connector calls the Bot Connector REST API (v3) at an activity's service
// URL. Every call has a context and a timeout; the bearer token goes only to
// hosts in Hosts (when Tokens is nil, calls carry no token: the
// unauthenticated loopback mode for local tools).
type Connector struct {
	Tokens *Tokens
	Hosts  []string     // allowed service URL hosts; "*.example.com" matches subdomains
	HTTP   *http.Client // default: 10 s timeout
}

// APIError is a failed connector call: its status, the service's error code
// (e.g. "MessageWritesBlocked", "ConversationBlockedByUser") and Retry-After.
type APIError struct {
	Op         string
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: status %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// HostAllowed reports whether a service URL's host is on the allow-list.
func (c *Connector) HostAllowed(serviceURL string) bool {
	u, err := url.Parse(serviceURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return false
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return false // tokens and links never travel in clear, except to this machine
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range c.Hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// OutActivity is what usher sends: a message with an Adaptive Card or text.
type OutActivity struct {
	Type         string                      `json:"type"`
	ID           string                      `json:"id,omitempty"`
	Text         string                      `json:"text,omitempty"`
	TextFormat   string                      `json:"textFormat,omitempty"`
	Attachments  []schema.Attachment         `json:"attachments,omitempty"`
	ReplyToID    string                      `json:"replyToId,omitempty"`
	From         *schema.ChannelAccount      `json:"from,omitempty"`
	Conversation *schema.ConversationAccount `json:"conversation,omitempty"`
	Summary      string                      `json:"summary,omitempty"`
}

// Member is a conversation member as the connector describes it. Teams
// sends the Entra object id as "aadObjectId", the generic API as "objectId".
type Member struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	AADObjectID       string `json:"aadObjectId"`
	ObjectID          string `json:"objectId"`
	Email             string `json:"email"`
	UserPrincipalName string `json:"userPrincipalName"`
	TenantID          string `json:"tenantId"`
	// UserRole is "user", "guest" (a B2B guest of the tenant) or
	// "anonymous" (a meeting's anonymous participant), per Microsoft's
	// "Get single member details".
	UserRole string `json:"userRole"`
}

// ObjectID is the member's stable Entra object id, whichever field has it.
func (m Member) Object() string {
	if m.AADObjectID != "" {
		return m.AADObjectID
	}
	return m.ObjectID
}

// Send posts an activity to a conversation and returns its new id.
func (c *Connector) Send(ctx context.Context, serviceURL, conversation string, a OutActivity) (string, error) {
	var r struct {
		ID string `json:"id"`
	}
	err := c.do(ctx, "send activity", http.MethodPost, serviceURL, "/v3/conversations/"+url.PathEscape(conversation)+"/activities", a, &r)
	return r.ID, err
}

// Update replaces an activity (a card after a click).
func (c *Connector) Update(ctx context.Context, serviceURL, conversation, activityID string, a OutActivity) error {
	a.ID = activityID
	return c.do(ctx, "update activity", http.MethodPut, serviceURL, "/v3/conversations/"+url.PathEscape(conversation)+"/activities/"+url.PathEscape(activityID), a, nil)
}

// Delete removes an activity.
func (c *Connector) Delete(ctx context.Context, serviceURL, conversation, activityID string) error {
	return c.do(ctx, "delete activity", http.MethodDelete, serviceURL, "/v3/conversations/"+url.PathEscape(conversation)+"/activities/"+url.PathEscape(activityID), nil, nil)
}

// Member looks up one member of a conversation: the user's email/UPN and
// Entra object id.
func (c *Connector) Member(ctx context.Context, serviceURL, conversation, userID string) (Member, error) {
	var m Member
	err := c.do(ctx, "get member", http.MethodGet, serviceURL, "/v3/conversations/"+url.PathEscape(conversation)+"/members/"+url.PathEscape(userID), nil, &m)
	return m, err
}

// CreatePersonal opens (or finds) the 1:1 chat between the bot and a user.
func (c *Connector) CreatePersonal(ctx context.Context, ref Reference) (string, error) {
	body := map[string]any{
		"isGroup":     false,
		"bot":         schema.ChannelAccount{ID: ref.BotID, Name: ref.BotName},
		"members":     []schema.ChannelAccount{{ID: ref.UserID}},
		"tenantId":    ref.Tenant,
		"channelData": map[string]any{"tenant": map[string]string{"id": ref.Tenant}},
	}
	var r struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, "create conversation", http.MethodPost, ref.ServiceURL, "/v3/conversations", body, &r); err != nil {
		return "", err
	}
	if r.ID == "" {
		return "", errors.New("create conversation: no conversation id in the answer")
	}
	return r.ID, nil
}

func (c *Connector) do(ctx context.Context, op, method, serviceURL, path string, in, out any) error {
	if !c.HostAllowed(serviceURL) {
		return &APIError{Op: op, Status: 0, Code: "ServiceURLNotAllowed", Message: "service URL host is not on the allow-list"}
	}
	target := strings.TrimRight(serviceURL, "/") + path
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
		}
		if c.Tokens != nil {
			tok, err := c.Tokens.Token(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		hc := c.HTTP
		if hc == nil {
			hc = defaultHTTP
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && c.Tokens != nil && try == 0 {
			c.Tokens.Invalidate() // the token was revoked or rotated: one fresh try
			continue
		}
		if resp.StatusCode/100 != 2 {
			return apiError(op, resp, data)
		}
		if rerr != nil {
			return fmt.Errorf("%s: %w", op, rerr)
		}
		if out != nil && len(bytes.TrimSpace(data)) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s: decode answer: %w", op, err)
			}
		}
		return nil
	}
}

func apiError(op string, resp *http.Response, data []byte) *APIError {
	e := &APIError{Op: op, Status: resp.StatusCode}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message = body.Error.Code, firstLine(body.Error.Message)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests && e.RetryAfter == 0 {
		e.RetryAfter = time.Second
	}
	return e
}

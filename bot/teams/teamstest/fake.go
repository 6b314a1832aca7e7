// Package teamstest is a local fake of the Bot Framework at its network
// edge, for tests: the OpenID metadata and JWKS (test RSA keys with kid and
// endorsements, rotation, hit counters), an Entra token endpoint (with error
// modes), and a Bot Connector (create conversation, send, update, delete,
// member look-up) that checks the bearer token and can answer 403 and 429.
package teamstest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Member is a user the fake connector knows.
type Member struct {
	ID          string `json:"id"` // 29:...
	Name        string `json:"name"`
	AADObjectID string `json:"aadObjectId"`
	Email       string `json:"email,omitempty"`
	UPN         string `json:"userPrincipalName,omitempty"`
	TenantID    string `json:"tenantId,omitempty"`
	// UserRole is "user", "guest" or "anonymous" in Teams' member look-up
	// ("Get single member details" in Microsoft's bot context docs).
	UserRole string `json:"userRole,omitempty"`
}

// Activity is one activity the bot sent, as the connector stored it.
type Activity struct {
	ID           string
	Conversation string
	Body         map[string]any
	Deleted      bool
	Updates      int
}

// Fault is a canned failure for a conversation's next sends.
type Fault struct {
	Status     int
	Code       string
	RetryAfter int // seconds
	Times      int // how many sends fail; 0 = all
}

type key struct {
	priv         *rsa.PrivateKey
	endorsements []string
	published    bool
}

// Fake is the Bot Framework, served by one httptest server.
type Fake struct {
	conns atomic.Int64 // connections opened to the fake (Stats.Conns)
	Srv   *httptest.Server
	// AppID and Secret are what the token endpoint accepts.
	AppID, Secret, Tenant string
	// Algs is what the metadata advertises.
	Algs []string

	MetadataHits, JWKSHits, TokenHits atomic.Int64

	mu           sync.Mutex
	keys         map[string]*key
	members      map[string]Member // by 29: id
	convs        map[string]string // conversation id -> member id (personal chats)
	acts         []*Activity
	faults       map[string]*Fault // by conversation id
	tokens       map[string]string // access token -> the tenant that issued it ("" for /token)
	tokenTenants []string          // the tenant of each token request, in order
	tokenErr     *tokenError
	tokenTTL     int
	seq          int
	Unauthorized atomic.Int64 // connector calls refused for a bad bearer

	limits     *Limits
	convTenant map[string]string      // conversation id -> its tenant (created ones)
	windows    map[string][]time.Time // limit key -> its calls within the window
	calls      map[string]int         // by operation
	limited    map[string]int         // 429s by operation
	first429   time.Time
	firstEnd   time.Time // when the first 429's Retry-After ended
	after      int       // 429s answered after firstEnd
}

type tokenError struct {
	status            int
	code, description string
}

// New starts a fake with one published key "k1" endorsed for msteams.
func New(t testing.TB) *Fake {
	f := &Fake{AppID: "11111111-2222-3333-4444-555555555555", Secret: "s3cret", Tenant: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
		Algs: []string{"RS256"}, keys: map[string]*key{}, members: map[string]Member{}, convs: map[string]string{},
		faults: map[string]*Fault{}, tokens: map[string]string{}, tokenTTL: 3600,
		convTenant: map[string]string{}, windows: map[string][]time.Time{}, calls: map[string]int{}, limited: map[string]int{}}
	f.AddKey(t, "k1", true, "msteams", "emulator")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /openid", f.metadata)
	mux.HandleFunc("GET /jwks", f.jwks)
	mux.HandleFunc("POST /token", f.token)
	// Entra's per-tenant authority, login.microsoftonline.com/{tenant}/oauth2/v2.0/token.
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", f.token)
	mux.HandleFunc("POST /connector/v3/conversations", f.authed(f.createConversation))
	mux.HandleFunc("POST /connector/v3/conversations/{conv}/activities", f.authed(f.send))
	mux.HandleFunc("POST /connector/v3/conversations/{conv}/activities/{id}", f.authed(f.send))
	mux.HandleFunc("PUT /connector/v3/conversations/{conv}/activities/{id}", f.authed(f.update))
	mux.HandleFunc("DELETE /connector/v3/conversations/{conv}/activities/{id}", f.authed(f.delete))
	mux.HandleFunc("GET /connector/v3/conversations/{conv}/members/{id}", f.authed(f.member))
	f.Srv = httptest.NewUnstartedServer(mux)
	f.Srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.Srv.Start()
	t.Cleanup(f.Srv.Close)
	return f
}

// MetadataURL is the OpenID metadata document's address.
func (f *Fake) MetadataURL() string { return f.Srv.URL + "/openid" }

// TokenURL is the token endpoint's address.
func (f *Fake) TokenURL() string { return f.Srv.URL + "/token" }

// TenantTokenURL is the token endpoint of every tenant, with "{tenant}"
// where the tenant goes (MICROSOFT_TOKEN_URL): the fake then sees which
// tenant's authority usher asks.
func (f *Fake) TenantTokenURL() string { return f.Srv.URL + "/{tenant}/oauth2/v2.0/token" }

// TokenTenants is the tenant of every token request so far, in order ("" for
// requests to TokenURL).
func (f *Fake) TokenTenants() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tokenTenants...)
}

// ServiceURL is the connector's base address (an activity's serviceUrl).
func (f *Fake) ServiceURL() string { return f.Srv.URL + "/connector/" }

// AddKey creates an RSA key; published keys are in the JWKS.
func (f *Fake) AddKey(t testing.TB, kid string, published bool, endorsements ...string) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.keys[kid] = &key{priv: priv, endorsements: endorsements, published: published}
	f.mu.Unlock()
}

// Publish puts a key into the JWKS (a rotation) or takes it out.
func (f *Fake) Publish(kid string, on bool) {
	f.mu.Lock()
	f.keys[kid].published = on
	f.mu.Unlock()
}

// AddMember makes a user known to the connector.
func (f *Fake) AddMember(m Member) {
	f.mu.Lock()
	f.members[m.ID] = m
	f.mu.Unlock()
}

// FailToken makes the token endpoint refuse, e.g. 400 "unauthorized_client"
// "AADSTS700016: Application with identifier ... was not found". Status 0 heals it.
func (f *Fake) FailToken(status int, code, description string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == 0 {
		f.tokenErr = nil
		return
	}
	f.tokenErr = &tokenError{status, code, description}
}

// Fail makes sends to a conversation fail.
func (f *Fake) Fail(conv string, fault Fault) {
	f.mu.Lock()
	f.faults[conv] = &fault
	f.mu.Unlock()
}

// Activities returns what the bot sent to a conversation, oldest first.
func (f *Fake) Activities(conv string) []Activity {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Activity
	for _, a := range f.acts {
		if a.Conversation == conv {
			out = append(out, *a)
		}
	}
	return out
}

// PersonalConversation returns the id of the 1:1 chat created for a member.
func (f *Fake) PersonalConversation(memberID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c, m := range f.convs {
		if m == memberID {
			return c
		}
	}
	return ""
}

// Claims are a token's claims; Sign fills the usual ones.
type Claims = jwt.MapClaims

// Sign signs claims with key kid (RS256).
func (f *Fake) Sign(kid string, claims Claims) string {
	f.mu.Lock()
	k := f.keys[kid]
	f.mu.Unlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		panic(err)
	}
	return s
}

// ValidClaims are the claims the Bot Connector puts in a token for serviceURL.
func (f *Fake) ValidClaims(serviceURL string) Claims {
	now := time.Now()
	return Claims{"iss": "https://api.botframework.com", "aud": f.AppID, "serviceurl": serviceURL,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()}
}

func (f *Fake) metadata(w http.ResponseWriter, r *http.Request) {
	f.MetadataHits.Add(1)
	writeJSON(w, 200, map[string]any{"issuer": "https://api.botframework.com", "jwks_uri": f.Srv.URL + "/jwks",
		"id_token_signing_alg_values_supported": f.Algs, "token_endpoint_auth_methods_supported": []string{"private_key_jwt"}})
}

func (f *Fake) jwks(w http.ResponseWriter, r *http.Request) {
	f.JWKSHits.Add(1)
	f.mu.Lock()
	var keys []any
	for kid, k := range f.keys {
		if !k.published {
			continue
		}
		keys = append(keys, map[string]any{"kty": "RSA", "use": "sig", "kid": kid,
			"n": b64(k.priv.N.Bytes()), "e": b64(big.NewInt(int64(k.priv.E)).Bytes()), "endorsements": k.endorsements})
	}
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"keys": keys})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	f.TokenHits.Add(1)
	r.ParseForm()
	tenant := r.PathValue("tenant")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenTenants = append(f.tokenTenants, tenant)
	if e := f.tokenErr; e != nil {
		writeJSON(w, e.status, map[string]any{"error": e.code, "error_description": e.description})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "https://api.botframework.com/.default" {
		writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_description": "AADSTS900144: bad grant or scope"})
		return
	}
	if r.PostForm.Get("client_id") != f.AppID {
		writeJSON(w, 400, map[string]any{"error": "unauthorized_client", "error_description": "AADSTS700016: Application with identifier '" + r.PostForm.Get("client_id") + "' was not found in the directory."})
		return
	}
	if r.PostForm.Get("client_secret") != f.Secret {
		writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
		return
	}
	f.seq++
	tok := fmt.Sprintf("access-%d", f.seq)
	f.tokens[tok] = tenant
	writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": f.tokenTTL, "access_token": tok})
}

func (f *Fake) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		issuer, known := f.tokens[tok]
		f.mu.Unlock()
		// The Bot Connector takes a single-tenant bot's token from its own
		// tenant only, whichever tenant the conversation is in; one from
		// another tenant's authority gets 401 (microsoft/teams.ts#507,
		// OfficeDev/Microsoft-Teams-Samples#1762).
		valid := ok && known && (issuer == "" || strings.EqualFold(issuer, f.Tenant))
		if !valid {
			f.Unauthorized.Add(1)
			writeJSON(w, 401, map[string]any{"error": map[string]string{"code": "Unauthorized", "message": "bad bearer token"}})
			return
		}
		h(w, r)
	}
}

func (f *Fake) createConversation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Members  []struct{ ID string } `json:"members"`
		TenantID string                `json:"tenantId"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(body.Members) != 1 || body.TenantID == "" {
		writeJSON(w, 400, map[string]any{"error": map[string]string{"code": "BadArgument", "message": "one member and tenantId required"}})
		return
	}
	if f.limit(w, "create", body.TenantID, "new:"+body.Members[0].ID) {
		return
	}
	if _, ok := f.members[body.Members[0].ID]; !ok {
		writeJSON(w, 404, map[string]any{"error": map[string]string{"code": "NotFound", "message": "no such user"}})
		return
	}
	for c, m := range f.convs {
		if m == body.Members[0].ID {
			writeJSON(w, 200, map[string]string{"id": c})
			return
		}
	}
	id := "a:personal-" + url.PathEscape(body.Members[0].ID)
	f.convs[id] = body.Members[0].ID
	f.convTenant[id] = body.TenantID
	writeJSON(w, 201, map[string]string{"id": id})
}

func (f *Fake) send(w http.ResponseWriter, r *http.Request) {
	conv := r.PathValue("conv")
	body := map[string]any{}
	data, _ := io.ReadAll(r.Body)
	json.Unmarshal(data, &body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limit(w, "send", f.tenantOf(conv), "conv:"+conv) {
		return
	}
	if ft := f.faults[conv]; ft != nil {
		if ft.Times > 0 {
			ft.Times--
			if ft.Times == 0 {
				delete(f.faults, conv)
			}
		}
		if ft.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(ft.RetryAfter))
		}
		writeJSON(w, ft.Status, map[string]any{"error": map[string]string{"code": ft.Code, "message": "fake failure"}})
		return
	}
	f.seq++
	a := &Activity{ID: fmt.Sprintf("act-%d", f.seq), Conversation: conv, Body: body}
	f.acts = append(f.acts, a)
	writeJSON(w, 201, map[string]string{"id": a.ID})
}

func (f *Fake) update(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{}
	json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limit(w, "update", f.tenantOf(r.PathValue("conv")), "conv:"+r.PathValue("conv")) {
		return
	}
	for _, a := range f.acts {
		if a.ID == r.PathValue("id") && a.Conversation == r.PathValue("conv") {
			a.Body, a.Updates = body, a.Updates+1
			writeJSON(w, 200, map[string]string{"id": a.ID})
			return
		}
	}
	writeJSON(w, 404, map[string]any{"error": map[string]string{"code": "NotFound", "message": "no such activity"}})
}

func (f *Fake) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.acts {
		if a.ID == r.PathValue("id") {
			a.Deleted = true
		}
	}
	w.WriteHeader(200)
}

func (f *Fake) member(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	m, ok := f.members[r.PathValue("id")]
	f.mu.Unlock()
	if !ok {
		writeJSON(w, 404, map[string]any{"error": map[string]string{"code": "MemberNotFoundInConversation", "message": "no such member"}})
		return
	}
	writeJSON(w, 200, m)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ActivityFrom builds an incoming message activity from a member in their
// personal chat with the bot, in the fake's tenant.
func (f *Fake) ActivityFrom(m Member, conv, text string) map[string]any {
	return f.ActivityIn(f.Tenant, m, conv, text)
}

// InstallationUpdate builds the activity Teams sends when member m adds
// ("add", "add-upgrade") or removes ("remove", "remove-upgrade") the app
// in tenant: in their personal chat conv, or, with team set, in a team's
// channel conv. Its shape is the example of Microsoft's "Conversation events
// in your Teams bot" (Installation update event): from.aadObjectId,
// conversation.tenantId, channelData.tenant.id, channelData.team.name,
// channelData.settings.selectedChannel, action.
func (f *Fake) InstallationUpdate(tenant string, m Member, conv, action, team string) map[string]any {
	a := f.ActivityIn(tenant, m, conv, "")
	a["type"], a["action"] = "installationUpdate", action
	a["id"] = fmt.Sprintf("f:%d", time.Now().UnixNano())
	a["locale"] = "en-US"
	a["entities"] = []any{map[string]any{"type": "clientInfo", "locale": "en-US"}}
	delete(a, "text")
	cd := a["channelData"].(map[string]any)
	cd["source"] = map[string]string{"name": "message"}
	if team != "" {
		a["conversation"] = map[string]any{"id": conv, "isGroup": true, "conversationType": "channel", "tenantId": tenant, "name": "General"}
		cd["team"] = map[string]string{"id": conv, "name": team, "aadGroupId": "da849743-4259-475f-ae7a-4f4b0fb49943"}
		cd["channel"] = map[string]string{"id": conv}
		cd["settings"] = map[string]any{"selectedChannel": map[string]string{"id": conv}}
	}
	return a
}

// ActivityIn builds an incoming message activity from a member in their
// personal chat with the bot, in tenant.
func (f *Fake) ActivityIn(tenant string, m Member, conv, text string) map[string]any {
	return map[string]any{
		"type": "message", "id": fmt.Sprintf("in-%d", time.Now().UnixNano()), "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"serviceUrl": f.ServiceURL(), "channelId": "msteams",
		"from":         map[string]any{"id": m.ID, "name": m.Name, "aadObjectId": m.AADObjectID},
		"conversation": map[string]any{"id": conv, "conversationType": "personal", "tenantId": tenant},
		"recipient":    map[string]any{"id": "28:" + f.AppID, "name": "usher"},
		"text":         text,
		"channelData":  map[string]any{"tenant": map[string]string{"id": tenant}},
	}
}

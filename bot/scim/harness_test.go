package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/scim"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// Everything behind the endpoint is real: the use cases, storage and its
// Lua scripts on a real redis-server, the tokens in the directory, over
// real HTTP. The providers are played by the test, sending the bodies their
// documentation shows (okta_test.go, entra_test.go cite them).

const admin = "boss@example.com"

type env struct {
	t      testing.TB
	rdb    *redis.Client
	rt     *storage.RoundTrips
	fleet  *handlerstest.Fleet
	org    *handlerstest.Org
	tokens *storage.SCIMTokens
	server *scim.Server
	srv    *httptest.Server
	token  string // the "okta" token of org
	clock  *fakeClock

	mu     sync.Mutex
	told   []handlers.Delivery
	others map[string]*handlerstest.Org // more organizations of the deployment (addOrg)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tokenStore adapts storage's tokens to the server's port, as cmd/usher does.
type tokenStore struct{ t *storage.SCIMTokens }

func (s tokenStore) Lookup(ctx context.Context, hash string) (*scim.Credential, error) {
	t, err := s.t.Lookup(ctx, hash)
	if t == nil || err != nil {
		return nil, err
	}
	return &scim.Credential{ID: t.ID, Org: t.Org, Name: t.Name}, nil
}

type option func(*scim.Config)

func newEnv(t testing.TB, opts ...option) *env {
	t.Helper()
	rdb := redistest.Shared(t).Client(t)
	rt := &storage.RoundTrips{}
	rdb.AddHook(rt)
	f := handlerstest.NewFleet(t, rdb)
	o := f.NewOrg(t, "Acme", admin, handlers.Config{})
	e := &env{t: t, rdb: rdb, rt: rt, fleet: f, org: o, tokens: storage.NewSCIMTokens(rdb), clock: &fakeClock{now: time.Now()}}
	cfg := scim.Config{
		Tokens: tokenStore{e.tokens},
		Org: func(_ context.Context, id org.ID) (scim.Org, error) {
			o := o
			if string(id) != o.ID {
				e.mu.Lock()
				o = e.others[string(id)]
				e.mu.Unlock()
				if o == nil {
					return scim.Org{}, fmt.Errorf("no organization %s", id)
				}
			}
			return scim.Org{Service: o.Service, Deliver: func(_ context.Context, ds []handlers.Delivery) error {
				e.mu.Lock()
				e.told = append(e.told, ds...)
				e.mu.Unlock()
				return nil
			}}, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:  e.clock.Now,
		Rate:   1e6, Burst: 1e6,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	var err error
	if e.server, err = scim.New(cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.server.Mount(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.token = e.newToken("okta")
	return e
}

// addOrg adds another organization to the deployment and a token of its own.
func (e *env) addOrg(name, admin string) (*handlerstest.Org, string) {
	e.t.Helper()
	o := e.fleet.NewOrg(e.t, name, admin, handlers.Config{})
	e.mu.Lock()
	if e.others == nil {
		e.others = map[string]*handlerstest.Org{}
	}
	e.others[o.ID] = o
	e.mu.Unlock()
	tok, err := scim.NewToken()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.tokens.Create(context.Background(), storage.SCIMToken{ID: "other", Org: org.ID(o.ID), Name: "entra", Created: time.Now()}, scim.HashToken(tok)); err != nil {
		e.t.Fatal(err)
	}
	return o, tok
}

func (e *env) newToken(name string) string {
	e.t.Helper()
	tok, err := scim.NewToken()
	if err != nil {
		e.t.Fatal(err)
	}
	id := fmt.Sprintf("t%d", time.Now().UnixNano()%1e9)
	if err := e.tokens.Create(context.Background(), storage.SCIMToken{ID: id, Org: org.ID(e.org.ID), Name: name, Created: time.Now()}, scim.HashToken(tok)); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// reply is an HTTP answer with its JSON body.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(method, path string, body any) reply {
	e.t.Helper()
	return e.doAs(e.token, method, path, body)
}

func (e *env) doAs(token, method, path string, body any) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: not JSON (%d): %s", method, path, res.StatusCode, raw)
		}
	}
	return r
}

// want fails unless the reply has status.
func (r reply) want(t testing.TB, status int) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// scimError checks a SCIM error body (RFC 7644 3.12): the schema, the
// status as a string, and scimType when one is expected.
func (r reply) scimError(t testing.TB, status int, scimType string) string {
	t.Helper()
	r.want(t, status)
	schemas, _ := r.body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Fatalf("error schemas %v: %s", r.body["schemas"], r.raw)
	}
	if r.body["status"] != fmt.Sprint(status) {
		t.Fatalf("error status %#v, want the string %q: %s", r.body["status"], fmt.Sprint(status), r.raw)
	}
	if got, _ := r.body["scimType"].(string); got != scimType {
		t.Fatalf("scimType %q, want %q: %s", got, scimType, r.raw)
	}
	d, _ := r.body["detail"].(string)
	if d == "" {
		t.Fatalf("error without a detail: %s", r.raw)
	}
	return d
}

func (r reply) str(key string) string { s, _ := r.body[key].(string); return s }

func (r reply) resources() []map[string]any {
	var out []map[string]any
	list, _ := r.body["Resources"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any))
	}
	return out
}

func (r reply) total() int {
	n, _ := r.body["totalResults"].(float64)
	return int(n)
}

func q(filter string) string { return url.QueryEscape(filter) }

// chat runs a command as someone typing it in chat.
func (e *env) chat(as, text string) handlers.Reply {
	e.t.Helper()
	return e.org.Service.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "shell", Email: as}, Text: text})
}

func (e *env) user(email string) *org.User {
	e.t.Helper()
	snap, err := e.org.Store.Load(context.Background(), org.Query{Users: []string{email}})
	if err != nil {
		e.t.Fatal(err)
	}
	return snap.Users[email]
}

func (e *env) audit(n int) []org.AuditEntry {
	e.t.Helper()
	snap, err := e.org.Store.Load(context.Background(), org.Query{AuditLimit: n})
	if err != nil {
		e.t.Fatal(err)
	}
	return snap.Audit
}

func (e *env) takeTold() []handlers.Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	ds := e.told
	e.told = nil
	return ds
}

// patchGroup PATCHes a group (204, as the providers' documentation shows)
// and reads it back.
func (e *env) patchGroup(t testing.TB, id string, body any) reply {
	t.Helper()
	e.do("PATCH", "/scim/v2/Groups/"+id, body).want(t, 204)
	return e.do("GET", "/scim/v2/Groups/"+id, nil).want(t, 200)
}

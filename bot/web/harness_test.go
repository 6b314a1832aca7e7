package web_test

import (
	"bytes"
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/usher-chat/usher/bot/web"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// The pages are tested with everything real behind them: the handlers, the
// storage and its Lua scripts on a real redis-server, over real HTTP.

// site is one organization served by the web pages.
type site struct {
	t        testing.TB
	rdb      *redis.Client
	org      string
	store    *storage.Store
	sessions *storage.Sessions
	svc      *handlers.Service
	clock    *handlerstest.Clock
	srv      *httptest.Server
	handler  *web.Handler
	logs     *syncBuffer

	mu        sync.Mutex
	delivered []handlers.Delivery
}

const admin = "boss@example.com"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newSite(t testing.TB, tune ...func(*web.Config)) *site {
	t.Helper()
	return newSiteOn(t, redistest.Shared(t).Client(t), tune...)
}

func newSiteOn(t testing.TB, rdb *redis.Client, tune ...func(*web.Config)) *site {
	t.Helper()
	s := &site{t: t, rdb: rdb, logs: &syncBuffer{}}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.srv = httptest.NewUnstartedServer(nil)
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	o := handlerstest.NewOrg(t, rdb, "w", admin, handlers.Config{PublicURL: s.srv.URL, Logger: log})
	s.org, s.store, s.svc, s.clock = o.ID, o.Store, o.Service, o.Clock
	var err error
	if s.sessions, err = storage.NewSessions(rdb, org.ID(s.org)); err != nil {
		t.Fatal(err)
	}
	if err := s.sessions.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	s.ok(admin, "settings name Acme")
	s.ok(admin, "workspace create fraud-models")
	cfg := web.Config{
		Service: s.svc, Sessions: sessionPort{s.sessions}, Limiter: sessionPort{s.sessions},
		Deliver: func(_ context.Context, ds []handlers.Delivery) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.delivered = append(s.delivered, ds...)
			return nil
		},
		Secret: bytes.Repeat([]byte("k"), web.MinSecret), PublicURL: s.srv.URL, Logger: log, Now: s.clock.Now,
	}
	for _, f := range tune {
		f(&cfg)
	}
	if s.handler, err = web.New(cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.handler.Mount(mux)
	s.srv.Config.Handler = mux
	return s
}

// sessionPort adapts storage.Sessions to the web's ports, as cmd/usher does.
type sessionPort struct{ s *storage.Sessions }

func (p sessionPort) Create(ctx context.Context, idHash string, ses web.Session, ttl time.Duration) error {
	return p.s.Create(ctx, idHash, storage.Session(ses), ttl)
}

func (p sessionPort) Lookup(ctx context.Context, idHash string) (*web.Session, error) {
	ses, err := p.s.Lookup(ctx, idHash)
	if ses == nil || err != nil {
		return nil, err
	}
	out := web.Session(*ses)
	return &out, nil
}

func (p sessionPort) End(ctx context.Context, idHash, email string) error {
	return p.s.End(ctx, idHash, email)
}

func (p sessionPort) Attempt(ctx context.Context, now time.Time, limits []web.Limit) (time.Duration, error) {
	ls := make([]storage.Limit, len(limits))
	for i, l := range limits {
		ls[i] = storage.Limit(l)
	}
	return p.s.Attempt(ctx, now, ls)
}

func (p sessionPort) Forget(ctx context.Context, key string) error { return p.s.Forget(ctx, key) }

// run runs a chat command as email.
func (s *site) run(email, text string) handlers.Reply {
	return s.svc.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-" + email, Email: email}, Text: text})
}

func (s *site) ok(email, text string) handlers.Reply {
	s.t.Helper()
	r := s.run(email, text)
	if r.Code != "" {
		s.t.Fatalf("%s: %q refused: %s %s", email, text, r.Code, r.Text)
	}
	return r
}

var linkPattern = regexp.MustCompile(`/invitations/([A-Za-z0-9_-]{43})`)

// invite invites email (by the admin) and returns the invitation id and its
// link's path.
func (s *site) invite(email string, flags ...string) (id, path string) {
	s.t.Helper()
	r := s.ok(admin, "invite "+email+" "+strings.Join(flags, " "))
	for _, d := range r.Deliveries {
		if d.Kind == handlers.DeliverInvitation && d.To == email {
			m := linkPattern.FindString(d.Message.Footer)
			if m == "" {
				s.t.Fatalf("no link in %q", d.Message.Footer)
			}
			return d.InvitationID, m
		}
	}
	s.t.Fatalf("invite %s: nothing delivered", email)
	return "", ""
}

// resetPassword resets email's password as the admin and returns the
// temporary password from the private delivery.
func (s *site) resetPassword(email string) string {
	s.t.Helper()
	r := s.ok(admin, "reset-password "+email+" --confirm")
	for _, d := range r.Deliveries {
		if d.Kind == handlers.DeliverPassword && d.To == email {
			m := regexp.MustCompile(`(?m)^([A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){3})$`).FindStringSubmatch(d.Message.Text)
			if m == nil {
				s.t.Fatalf("no password in %q", d.Message.Text)
			}
			return m[1]
		}
	}
	s.t.Fatalf("reset-password %s: nothing delivered", email)
	return ""
}

func (s *site) user(email string) *org.User {
	s.t.Helper()
	snap, err := s.store.Load(context.Background(), org.Query{Users: []string{email}})
	if err != nil {
		s.t.Fatal(err)
	}
	return snap.Users[email]
}

func (s *site) invitation(id string) *org.Invitation {
	s.t.Helper()
	snap, err := s.store.Load(context.Background(), org.Query{Invitation: id})
	if err != nil {
		s.t.Fatal(err)
	}
	return snap.Invitation
}

// audited reports whether the audit log has action on target.
func (s *site) audited(action, target string) bool {
	s.t.Helper()
	snap, err := s.store.Load(context.Background(), org.Query{AuditLimit: 100})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range snap.Audit {
		if e.Action == action && e.Target == target {
			return true
		}
	}
	return false
}

// deliveredTo returns what the pages handed to chat for email.
func (s *site) deliveredTo(email string) []handlers.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []handlers.Delivery
	for _, d := range s.delivered {
		if d.To == email {
			out = append(out, d)
		}
	}
	return out
}

// key names one of the org's Redis keys.
func (s *site) key(rest string) string { return "usher:{" + s.org + "}:" + rest }

// browser is one person's browser: its own cookies, no redirects followed
// unless asked.
type browser struct {
	t    testing.TB
	s    *site
	c    *http.Client
	last *page
	// header is sent with every request (X-Forwarded-For, to come from
	// another address through a trusted proxy).
	header http.Header
}

type page struct {
	status int
	header http.Header
	body   string
	url    string
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	for k, vs := range b.header {
		req.Header[k] = vs
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = &page{status: resp.StatusCode, header: resp.Header, body: string(body), url: req.URL.Path}
	return b.last
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.s.srv.URL+path, nil)
	return b.do(req)
}

// post submits a form; csrf, when not set in form, is taken from the last
// page this browser saw (as a real form would carry it).
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, set := form["csrf"]; !set && b.last != nil {
		form.Set("csrf", csrfOf(b.last.body))
	}
	req, _ := http.NewRequest(http.MethodPost, b.s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(body string) string {
	m := csrfPattern.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// follow GETs where the last response redirected to.
func (b *browser) follow() *page {
	b.t.Helper()
	loc := b.last.header.Get("Location")
	if loc == "" {
		b.t.Fatalf("%s answered %d without a redirect", b.last.url, b.last.status)
	}
	return b.get(loc)
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.s.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn signs in and expects to land on want.
func (b *browser) signIn(email, password, want string) {
	b.t.Helper()
	b.get("/login")
	p := b.post("/login", url.Values{"email": {email}, "password": {password}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != want {
		b.t.Fatalf("sign in as %s: %d to %q, want 303 to %s\n%s", email, p.status, p.header.Get("Location"), want, text(p.body))
	}
}

// join invites email and accepts on the web with password.
func (s *site) join(b *browser, email, name, password string, flags ...string) {
	s.t.Helper()
	_, link := s.invite(email, flags...)
	b.get(link)
	p := b.post(link+"/accept", url.Values{"name": {name}, "password": {password}, "confirm": {password}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "Welcome to Acme") {
		s.t.Fatalf("accept as %s: %d\n%s", email, p.status, text(p.body))
	}
}

var tags = regexp.MustCompile(`(?s)<[^>]*>`)

// text is a page's visible text, squeezed, for messages and assertions.
func text(body string) string {
	return strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(body, " "))), " ")
}

func (p *page) has(t *testing.T, status int, texts ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d\n%s", p.url, p.status, status, text(p.body))
	}
	for _, s := range texts {
		if !strings.Contains(text(p.body), s) {
			t.Fatalf("%s: page lacks %q:\n%s", p.url, s, text(p.body))
		}
	}
}

func newJar() (http.CookieJar, error) { return cookiejar.New(nil) }

func httptestRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}

// serve runs one request through the site's handler without a network, so
// the request can claim any host.
func serve(s *site, req *http.Request) *page {
	rec := httptest.NewRecorder()
	s.srv.Config.Handler.ServeHTTP(rec, req)
	return &page{status: rec.Code, header: rec.Header(), body: rec.Body.String(), url: req.URL.Path}
}

func redistestStart(t *testing.T) *redistest.Server { return redistest.Start(t) }

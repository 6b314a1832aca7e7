package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/usher-chat/usher/bot/web"
	"github.com/usher-chat/usher/handlers"
	"github.com/usher-chat/usher/handlers/handlerstest"
	"github.com/usher-chat/usher/handlers/org"
	"github.com/usher-chat/usher/storage"
	"github.com/usher-chat/usher/storage/redistest"
)

// One person in several organizations on the web (issue 13, item 4): the
// pages are mounted with one organization's Service, the deployment's
// default, as `usher serve` mounts them.

// fleetSites are three organizations of one deployment; the web pages are
// served with the first one's Service and sessions.
type fleetSites struct {
	fleet   *handlerstest.Fleet
	web     *site
	a, b, c *handlerstest.Org
}

const (
	bossA = "boss-a@example.com"
	bossB = "boss-b@example.com"
	bossC = "boss-c@example.com"
)

func newFleetSites(t *testing.T) *fleetSites {
	t.Helper()
	rdb := redistest.Shared(t).Client(t)
	s := &site{t: t, rdb: rdb, logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.srv = httptest.NewUnstartedServer(nil)
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	f := handlerstest.NewFleet(t, rdb)
	cfg := handlers.Config{PublicURL: s.srv.URL, Logger: log}
	fs := &fleetSites{fleet: f, web: s, a: f.NewOrg(t, "Acme", bossA, cfg), b: f.NewOrg(t, "Beta", bossB, cfg), c: f.NewOrg(t, "Gamma", bossC, cfg)}
	s.org, s.store, s.svc, s.clock = fs.a.ID, fs.a.Store, fs.a.Service, fs.a.Clock
	// A sign-in is the person's, for every organization: the deployment's
	// sessions, as `usher serve` mounts them.
	var err error
	s.sessions = storage.NewPersonSessions(rdb)
	if err := s.sessions.LoadScripts(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.handler, err = web.New(web.Config{
		Service: s.svc, Sessions: sessionPort{s.sessions}, Limiter: sessionPort{s.sessions},
		Deliver: func(_ context.Context, ds []handlers.Delivery) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.delivered = append(s.delivered, ds...)
			return nil
		},
		Secret: bytes.Repeat([]byte("k"), web.MinSecret), PublicURL: s.srv.URL, Logger: log, Now: s.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.handler.Mount(mux)
	s.srv.Config.Handler = mux
	return fs
}

var taggedLinkPath = regexp.MustCompile(`/invitations/[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}`)

// inviteIn invites email to o as its admin and returns the link's path.
func inviteIn(t *testing.T, o *handlerstest.Org, by, email string, flags ...string) (id, path string) {
	t.Helper()
	r := o.Service.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-" + by, Email: by},
		Text: "invite " + email + " " + strings.Join(flags, " ")})
	for _, d := range r.Deliveries {
		if d.Kind == handlers.DeliverInvitation && d.To == email {
			if m := taggedLinkPath.FindString(d.Message.Footer); m != "" {
				return d.InvitationID, m
			}
		}
	}
	t.Fatalf("invite %s in %s: %s %s", email, o.ID, r.Code, r.Text)
	return "", ""
}

func TestAccountAcrossOrganizations(t *testing.T) {
	fs := newFleetSites(t)
	ann := "ann-" + fs.a.ID + "@example.com"
	b := fs.web.browser()
	// ann joins A (the pages' organization) on the web as an admin, with a password.
	_, link := inviteIn(t, fs.a, bossA, ann, "--role", "admin")
	b.get(link)
	b.post(link+"/accept", url.Values{"name": {"Ann"}, "password": {"ann's long password"}, "confirm": {"ann's long password"}}).
		has(t, http.StatusOK, "Welcome to Acme")
	// B's link opens on the same pages, with B's name, and C's too.
	_, linkB := inviteIn(t, fs.b, bossB, ann, "--role", "viewer")
	inviteIn(t, fs.c, bossC, ann)
	b.get(linkB).has(t, http.StatusOK, "Beta")
	// A link whose tag routes nowhere is the neutral page.
	bad := "/invitations/AAAAAAAAAAAA." + linkB[len(linkB)-43:]
	b.get(bad).has(t, http.StatusNotFound, "This invitation link is no longer valid")

	b.signIn(ann, "ann's long password", "/account")
	p := b.get("/account")
	p.has(t, http.StatusOK, "Your organizations", "Acme : admin", "invited you to Beta as viewer", "invited you to Gamma as member")
	// Accept B's invitation from the account page: it is answered in B.
	accept := regexp.MustCompile(`action="(/account/invitations/[a-z0-9]+/accept\?org=` + fs.b.ID + `)"`).FindStringSubmatch(p.body)
	if accept == nil {
		t.Fatalf("no accept form for B's invitation:\n%s", p.body)
	}
	r := b.post(strings.ReplaceAll(accept[1], "&amp;", "&"), nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("accept B from the account page: %d %s", r.status, text(r.body))
	}
	if ds := fs.fleet.Taken(fs.b.ID); len(ds) != 1 || ds[0].To != bossB {
		t.Fatalf("B's chat was handed %+v", ds)
	}
	// Decline C's through its confirmation page.
	p = b.get("/account")
	p.has(t, http.StatusOK, "Beta : viewer", "invited you to Gamma")
	decline := regexp.MustCompile(`href="(/account/invitations/[a-z0-9]+/decline\?org=` + fs.c.ID + `)"`).FindStringSubmatch(p.body)
	if decline == nil {
		t.Fatalf("no decline link for C's invitation:\n%s", p.body)
	}
	b.get(decline[1]).has(t, http.StatusOK, "You won't join Gamma")
	if r := b.post(decline[1], nil); r.status != http.StatusSeeOther {
		t.Fatalf("decline C: %d %s", r.status, text(r.body))
	}
	p = b.get("/account")
	p.has(t, http.StatusOK, "Acme : admin", "Beta : viewer", "You have no open invitations.")
}

// A person who belongs only to B signs in on pages mounted with A's
// Service, with the password they chose accepting B's link; deactivated in
// B (their only organization), they are signed out at once.
func TestSignInForAnotherOrganization(t *testing.T) {
	fs := newFleetSites(t)
	bo := "bo-" + fs.a.ID + "@example.com"
	b := fs.web.browser()
	_, link := inviteIn(t, fs.b, bossB, bo)
	b.get(link).has(t, http.StatusOK, "Beta")
	b.post(link+"/accept", url.Values{"name": {"Bo"}, "password": {"bo's long password"}, "confirm": {"bo's long password"}}).
		has(t, http.StatusOK, "Welcome to Beta")
	b.signIn(bo, "bo's long password", "/account")
	b.get("/account").has(t, http.StatusOK, "Beta : member")
	// Invited to A later and accepting on the web with another password:
	// the first one stays the one.
	_, linkA := inviteIn(t, fs.a, bossA, bo)
	other := fs.web.browser()
	other.get(linkA)
	other.post(linkA+"/accept", url.Values{"name": {"Bo"}, "password": {"another long password"}, "confirm": {"another long password"}}).
		has(t, http.StatusOK, "already have an usher password")
	b.get("/account").has(t, http.StatusOK, "Acme : member", "Beta : member")
	// Deactivated in A: the session holds, and the page shows it.
	fs.web.svc.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-a", Email: bossA}, Text: "deactivate " + bo + " --confirm"})
	b.get("/account").has(t, http.StatusOK, "Acme : member, deactivated", "Beta : member")
	// Deactivated in B too: signed out.
	fs.b.Service.Handle(context.Background(), handlers.Request{Actor: org.Identity{Platform: "test", UserID: "U-b", Email: bossB}, Text: "deactivate " + bo + " --confirm"})
	if p := b.get("/account"); p.status != http.StatusSeeOther {
		t.Fatalf("account when deactivated everywhere: %d %s", p.status, text(p.body))
	}
	p := b.post("/login", url.Values{"email": {bo}, "password": {"bo's long password"}, "csrf": {csrfOf(b.get("/login").body)}})
	p.has(t, http.StatusUnauthorized, "don't match")
}
